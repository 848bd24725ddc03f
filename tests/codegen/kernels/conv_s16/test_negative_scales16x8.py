"""Negative and zero filter scales in the 16x8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV
(and the int8 TRANSPOSE_CONV, which shares their multiplier set-up), as TFLite Micro accepts them.

TFLM's PopulateConvolutionQuantizationParams quantizes a negative effective scale to a negative multiplier (a
zero scale to 0); its int64 MultiplyByQuantizedMultiplier reduces it to 16 bits with an arithmetic shift,
(m + 2^15) >> 16, which rounds ties toward +infinity: a negated multiplier is not always the negated reduced one.
Checked on generated single-op models (reference == TFLM [== tflite-runtime BUILTIN_REF], portable C and the DSP
variant on the host == reference):
- arbitrary signs per channel (and per tensor) drawn over the four families;
- channels flipped (scale, weights, bias, bias scale negated): TFLM's output is unchanged wherever the reduced
  multiplier mirrors, and so is ours;
- an edge layer with the multipliers -2^31 and a -(2^30 + 2^15) tie, where mirrored rounding would differ;
- refusals: NaN / infinite scales, and a negative per-tensor FULLY_CONNECTED scale (TFLM refuses it too).
Firmware with the real DSP instructions: tests/firmware/ops/test_firmware_s16_dsp.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import parse_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor
from codegen.kernels import REFERENCES, SPECIALIZERS
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint_s16 import reduced_multiplier
from codegen.passes.lowering import lower_graph
from codegen.targets.core import HOST
from tests.codegen.kernels.conv_s16.test_kernel_conv16x8 import depthwise16_cases, transpose_cases
from tests.codegen.kernels.conv_s16.test_kernel_conv16x8_dsp import conv_cases, fc_cases
from tests.support.op_check import check_single_op
from tests.support.op_check import run_tflm as tflm_output
from tests.support.single_op import lower

_SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


def _f32(x: float) -> float:
    return float(np.float32(x))


def _parts(graph: Graph) -> tuple[Tensor, Tensor, Tensor | None, int]:
    """(input, filter, bias or None, channel axis of the filter) of the single weighted op."""
    op = graph.operators[0]
    tconv = op.op_type == "TRANSPOSE_CONV"
    x = graph.tensor(op.inputs[2 if tconv else 0])
    w = graph.tensor(op.inputs[1])
    b_pos = 3 if tconv else 2
    b = graph.tensor(op.inputs[b_pos]) if len(op.inputs) > b_pos and op.inputs[b_pos] >= 0 else None
    return x, w, b, 3 if op.op_type == "DEPTHWISE_CONV_2D" else 0


def with_signs(graph: Graph, signs: list[float], flip_data: bool = False) -> Graph:
    """A copy whose filter scales (and bias scales) are multiplied by signs (one per scale: -1, 0 or 1); with
    flip_data the negated channels' weights and biases are negated too (the same real layer)."""
    graph = copy.deepcopy(graph)
    x, w, b, axis = _parts(graph)
    sign = np.asarray(signs, dtype=np.float64)
    new = tuple(_f32(s * g) for s, g in zip(w.quant.scale, sign, strict=True))
    w.quant = Quantization(new, (0,) * len(new), w.quant.axis)
    if flip_data:
        per = np.where(sign < 0, -1, 1) if len(sign) > 1 else np.full(w.shape[axis], -1 if sign[0] < 0 else 1)
        shape = [1] * len(w.shape)
        shape[axis] = -1
        w.data = (w.data.astype(np.int64) * per.reshape(shape)).astype(np.int8)
        if b is not None:
            b.data = (b.data.astype(np.int64) * per).astype(b.data.dtype)
    if b is not None:
        b.quant = Quantization(tuple(_f32(x.scale * s) for s in new), (0,) * len(new), 0)
    return graph


def _sign_lists(n: int, allow_negative: bool = True) -> st.SearchStrategy[list[float]]:
    choices = [1.0, -1.0, -1.0, 0.0] if allow_negative else [1.0, 0.0]
    return st.lists(st.sampled_from(choices), min_size=n, max_size=n)


def _oracles(graph: Graph) -> tuple[str, ...]:
    """TFLM always; tflite-runtime 2.14 too where it agrees with TFLM (an int64 bias, or int8)."""
    x, _, b, _ = _parts(graph)
    return ("tflm", "tflite") if x.dtype == "int8" or (b is not None and b.dtype == "int64") else ("tflm",)


def check(host_runtime, graph: Graph, x: np.ndarray) -> tuple[KernelCall, KernelCall | None, np.ndarray]:
    """reference == TFLM (and BUILTIN_REF), portable C == reference; the DSP variant, where it is taken, too."""
    want = check_single_op(host_runtime, graph, [x], _oracles(graph))
    (call,) = lower(graph)
    fast = SPECIALIZERS[call.kernel](call, graph, HOST) if call.kernel in SPECIALIZERS else None
    if fast is not None:
        args = [x] + [c.data for c in fast.consts]
        got = np.asarray(REFERENCES[fast.kernel](fast.params, *args)).reshape(want.shape)
        np.testing.assert_array_equal(got, want, err_msg=f"{fast.kernel} reference")
        got = host_runtime.run(fast.kernel, fast.params, args, want.shape, NUMPY_DTYPES[str(want.dtype)], 0)
        np.testing.assert_array_equal(got, want, err_msg=f"{fast.kernel} host C")
    return call, fast, want


def _negative_multipliers(call: KernelCall) -> bool:
    return bool((call.consts[2].data < 0).any())


# ---------------------------------------------------------------------------------------------------------
# Arbitrary signs


@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW)
@given(case=conv_cases(), data=st.data())
def test_conv2d_16x8_negative_and_zero_scales_match_tflm(host_runtime, case, data):
    graph, x = case
    graph = with_signs(graph, data.draw(_sign_lists(len(_parts(graph)[1].quant.scale))))
    call, fast, _ = check(host_runtime, graph, x)
    assert fast is not None and fast.kernel == f"{call.kernel}_dsp"


@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW)
@given(case=depthwise16_cases(), data=st.data())
def test_depthwise_16x8_negative_and_zero_scales_match_tflm(host_runtime, case, data):
    graph, x = case
    check(host_runtime, with_signs(graph, data.draw(_sign_lists(len(_parts(graph)[1].quant.scale)))), x)


@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW)
@given(case=fc_cases(), data=st.data())
def test_fully_connected_16x8_negative_and_zero_scales_match_tflm(host_runtime, case, data):
    graph, x = case
    scales = _parts(graph)[1].quant.scale
    # Per tensor TFLM refuses a negative scale (test_negative_per_tensor_fully_connected_is_refused_like_tflm).
    graph = with_signs(graph, data.draw(_sign_lists(len(scales), allow_negative=len(scales) > 1)))
    call, fast, _ = check(host_runtime, graph, x)
    assert fast is not None and fast.kernel == f"{call.kernel}_dsp"


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@settings(max_examples=20, deadline=None, suppress_health_check=_SLOW)
@given(data=st.data())
def test_transpose_conv_negative_and_zero_scales_match_tflm(host_runtime, dtype, data):
    graph, x = data.draw(transpose_cases(dtype))
    graph = with_signs(graph, data.draw(_sign_lists(len(_parts(graph)[1].quant.scale))))
    _, fast, _ = check(host_runtime, graph, x)
    assert (fast is not None) == (x.shape[3] >= 4)


# ---------------------------------------------------------------------------------------------------------
# Flipped channels: the same real layer, the same output


def _mirrors(before: KernelCall, after: KernelCall) -> np.ndarray:
    """Channels whose flipped multiplier is exactly the negated one and, on the int64 path, whose 16-bit reduced
    multiplier is the negated one too (not a (m + 2^15) >> 16 tie, not past the 0x7FFF cap)."""
    m0, s0 = before.consts[2].data.astype(np.int64), before.consts[3].data
    m1, s1 = after.consts[2].data.astype(np.int64), after.consts[3].data
    same = (np.abs(m1) == np.abs(m0)) & (s1 == s0)
    if "b32" not in before.kernel and before.kernel != "transpose_conv_s8":
        r0 = np.array([reduced_multiplier(m) for m in m0])
        r1 = np.array([reduced_multiplier(m) for m in m1])
        same &= np.abs(r1) == np.abs(r0)
    return same


@st.composite
def _any_case(draw):
    kind = draw(st.sampled_from(("conv", "dw", "fc", "tconv16", "tconv8")))
    strategy = {"conv": conv_cases(), "dw": depthwise16_cases(), "fc": fc_cases(),
                "tconv16": transpose_cases("int16"), "tconv8": transpose_cases("int8")}[kind]
    return draw(strategy)


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW)
@given(case=_any_case(), data=st.data())
def test_flipping_channels_leaves_the_output_unchanged(host_runtime, case, data):
    graph, x = case
    w = _parts(graph)[1]
    n = len(w.quant.scale)
    assume(n > 1 or graph.operators[0].op_type != "FULLY_CONNECTED")  # TFLM refuses it per tensor
    signs = data.draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n, max_size=n).filter(lambda s: -1.0 in s))
    flipped = with_signs(graph, signs, flip_data=True)
    (before,) = lower(graph)
    after, _, got = check(host_runtime, flipped, x)
    assert _negative_multipliers(after)
    keep = _mirrors(before, after)
    assert keep.size == got.shape[-1]
    want = tflm_output(graph, [x]).reshape(got.shape)
    np.testing.assert_array_equal(got[..., keep], want[..., keep])


# ---------------------------------------------------------------------------------------------------------
# The edges of the 16-bit reduction


def _edge_graph() -> Graph:
    """A 1x1 16x8 CONV_2D (4 -> 6 channels, int64 bias), input scale 1 + 2^-23 and output scale 1, whose filter
    scales give the multipliers -2^31 (shift -13; the product -(1 - 2^-46) * 2^-13 rounds to it),
    -(2^30 + 2^15) (shift -12: TFLM's floor reduces it to -2^14, a rounding mirrored from the positive one to
    -2^14 - 1), 0, a positive one past the 0x7FFF cap and two ordinary negative ones."""
    scales = (-(1.0 - 2.0**-23) * 2.0**-13, -(2**23 + 255) / 2**24 * 2.0**-12, 0.0, (1.0 - 2.0**-20) * 2.0**-13,
              -0.37 * 2.0**-12, -0.61 * 2.0**-13)
    in_scale = _f32(1.0 + 2.0**-23)
    rng = np.random.default_rng(9)
    w = rng.integers(-127, 128, size=(6, 1, 1, 4)).astype(np.int8)
    bias = rng.integers(-(2**26), 2**26, size=6).astype(np.int64)
    w_scales = tuple(_f32(s) for s in scales)
    b_scales = tuple(_f32(in_scale * s) for s in w_scales)
    tensors = [Tensor(0, "x", (1, 5, 7, 4), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", Quantization(w_scales, (0,) * 6, 0), w),
               Tensor(2, "b", (6,), "int64", Quantization(b_scales, (0,) * 6, 0), bias),
               Tensor(3, "y", (1, 5, 7, 6), "int16", Quantization((1.0,), (0,)))]
    op = Operator(0, "CONV_2D", (0, 1, 2), (3,), {"padding": "VALID", "stride_h": 1, "stride_w": 1,
                                                    "dilation_h": 1, "dilation_w": 1, "activation": "NONE"})
    return Graph(tensors, [op], (0,), (3,), name="edge16x8")


def test_minus_two_pow_31_and_reduction_ties_match_tflm(host_runtime):
    graph = _edge_graph()
    (call,) = lower(graph)
    mult, shift = call.consts[2].data, call.consts[3].data
    assert mult[0] == -(2**31) and mult[1] == -(2**30 + 2**15) and mult[2] == 0 and mult[3] >= 0x7FFF0000
    assert (mult[4:] < 0).all() and shift[:2].tolist() == [-13, -12]
    assert reduced_multiplier(mult[0]) == -(2**15) and reduced_multiplier(mult[1]) == -(2**14)
    # the written model reads back and lowers to the same multipliers (the reader accepts the signs)
    (read,) = lower_graph(parse_tflite(write_tflite(graph), "edge16x8"))
    np.testing.assert_array_equal(read.consts[2].data, mult)
    x = np.random.default_rng(10).integers(-32768, 32768, size=(1, 5, 7, 4)).astype(np.int16)
    _, fast, got = check(host_runtime, graph, x)
    assert fast is not None and fast.kernel == "conv2d_s16_dsp"
    assert (got[..., 2] == 0).all()
    # The test tells floor from a sign-mirrored rounding of the tie: the latter changes channel 1.
    acc = (x.reshape(-1, 4).astype(np.int64) @ call.consts[0].data.reshape(6, 4)[1].astype(np.int64)
           + call.consts[1].data[1])
    mirrored = np.clip((acc * -(2**14 + 1) + (1 << 26)) >> 27, -32768, 32767)
    assert (mirrored != got[..., 1].reshape(-1)).any()


# ---------------------------------------------------------------------------------------------------------
# Refusals


def _fc_graph(scales: tuple[float, ...]) -> Graph:
    w = np.ones((3, 8), np.int8)
    tensors = [Tensor(0, "x", (1, 8), "int16", Quantization((0.001,), (0,))),
               Tensor(1, "w", w.shape, "int8", Quantization(scales, (0,) * len(scales), 0), w),
               Tensor(2, "y", (1, 3), "int16", Quantization((1e-5,), (0,)))]
    op = Operator(0, "FULLY_CONNECTED", (0, 1), (2,), {"activation": "NONE", "weights_format": 0,
                                                       "keep_num_dims": False})
    return Graph(tensors, [op], (0,), (2,), name="fc16")


def test_negative_per_tensor_fully_connected_is_refused_like_tflm(host_runtime):
    x = np.arange(8, dtype=np.int16).reshape(1, 8)
    with pytest.raises(RuntimeError):  # TFLM: input_product_scale >= 0 was not true
        tflm_output(_fc_graph((-0.01,)), [x])
    with pytest.raises(Unsupported, match="negative per-tensor scale"):
        lower(_fc_graph((-0.01,)))
    # per channel, the same negative scale is accepted by both
    got = check(host_runtime, _fc_graph((-0.01, 0.0, 0.01)), x)[2]
    assert got.tolist() == [[-28, 0, 28]]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_scales_are_refused(bad):
    graph = _edge_graph()
    graph.tensor(1).quant = Quantization((0.5, bad, 0.25, -0.5, 0.1, 0.1), (0,) * 6, 0)
    with pytest.raises(Unsupported, match="in channel 1 \\(must be finite\\)"):
        lower(graph)
    with pytest.raises(Unsupported, match="must be finite"):
        lower(_fc_graph((0.01, bad, 0.01)))
