"""Fast CONV_2D (DSP extension): the specialized call is bit-exact with the portable conv2d_s8.

Three levels: the NumPy reference of the fast kernel (which computes from the re-laid-out constants) equals
the portable reference (TFLite-exact, checked against TFLite Micro in test_kernel_conv2d.py); the C kernel,
run on the host through the portable intrinsic emulation, equals both; and firmware with the fast kernel
(inline assembly, the real DSP instructions) run in QEMU equals the reference executor.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv import conv2d, conv2d_dsp
from codegen.kernels.conv.conv2d import Conv2dParams
from codegen.kernels.conv.conv2d_dsp import Conv2dDspParams, specialize_conv2d
from codegen.kernels.fixedpoint import activation_range_s8, quantize_multiplier
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import list_boards, load_board
from codegen.targets.core import HOST, PORTABLE
from tests.support.fast_firmware import build_with_fast_kernels
from tests.support.model_factory import (
    GraphBuilder,
    _conv2d,
    _depthwise,
    _int8_input,
    conv2d_graphs,
    per_tensor,
    random_inputs,
)
from tools.build import EMULATED_DIR
from tools.host_model import HostModel
from tools.link.emulator import Emulator

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# ---------------------------------------------------------------------------------------------------------
# Random portable calls


def portable_call(
    rng: np.random.Generator,
    in_hw: tuple[int, int],
    in_c: int,
    out_c: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: str,
    in_zp: int,
    out_zp: int,
    scale_shift: float,
    activation: str,
    w_max: int = 127,
    bias_max: int | None = None,
) -> KernelCall:
    """A conv2d_s8 call as the lowering makes it, with weights, bias and multipliers typical of a trained layer."""
    (in_h, in_w), (kh, kw), (sh, sw), (dh, dw) = in_hw, kernel, stride, dilation
    out_h = conv2d.compute_out_size(padding, in_h, kh, sh, dh)
    out_w = conv2d.compute_out_size(padding, in_w, kw, sw, dw)
    taps = kh * kw * in_c
    w = rng.integers(-w_max, w_max + 1, (out_c, kh, kw, in_c)).astype(np.int8)
    typical = math.sqrt(taps) * 74.0 * max(w_max / 2.0, 0.5)  # |x - zp| ~ 74 for uniform int8 inputs
    if bias_max is None:
        bias_max = int(typical * 2) + 1
    bias = rng.integers(-bias_max, bias_max + 1, out_c).astype(np.int32)
    mult = np.zeros(out_c, np.int32)
    shift = np.zeros(out_c, np.int32)
    for c in range(out_c):
        # Outputs spread over roughly +-40 levels, moved by 2^scale_shift (saturating or fine-grained).
        m, s = quantize_multiplier(40.0 / typical * 2.0 ** (scale_shift + rng.uniform(-1, 1)))
        mult[c], shift[c] = m, s
    act_min, act_max = activation_range_s8(activation, 0.05, out_zp)
    params = Conv2dParams(
        in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_h=conv2d.compute_padding(in_h, kh, sh, dh, out_h), pad_w=conv2d.compute_padding(in_w, kw, sw, dw, out_w),
        input_offset=-in_zp, output_offset=out_zp, act_min=act_min, act_max=act_max,
    )
    consts = (ConstArray("filter", w), ConstArray("bias", bias), ConstArray("mult", mult), ConstArray("shift", shift))
    macs = out_h * out_w * out_c * taps
    return KernelCall("conv2d_s8", params, (0,), consts, (1,), 0, macs=macs)


def patch_window(call: KernelCall, data) -> KernelCall:
    """The call restricted to a random block of its output rows and columns, reading the same input buffer: how
    patch-based execution runs a layer on a window (the padding becomes negative once the window starts inside)."""
    p = call.params
    y0 = data.draw(st.integers(0, p.out_h - 1))
    y1 = data.draw(st.integers(y0 + 1, p.out_h))
    x0 = data.draw(st.integers(0, p.out_w - 1))
    x1 = data.draw(st.integers(x0 + 1, p.out_w))
    params = dataclasses.replace(p, out_h=y1 - y0, out_w=x1 - x0, pad_h=p.pad_h - y0 * p.stride_h,
                                 pad_w=p.pad_w - x0 * p.stride_w)
    macs = params.out_h * params.out_w * params.out_c * params.kernel_h * params.kernel_w * params.in_c
    return dataclasses.replace(call, params=params, macs=macs)


@st.composite
def conv_cases(draw) -> tuple[KernelCall, np.ndarray]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    in_hw = (draw(st.integers(1, 11)), draw(st.integers(1, 11)))
    dilation = (draw(st.sampled_from((1, 1, 2))), draw(st.sampled_from((1, 1, 2))))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    if padding == "VALID":  # keep at least one output row and column
        kernel = tuple(min(k, (n - 1) // d + 1) for k, n, d in zip(kernel, in_hw, dilation, strict=True))
    call = portable_call(
        rng, in_hw, draw(st.integers(1, 20)), draw(st.integers(1, 12)), kernel,
        (draw(st.integers(1, 3)), draw(st.integers(1, 3))), dilation, padding,
        in_zp=draw(st.one_of(st.integers(-128, 127), st.sampled_from((-128, 0, 127)))),
        out_zp=draw(st.one_of(st.integers(-128, 127), st.sampled_from((-128, 0)))),
        scale_shift=draw(st.floats(-4, 4)), activation=draw(st.sampled_from(ACTIVATIONS)),
        w_max=draw(st.sampled_from((1, 20, 127))),
    )
    if draw(st.booleans()):
        call = patch_window(call, draw(st.data()))
    p = call.params
    zp = -p.input_offset
    spread = draw(st.sampled_from((3, 40, 255)))
    x = np.clip(zp + rng.integers(-spread, spread + 1, (1, p.in_h, p.in_w, p.in_c)), -128, 127).astype(np.int8)
    return call, x


def run_c(host_runtime, call: KernelCall, x: np.ndarray) -> np.ndarray:
    p = call.params
    arrays = [x] + [c.data for c in call.consts]
    return host_runtime.run(call.kernel, p, arrays, (1, p.out_h, p.out_w, p.out_c), np.int8,
                            scratch_bytes=call.scratch_bytes)


def check_fast(host_runtime, call: KernelCall, x: np.ndarray) -> KernelCall:
    """portable reference == fast reference == fast C kernel (and == portable C kernel); returns the fast call."""
    fast = specialize_conv2d(call, None, HOST)
    assert fast is not None
    expected = conv2d.conv2d_s8_ref(call.params, x, *(c.data for c in call.consts))
    ref = conv2d_dsp.conv2d_s8_dsp_ref(fast.params, x, *(c.data for c in fast.consts))
    np.testing.assert_array_equal(ref, expected, err_msg="fast NumPy reference differs from the portable one")
    got = run_c(host_runtime, fast, x)
    np.testing.assert_array_equal(got, expected, err_msg="fast C kernel differs from the portable reference")
    return fast


# ---------------------------------------------------------------------------------------------------------
# Host: C vs NumPy


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_cases())
def test_fast_conv_matches_portable(host_runtime, case):
    call, x = case
    # Only layers the specializer takes (e.g. not multipliers > 1/2); most random layers qualify.
    assume(specialize_conv2d(call, None, HOST) is not None)
    fast = check_fast(host_runtime, call, x)
    p: Conv2dDspParams = fast.params
    assert fast.kernel == "conv2d_s8_dsp" and fast.macs == call.macs
    assert p.k_pad % 8 == 0 and p.taps <= p.k_pad < p.taps + 11
    (rows,) = (c.data for c in fast.consts)
    assert rows.dtype == np.int32 and rows.size == p.out_c * (5 + p.k_pad // 4)
    taps, _ = conv2d_dsp.unpack_rows(rows, p.out_c, p.k_pad)
    w = call.consts[0].data.reshape(p.out_c, -1)
    order = conv2d_dsp.tap_order(p.kernel_h, p.kernel_w, p.in_c)
    assert sorted(order[order >= 0]) == list(range(p.taps)) and order.size < p.taps + 4
    np.testing.assert_array_equal(taps[:, : order.size][:, order >= 0], w[:, order[order >= 0]])
    assert not taps[:, : order.size][:, order < 0].any() and not taps[:, order.size :].any()
    assert fast.scratch_bytes == 2 * conv2d_dsp.PIXELS * p.k_pad + (p.k_pad if p.in_c % 4 else 0)


def test_specializer_takes_typical_layers():
    rng = np.random.default_rng(3)
    taken = 0
    for _ in range(40):
        call = portable_call(rng, (8, 8), int(rng.integers(1, 64)), int(rng.integers(1, 64)), (3, 3), (1, 1),
                             (1, 1), "SAME", -128, -128, float(rng.uniform(-3, 3)), "RELU6")
        taken += specialize_conv2d(call, None, HOST) is not None
    assert taken == 40


@pytest.mark.parametrize(
    "in_hw, in_c, out_c, kernel, stride, padding",
    [
        ((9, 11), 3, 8, (3, 3), (2, 2), "SAME"),  # the first layer of a MobileNet (gathered patch)
        ((6, 6), 32, 40, (1, 1), (1, 1), "VALID"),  # pointwise, whole-word taps
        ((7, 5), 16, 16, (3, 3), (1, 1), "SAME"),  # ResNet 3x3, padded borders converted straight
        ((8, 8), 16, 24, (1, 1), (2, 2), "SAME"),  # strided pointwise (a ResNet shortcut)
        ((5, 7), 4, 3, (2, 3), (1, 2), "SAME"),  # taps 24: a zero word pads the row to 32
        ((3, 3), 1, 5, (5, 5), (1, 1), "SAME"),  # more padding than input
        ((1, 1), 256, 2, (1, 1), (1, 1), "VALID"),  # one pixel: three slots repeat it
    ],
)
def test_fast_conv_shapes(host_runtime, in_hw, in_c, out_c, kernel, stride, padding):
    rng = np.random.default_rng(in_c * 100 + out_c)
    for act in ("NONE", "RELU6"):
        call = portable_call(rng, in_hw, in_c, out_c, kernel, stride, (1, 1), padding, -128, -128, 0.0, act)
        x = rng.integers(-128, 128, (1, *in_hw, in_c)).astype(np.int8)
        check_fast(host_runtime, call, x)


def test_constant_channels_become_mult_zero(host_runtime):
    # Dead channels as in the MLPerf VWW model: a zero multiplier, and a huge bias with a tiny multiplier.
    rng = np.random.default_rng(5)
    call = portable_call(rng, (6, 6), 8, 6, (3, 3), (1, 1), (1, 1), "SAME", 3, -128, 0.0, "RELU6")
    filt, bias, mult, shift = (c.data.copy() for c in call.consts)
    mult[1], shift[1] = 0, 0
    bias[2], mult[2], shift[2] = 2**30, 1 << 30, -31
    bias[3] = -(2**30)  # always clamped to act_min
    call.consts = tuple(ConstArray(c.role, d) for c, d in zip(call.consts, (filt, bias, mult, shift), strict=True))
    x = rng.integers(-128, 128, (1, 6, 6, 8)).astype(np.int8)
    fast = check_fast(host_runtime, call, x)
    _, rows = conv2d_dsp.unpack_rows(fast.consts[0].data, 6, fast.params.k_pad)
    assert (rows[1:4, 1] == 0).all() and (rows[1:4, 3] == 1).all()
    assert (rows[[0, 4, 5], 1] >= 1 << 30).all()
    out = conv2d.conv2d_s8_ref(call.params, x, filt, bias, mult, shift)
    assert (out[..., 3] == call.params.act_min).all() and len(np.unique(out[..., 0])) > 1


def test_requant_ties_and_signs(host_runtime):
    # A 1x1 layer with weight 1 and multiplier 2^30 (exactly 1/2 before the shift): every accumulator is
    # a tie somewhere, both signs, incl. acc = -1 where TFLite's intermediate rounds to 0.
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    for shift in (-1, -2, -3, -7):
        call = portable_call(np.random.default_rng(0), (16, 16), 1, 1, (1, 1), (1, 1), (1, 1), "VALID", 0, 5,
                             0.0, "NONE")
        call.consts = (
            ConstArray("filter", np.ones((1, 1, 1, 1), np.int8)), ConstArray("bias", np.zeros(1, np.int32)),
            ConstArray("mult", np.array([1 << 30], np.int32)), ConstArray("shift", np.array([shift], np.int32)),
        )
        check_fast(host_runtime, call, x)


def test_refusals():
    rng = np.random.default_rng(9)
    # 1600 taps: accumulators span +-2^25.6, so a huge bias or shift still leaves the outputs varying.
    base = portable_call(rng, (5, 5), 64, 3, (5, 5), (1, 1), (1, 1), "SAME", -128, 0, 0.0, "NONE")
    filt, bias, mult, shift = (c.data.copy() for c in base.consts)

    def with_consts(b=bias, m=mult, s=shift, out_zp=0) -> KernelCall:
        consts = tuple(ConstArray(c.role, d) for c, d in zip(base.consts, (filt, b, m, s), strict=True))
        params = Conv2dParams(**{**base.params.__dict__, "output_offset": out_zp})
        return KernelCall(base.kernel, params, base.inputs, consts, base.outputs, 0)

    assert specialize_conv2d(with_consts(), None, HOST) is not None
    # A multiplier >= 1/2 (shift >= 0) that leaves the outputs varying: not this kernel's arithmetic.
    assert specialize_conv2d(with_consts(s=np.array([-3, 0, -3], np.int32)), None, HOST) is None
    # An accumulator that could overflow int32 in TFLite.
    assert specialize_conv2d(with_consts(b=np.array([2**31 - 100, 0, 0], np.int32)), None, HOST) is None
    # 2 * acc could overflow (|acc| reaches 2^30) while the outputs vary.
    wide = with_consts(b=np.array([2**30 - 2**22, 0, 0], np.int32), s=np.array([-24, -12, -12], np.int32))
    assert specialize_conv2d(wide, None, HOST) is None
    # The folded rounding term 2^(r-1) + out_zp * 2^r leaves int32.
    m = np.array([2**31 - 1, 2**30, 2**30], np.int32)
    b = np.array([25 * 2**24, 0, 0], np.int32)  # outputs 12.5 +- 0.4 before the offset
    assert specialize_conv2d(with_consts(b=b, m=m, s=np.array([-25, -12, -12], np.int32)), None, HOST) is not None
    assert specialize_conv2d(with_consts(b=b, m=m, s=np.array([-25, -12, -12], np.int32), out_zp=-128), None,
                             HOST) is None


# ---------------------------------------------------------------------------------------------------------
# Real models


REAL = ("mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet8_int8")


@pytest.mark.parametrize("name", REAL)
def test_every_conv_of_real_models_is_specialized_and_exact(shared_models, host_runtime, name):
    graph = read_tflite(shared_models / f"{name}.tflite")
    calls = [c for c in lower_graph(graph) if c.kernel == "conv2d_s8"]
    assert len(calls) >= 9
    rng = np.random.default_rng(11)
    for call in calls:
        p = call.params
        x = rng.integers(-128, 128, (1, p.in_h, p.in_w, p.in_c)).astype(np.int8)
        fast = check_fast(host_runtime, call, x)
        # No SRAM beyond a few pixels' patches.
        assert fast.scratch_bytes <= 13 * 8 * ((p.kernel_h * p.kernel_w * p.in_c + 10) // 8)


@pytest.mark.parametrize("name, vector", [
    ("mlperf_vww_96_int8", "mlperf_vww_96_int8"),
    ("tflm_person_detect", "tflm_person_detect__tflm_person"),
    ("mlperf_ic_resnet8_int8", "mlperf_ic_resnet8_int8"),
])
def test_host_model_with_fast_convs_matches_golden(shared_models, name, vector):
    path = shared_models / f"{name}.tflite"
    compiled = compile_graph(read_tflite(path), path.read_bytes(), HOST)
    assert sum(c.kernel.startswith("conv2d_s8_dsp") for c in compiled.calls) >= 9
    # Borrowed scratch: the fast kernels need no SRAM beyond the portable build's arena.
    portable = compile_graph(read_tflite(path), path.read_bytes(), PORTABLE)
    assert compiled.plan.arena_bytes == portable.plan.arena_bytes
    assert any(c.kernel == conv2d_dsp.BORROW for c in compiled.calls)
    data = np.load(shared_models / "vectors" / f"{vector}.npz")
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([data["in0"]])
    np.testing.assert_array_equal(got.reshape(data["out0"].shape), data["out0"])


# ---------------------------------------------------------------------------------------------------------
# Firmware in QEMU: the real DSP instructions


def _chain_graph(rng: np.random.Generator, in_hwc: tuple[int, int, int],
                 layers: list[tuple[int, int, int, str, str]]) -> Graph:
    """CONV_2Ds one after the other as the real models have them (per-channel weights, ReLU-range activations):
    (out_c, kernel, stride, padding, activation) each. The first reads the graph input (planner scratch), the
    later ones read a dying intermediate (borrowed scratch where it fits)."""
    b = GraphBuilder("conv_chain")
    x = first = b.tensor("input", (1, *in_hwc), "int8", per_tensor(0.02, -128))
    for out_c, k, stride, padding, activation in layers:
        _, h, w, c = b.shape(x)
        taps = k * k * c
        scales = tuple(float(np.float32(s)) for s in rng.uniform(0.5, 2.0, out_c) * 0.02 / math.sqrt(taps))
        filt = b.tensor("filter", (out_c, k, k, c), "int8", Quantization(scales, (0,) * out_c, 0),
                        np.clip(rng.normal(0, 40, (out_c, k, k, c)), -127, 127).astype(np.int8))
        bias = b.tensor("bias", (out_c,), "int32", Quantization(tuple(0.02 * s for s in scales), (0,) * out_c, 0),
                        rng.integers(-2000, 2000, out_c).astype(np.int32))
        oh = -(-h // stride) if padding == "SAME" else (h - k) // stride + 1
        ow = -(-w // stride) if padding == "SAME" else (w - k) // stride + 1
        y = b.tensor("output", (1, oh, ow, out_c), "int8", per_tensor(0.02, -128 if activation != "NONE" else 3))
        b.op("CONV_2D", (x, filt, bias), (y,), padding=padding, stride_h=stride, stride_w=stride, dilation_h=1,
             dilation_w=1, activation=activation)
        x = y
    return b.build((first,), (x,))


# First-layer style (3 channels, gathered patches), pointwise (whole words), 3x3 with padded borders; from a
# 25x21x3 input the pixel counts 143, 99 and 20 end in a padded block or in single pixels, and RELU_N1_TO_1 at
# this scale takes the clamping variants.
CHAIN = [(8, 3, 2, "SAME", "RELU6"), (36, 1, 1, "VALID", "NONE"), (12, 3, 1, "SAME", "RELU"),
         (16, 1, 1, "VALID", "RELU6"), (20, 3, 1, "VALID", "RELU"), (10, 3, 2, "VALID", "RELU_N1_TO_1")]
CHAIN_INPUT = (25, 21, 3)


@st.composite
def chain_graphs(draw) -> Graph:
    """A random chain of two or three convolutions (and a depthwise one in between, sometimes)."""
    b = GraphBuilder("chain")
    # Feature maps large enough that a later convolution's output can lend its tail as scratch.
    shape = (1, draw(st.integers(6, 20)), draw(st.integers(6, 20)), draw(st.integers(1, 6)))
    x = first = _int8_input(draw, b, shape)
    for i in range(draw(st.integers(2, 3))):
        if i and draw(st.booleans()):
            x = _depthwise(draw, b, x)
        x = _conv2d(draw, b, x)
    return b.build((first,), (x,))


def test_chain_uses_borrowed_scratch_and_matches_reference():
    rng = np.random.default_rng(4)
    graph = _chain_graph(rng, CHAIN_INPUT, CHAIN)
    compiled = compile_graph(graph, b"chain", HOST)
    kinds = [c.kernel for c in compiled.calls]
    assert kinds[0] == conv2d_dsp.KERNEL and conv2d_dsp.BORROW in kinds[1:]
    x = rng.integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([x])
    (expected,) = run_reference(graph, [x])
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=chain_graphs(), seed=st.integers(0, 2**32 - 1))
def test_random_chains_match_reference(graph, seed):
    compiled = compile_graph(graph, b"chain", HOST)
    inputs = random_inputs(graph, np.random.default_rng(seed))
    (got,) = HostModel(compiled.graph, compiled.sources.files).run(inputs)
    (expected,) = run_reference(graph, inputs)
    np.testing.assert_array_equal(got, expected)


@st.composite
def geometries(draw) -> Conv2dDspParams:
    """Layer shapes alone (what the scratch placement depends on)."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.sampled_from((1, 1, 2))), draw(st.sampled_from((1, 1, 2)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    in_h, in_w, in_c = draw(st.integers(1, 24)), draw(st.integers(1, 24)), draw(st.integers(1, 12))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    if padding == "VALID":
        kh, kw = min(kh, (in_h - 1) // dh + 1), min(kw, (in_w - 1) // dw + 1)
    out_h = conv2d.compute_out_size(padding, in_h, kh, sh, dh)
    out_w = conv2d.compute_out_size(padding, in_w, kw, sw, dw)
    order = conv2d_dsp.tap_order(kh, kw, in_c)
    return Conv2dDspParams(
        in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=draw(st.integers(1, 48)),
        kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_h=conv2d.compute_padding(in_h, kh, sh, dh, out_h), pad_w=conv2d.compute_padding(in_w, kw, sw, dw, out_w),
        k_pad=-(-order.size // 8) * 8, pad_value=0, act_min=-128, act_max=127,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(geometries())
def test_borrow_switch_keeps_scratch_off_live_bytes(p):
    # Brute force: every byte any window reads from the switch on lies past the scratch at the input's start,
    # and every output written before it lies before the scratch at the output's end.
    switch = conv2d_dsp.borrow_switch(p)
    need = -(-conv2d_dsp.scratch_bytes(p) // 8) * 8
    assume(switch is not None)
    assert switch * p.out_c <= (p.out_h * p.out_w * p.out_c - need) // 8 * 8
    for pix in range(switch, p.out_h * p.out_w):
        oy, ox = divmod(pix, p.out_w)
        for ky in range(p.kernel_h):
            iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h
            for kx in range(p.kernel_w):
                ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w
                if 0 <= iy < p.in_h and 0 <= ix < p.in_w:
                    assert (iy * p.in_w + ix) * p.in_c >= need


def test_borrow_switch_of_real_layers():
    # vww's pointwise 6x6x128: 1536 scratch bytes = the first 12 pixels' inputs. ResNet's 3x3 32x32x16: 1728
    # bytes; output pixel 144 (row 4, column 16) first reads input row 3, column 15: byte 1776.
    pw = Conv2dDspParams(6, 6, 128, 6, 6, 128, 1, 1, 1, 1, 1, 1, 0, 0, 128, -128, -128, 127)
    assert conv2d_dsp.borrow_switch(pw) == 12
    res = Conv2dDspParams(32, 32, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 144, -128, -128, 127)
    assert conv2d_dsp.borrow_switch(res) == 144
    # An output smaller than the scratch lends nothing.
    small = Conv2dDspParams(3, 3, 256, 3, 3, 256, 1, 1, 1, 1, 1, 1, 0, 0, 256, -128, -128, 127)
    assert conv2d_dsp.borrow_switch(small) is None


def _emulator_boards() -> list[str]:
    names = ["nucleo-f746"]
    m4 = [b.name for b in list_boards() if b.core == "cortex-m4" and b.qemu_machine]
    return names + m4[:1]


def _run_in_emulator(graph, board_name: str, tmp_path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    board = load_board(board_name)
    result = build_with_fast_kernels(graph, board, tmp_path)
    assert any(c.kernel.startswith(conv2d_dsp.KERNEL) for c in result.compiled.calls), "no fast kernel chosen"
    outs = []
    with Emulator(result.out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine) as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        raw, _ = emu.link.infer(inputs)
        for i, index in enumerate(graph.outputs):
            t = graph.tensor(index)
            outs.append(np.frombuffer(raw[i], dtype=np.int8).reshape(t.shape))
    return outs


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", _emulator_boards())
def test_firmware_fast_conv_chain_matches_reference(board_name, tmp_path):
    rng = np.random.default_rng(21)
    graph = _chain_graph(rng, CHAIN_INPUT, CHAIN)
    x = rng.integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)
    (got,) = _run_in_emulator(graph, board_name, tmp_path, [x])
    (expected,) = run_reference(graph, [x])
    np.testing.assert_array_equal(got, expected, err_msg=f"{graph.name} on {board_name}")


@pytest.mark.emulator
@settings(max_examples=4, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(graph=conv2d_graphs(), seed=st.integers(0, 2**32 - 1))
def test_firmware_random_convs_match_reference(tmp_path_factory, graph, seed):
    calls = lower_graph(graph)
    assume(specialize_conv2d(calls[0], graph, HOST) is not None)
    inputs = random_inputs(graph, np.random.default_rng(seed))
    tmp = tmp_path_factory.mktemp("conv")
    (got,) = _run_in_emulator(graph, "nucleo-f746", tmp, inputs)
    (expected,) = run_reference(graph, inputs)
    np.testing.assert_array_equal(got, expected)
