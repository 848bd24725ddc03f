"""Negative and zero filter scales (per channel and per tensor), as TFLite Micro accepts them.

Trained models (MCUNet's own ImageNet int8 models) have channels whose filter scale is negative, with
matching negative bias scales. TFLM's QuantizeMultiplier turns them into negative multipliers (a zero scale
into a zero multiplier), which its fixed-point requantization handles. Checked here:
- quantize_multiplier's sign handling, including a mantissa that rounds to -2^31;
- the NumPy reference against TFLM and tflite-runtime's BUILTIN_REF on single-op models with negative and
  zero scales drawn per channel, and the host C kernels, portable and fast, against the reference;
- the portable and fast C kernels against the reference on random calls with negated and zero multipliers;
- the refusals: NaN / infinite scales (the operator and tensor named), negative per-tensor FULLY_CONNECTED
  weights (TFLM refuses them too), through the real CLI;
- MLPerf VWW with half of every convolution's channels flipped (scale, weights, bias and bias scale negated):
  TFLM computes every tensor unchanged, and the fast-kernel firmware in QEMU is bit-exact with TFLM.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tflite_micro.python.tflite_micro import runtime

from codegen.errors import ModelError
from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels import REFERENCES, SPECIALIZERS
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.passes.lowering import lower_graph
from codegen.paths import REPO_ROOT
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from codegen.targets.core import HOST
from tests.codegen.kernels.conv.test_kernel_conv2d_dsp import conv_cases
from tests.codegen.kernels.conv.test_kernel_depthwise_conv2d_dsp import cases as depthwise_cases
from tests.codegen.kernels.conv.test_kernel_fully_connected_dsp import fc_calls
from tests.support.fast_firmware import build_with_fast_kernels
from tests.support.model_factory import (
    conv2d_graphs,
    depthwise_conv2d_graphs,
    f32,
    fully_connected_graphs,
    random_inputs,
    run_builtin_ref,
    run_tflm,
)
from tools.build import EMULATED_DIR
from tools.link.emulator import Emulator

INT32_MIN = -(2**31)
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
REPO = REPO_ROOT

# ---------------------------------------------------------------------------------------------------------
# quantize_multiplier


@given(st.one_of(st.floats(2.0**-30, 2.0**20), st.integers(1, 2**20).map(lambda k: 1.0 - k * 2.0**-53)))
def test_negative_multiplier_mirrors_the_positive_one(real):
    m, s = quantize_multiplier(real)
    neg_m, neg_s = quantize_multiplier(-real)
    # frexp keeps the sign and rounding is half away from zero, so the mantissa mirrors; only +2^31 is
    # renormalised (to 2^30 with the shift one up), while -2^31 fits an int32 and stays.
    mantissa, _ = math.frexp(real)
    renormalised = math.floor(mantissa * 2.0**31 + 0.5) == 2**31
    assert (neg_m, neg_s) == ((INT32_MIN, s - 1) if renormalised else (-m, s))
    assert INT32_MIN <= neg_m <= -(1 << 30)


def test_mantissa_rounding_to_minus_two_pow_31_stays():
    real = 1.0 - 2.0**-46  # frexp mantissa within 2^-32 of 1: q * 2^31 rounds to 2^31
    assert quantize_multiplier(real) == (1 << 30, 1)
    assert quantize_multiplier(-real) == (INT32_MIN, 0)
    assert quantize_multiplier(0.0) == quantize_multiplier(-0.0) == (0, 0)
    assert quantize_multiplier(-(2.0**-33)) == (0, 0)  # flushed to zero below 2^-31, like TFLM


@pytest.mark.parametrize("real", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_multiplier_is_refused(real):
    with pytest.raises(ValueError, match="not finite"):
        quantize_multiplier(real)


# ---------------------------------------------------------------------------------------------------------
# Single-op models with negative / zero scales: reference vs TFLM vs BUILTIN_REF, C kernels vs reference


def _weighted(graph: Graph):
    (op,) = [o for o in graph.operators if o.op_type in WEIGHTED]
    return op


def _channels(graph: Graph) -> int:
    op = _weighted(graph)
    w = graph.tensor(op.inputs[1])
    return w.shape[w.quant.axis] if op.op_type != "FULLY_CONNECTED" else w.shape[0]


def with_signs(graph: Graph, signs: list[float], per_channel: bool | None = None) -> Graph:
    """The graph with its filter scales (and bias scales) multiplied by signs[c % len(signs)] (-1, 0 or 1);
    per_channel True first makes a per-tensor filter per-channel (FULLY_CONNECTED's factory is per-tensor)."""
    op = _weighted(graph)
    w = graph.tensor(op.inputs[1])
    n = _channels(graph)
    scales = w.quant.scale
    axis = w.quant.axis
    if per_channel and len(scales) == 1:
        scales, axis = scales * n, 0
    new = tuple(f32(s * signs[c % len(signs)]) for c, s in enumerate(scales))
    w.quant = Quantization(new, (0,) * len(new), axis)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = graph.tensor(op.inputs[2])
        x_scale = graph.tensor(op.inputs[0]).scale
        b.quant = Quantization(tuple(f32(x_scale * s) for s in new), (0,) * len(new), 0)
    return graph


def _signs(n: int) -> st.SearchStrategy[list[float]]:
    return st.lists(st.sampled_from([1.0, -1.0, -1.0, 0.0]), min_size=1, max_size=max(n, 1))


def _run_call(host_runtime, call: KernelCall, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    arrays = [x] + [c.data for c in call.consts]
    return host_runtime.run(call.kernel, call.params, arrays, out_shape, np.int8, scratch_bytes=call.scratch_bytes)


def check_model(host_runtime, graph: Graph, seed: int) -> None:
    model = write_tflite(graph)
    inputs = random_inputs(graph, np.random.default_rng(seed))
    golden = run_tflm(model, inputs, graph)[0]
    read = parse_tflite(model, graph.name)
    np.testing.assert_array_equal(run_reference(read, inputs)[0], golden, err_msg="reference vs TFLM")
    np.testing.assert_array_equal(run_builtin_ref(model, inputs)[0], golden, err_msg="BUILTIN_REF vs TFLM")
    (call,) = lower_graph(read)
    shape = golden.shape
    np.testing.assert_array_equal(_run_call(host_runtime, call, inputs[0], shape).reshape(shape), golden,
                                  err_msg="portable C vs TFLM")
    fast = SPECIALIZERS[call.kernel](call, None, HOST)
    if fast is not None:
        got = REFERENCES[fast.kernel](fast.params, inputs[0], *(c.data for c in fast.consts))
        np.testing.assert_array_equal(np.asarray(got).reshape(shape), golden, err_msg="fast reference vs TFLM")
        got = _run_call(host_runtime, fast, inputs[0], shape).reshape(shape)
        np.testing.assert_array_equal(got, golden, err_msg=f"{fast.kernel} (host C) vs TFLM")


_SLOW = [HealthCheck.too_slow, HealthCheck.filter_too_much]


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW)
@given(graph=conv2d_graphs(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_negative_and_zero_scales_match_tflm(host_runtime, graph, data, seed):
    check_model(host_runtime, with_signs(graph, data.draw(_signs(_channels(graph)))), seed)


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW)
@given(graph=depthwise_conv2d_graphs(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_depthwise_negative_and_zero_scales_match_tflm(host_runtime, graph, data, seed):
    check_model(host_runtime, with_signs(graph, data.draw(_signs(_channels(graph)))), seed)


@settings(max_examples=40, deadline=None, suppress_health_check=_SLOW)
@given(graph=fully_connected_graphs(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_fully_connected_per_channel_negative_and_zero_scales_match_tflm(host_runtime, graph, data, seed):
    op = _weighted(graph)
    # TFLM's per-channel FULLY_CONNECTED reads batches and depth from a 2-D output.
    assume(len(graph.tensor(op.outputs[0]).shape) == 2)
    assume(_channels(graph) >= 2)  # one scale is per-tensor, where TFLM refuses a negative one
    check_model(host_runtime, with_signs(graph, data.draw(_signs(_channels(graph))), per_channel=True), seed)


@settings(max_examples=15, deadline=None, suppress_health_check=_SLOW)
@given(graph=fully_connected_graphs(), seed=st.integers(0, 2**32 - 1))
def test_fully_connected_zero_per_tensor_scale_matches_tflm(host_runtime, graph, seed):
    check_model(host_runtime, with_signs(graph, [0.0]), seed)


def _edge_conv_graph() -> Graph:
    """A 1x1 CONV_2D whose channel 0 has the multiplier -2^31 (shift 0): input scale 1 + 2^-23, filter scale
    -(1 - 2^-23), output scale 1 give -(1 - 2^-46), whose mantissa rounds to -2^31. Other channels: zero,
    positive and negative scales."""
    from tests.support.model_factory import GraphBuilder, per_tensor

    b = GraphBuilder("edge_conv")
    x = b.tensor("x", (1, 4, 8, 1), "int8", per_tensor(1.0 + 2.0**-23, 3))
    scales = (-(1.0 - 2.0**-23), 0.0, 0.37, -0.29)
    w = b.tensor("filter", (4, 1, 1, 1), "int8", Quantization(scales, (0,) * 4, 0),
                 np.array([1, -1, 1, -1], np.int8).reshape(4, 1, 1, 1))
    bias = b.tensor("bias", (4,), "int32", Quantization(tuple(f32(s * (1.0 + 2.0**-23)) for s in scales), (0,) * 4),
                    np.array([5, 100, -7, 11], np.int32))
    y = b.tensor("y", (1, 4, 8, 4), "int8", per_tensor(1.0, -2))
    b.op("CONV_2D", (x, w, bias), (y,), padding="VALID", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="NONE")
    return b.build((x,), (y,))


def test_multiplier_minus_two_pow_31_matches_tflm_and_keeps_the_portable_conv(host_runtime):
    graph = _edge_conv_graph()
    (call,) = lower_graph(parse_tflite(write_tflite(graph), "edge"))
    assert call.consts[2].data[0] == INT32_MIN and call.consts[3].data[0] == 0
    assert call.consts[2].data[1] == 0 and call.consts[2].data[3] < 0 < call.consts[2].data[2]
    x = np.arange(-128, 128, 8, dtype=np.int8).reshape(1, 4, 8, 1)
    model = write_tflite(graph)
    golden = run_tflm(model, [x], graph)[0]
    np.testing.assert_array_equal(run_reference(parse_tflite(model, "edge"), [x])[0], golden)
    assert len(np.unique(golden[..., 0])) > 16  # channel 0 is -(x - 3) + 5 - 2, not saturated
    assert (golden[..., 1] == -2).all()  # zero scale: the output zero point
    np.testing.assert_array_equal(_run_call(host_runtime, call, x, golden.shape), golden)
    # -2^31 has no int32 negation: the DSP conv keeps the portable kernel; with -2^30 and a right shift (which
    # the DSP conv needs anyway) instead, it is taken and exact.
    assert SPECIALIZERS["conv2d_s8"](call, None, HOST) is None
    mult, shift = call.consts[2].data.copy(), call.consts[3].data.copy()
    mult[0], shift[0] = -(1 << 30), -1
    rest = KernelCall(call.kernel, call.params, call.inputs,
                      (*call.consts[:2], ConstArray("mult", mult), ConstArray("shift", shift)), call.outputs, 0)
    assert check_call(host_runtime, rest, x, golden.shape) is not None


@pytest.mark.emulator
def test_multiplier_minus_two_pow_31_in_firmware(tmp_path):
    """INT32_MIN in the emitted multiplier array, run by the portable kernel the DSP build keeps for it."""
    graph = _edge_conv_graph()
    result = build_with_fast_kernels(graph, load_board("nucleo-f746"), tmp_path)
    assert [c.kernel for c in result.compiled.calls] == ["conv2d_s8"]
    assert "INT32_MIN" in (tmp_path / "build" / "model" / "model_weights.c").read_text()
    x = np.arange(-128, 128, 8, dtype=np.int8).reshape(1, 4, 8, 1)
    golden = run_tflm(write_tflite(graph), [x], graph)[0]
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([x])
    np.testing.assert_array_equal(np.frombuffer(raw[0], dtype=np.int8).reshape(golden.shape), golden)


# ---------------------------------------------------------------------------------------------------------
# Kernel calls with negated and zero multipliers: fast and portable C against the NumPy reference


def negate_channels(call: KernelCall, data, mult_index: int = 2) -> tuple[KernelCall, np.ndarray]:
    """The call with a drawn set of channels' multipliers negated (as a negative filter scale gives them),
    some zeroed and, rarely, one set to -2^31; returns the call and a mask of the negated channels."""
    mult = call.consts[mult_index].data.astype(np.int64).copy()
    shift = call.consts[mult_index + 1].data.copy()
    kind = data.draw(st.lists(st.sampled_from([1, -1, -1, 0]), min_size=mult.size, max_size=mult.size))
    kind = np.asarray(kind)
    mult = np.where(kind < 0, -mult, np.where(kind == 0, 0, mult))
    shift = np.where(kind == 0, 0, shift).astype(np.int32)
    if data.draw(st.integers(0, 9)) == 0:
        mult[data.draw(st.integers(0, mult.size - 1))] = INT32_MIN
    consts = list(call.consts)
    consts[mult_index] = ConstArray("mult", mult.astype(np.int32))
    consts[mult_index + 1] = ConstArray("shift", shift)
    return dataclasses.replace(call, consts=tuple(consts)), mult < 0


def check_call(host_runtime, call: KernelCall, x: np.ndarray, out_shape: tuple[int, ...]) -> KernelCall | None:
    want = np.asarray(REFERENCES[call.kernel](call.params, x, *(c.data for c in call.consts))).reshape(out_shape)
    np.testing.assert_array_equal(_run_call(host_runtime, call, x, out_shape), want, err_msg="portable C")
    fast = SPECIALIZERS[call.kernel](call, None, HOST)
    if fast is not None:
        got = np.asarray(REFERENCES[fast.kernel](fast.params, x, *(c.data for c in fast.consts))).reshape(out_shape)
        np.testing.assert_array_equal(got, want, err_msg=f"{fast.kernel} reference")
        got = _run_call(host_runtime, fast, x, out_shape)
        np.testing.assert_array_equal(got, want, err_msg=f"{fast.kernel} host C")
    return fast


def equivalent_positive(call: KernelCall, neg: np.ndarray, channel_axis: int) -> KernelCall:
    """The layer a converter would write with positive scales for the same real weights: the negative channels'
    weights, biases and multipliers negated (the weights here avoid -128)."""
    filt, bias, mult, shift = (c.data for c in call.consts)
    sign = np.where(neg, -1, 1)
    shape = [1] * filt.ndim
    shape[channel_axis] = -1
    filt = (filt.astype(np.int64) * sign.reshape(shape)).astype(np.int8)
    consts = (ConstArray("filter", filt), ConstArray("bias", (bias.astype(np.int64) * sign).astype(np.int32)),
              ConstArray("mult", (mult.astype(np.int64) * sign).astype(np.int32)), ConstArray("shift", shift))
    return dataclasses.replace(call, consts=consts)


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(conv_cases(), st.data())
def test_conv_kernels_with_negative_multipliers(host_runtime, case, data):
    call, x = case
    call, neg = negate_channels(call, data)
    p = call.params
    fast = check_call(host_runtime, call, x, (1, p.out_h, p.out_w, p.out_c))
    # Negative channels cost the fast kernel nothing: it is taken exactly when it is for the equivalent layer
    # with positive scales (the random weights here avoid -128), except with a -2^31 multiplier.
    if (call.consts[2].data == INT32_MIN).any():
        assert fast is None
    else:
        positive = SPECIALIZERS[call.kernel](equivalent_positive(call, neg, 0), None, HOST)
        assert (fast is None) == (positive is None)
        if fast is not None:
            check_call(host_runtime, equivalent_positive(call, neg, 0), x, (1, p.out_h, p.out_w, p.out_c))


def test_conv_negative_channel_with_minus_128_keeps_the_portable_kernel(host_runtime):
    from tests.codegen.kernels.conv.test_kernel_conv2d_dsp import portable_call

    call = portable_call(np.random.default_rng(4), (5, 5), 8, 4, (3, 3), (1, 1), (1, 1), "SAME", 0, 0, 0.0, "NONE")
    filt, bias, mult, shift = (c.data.copy() for c in call.consts)
    mult[1] = -mult[1]
    filt[1, 0, 0, 0] = -128
    x = np.random.default_rng(5).integers(-128, 128, (1, 5, 5, 8)).astype(np.int8)
    neg = dataclasses.replace(call, consts=(ConstArray("filter", filt), *call.consts[1:2],
                                            ConstArray("mult", mult), call.consts[3]))
    assert check_call(host_runtime, neg, x, (1, 5, 5, 4)) is None
    filt[2, 0, 0, 0] = -128  # -128 in a positive channel is fine
    filt[1, 0, 0, 0] = -127
    pos = dataclasses.replace(neg, consts=(ConstArray("filter", filt), *neg.consts[1:]))
    assert check_call(host_runtime, pos, x, (1, 5, 5, 4)) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(depthwise_cases(), st.data())
def test_depthwise_kernels_with_negative_multipliers(host_runtime, case, data):
    call, neg = negate_channels(case.call, data)
    p = call.params
    fast = check_call(host_runtime, call, case.x, (1, p.out_h, p.out_w, p.out_c))
    if (call.consts[2].data == INT32_MIN).any():
        assert fast is None
    else:
        positive = SPECIALIZERS[call.kernel](equivalent_positive(call, neg, 3), None, HOST)
        assert (fast is None) == (positive is None)


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(fc_calls(), st.data())
def test_fully_connected_kernels_with_negative_multipliers(host_runtime, case, data):
    call, x = case
    assume(call.kernel == "fully_connected_per_channel_s8")
    call, _ = negate_channels(call, data)
    p = call.params
    fast = check_call(host_runtime, call, x, (p.batches, p.out_features))
    assert fast is not None  # the FC general finish handles either sign, -2^31 included


def test_fully_connected_requant_ties_with_negative_multipliers(host_runtime):
    """Every accumulator sign and tie through the general finish: weights 1, multipliers +-2^30 (exact halves
    before the shift), +-2^31 - 1, -2^31, and right shifts 1..8."""
    from tests.codegen.kernels.conv.test_kernel_fully_connected_dsp import portable_call

    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    for shift in (-1, -2, -3, -8):
        call = portable_call(np.random.default_rng(0), 256, 1, 6, per_channel=True, out_zp=3)
        mult = np.array([1 << 30, -(1 << 30), 2**31 - 1, -(2**31 - 1), INT32_MIN, 0], np.int32)
        consts = (ConstArray("filter", np.ones((6, 1), np.int8)), ConstArray("bias", np.zeros(6, np.int32)),
                  ConstArray("mult", mult), ConstArray("shift", np.full(6, shift, np.int32)))
        assert check_call(host_runtime, dataclasses.replace(call, consts=consts), x, (256, 6)) is not None


# ---------------------------------------------------------------------------------------------------------
# Refusals: NaN / infinity, negative per-tensor FULLY_CONNECTED weights


def _refusal(graph: Graph) -> str:
    """What reading the written model, or lowering it, refuses it with (the reader checks scales first)."""
    with pytest.raises(ModelError) as info:
        lower_graph(parse_tflite(write_tflite(graph), graph.name))
    return "\n".join(info.value.lines())


def _lowering_refusal(graph: Graph) -> str:
    """What the lowering alone refuses an in-memory graph with (no reader in between)."""
    with pytest.raises(ModelError) as info:
        lower_graph(graph)
    return "\n".join(info.value.lines())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_filter_scales_are_refused_naming_operator_and_tensor(bad):
    graph = _edge_conv_graph()
    w = graph.tensor(graph.operators[0].inputs[1])
    w.quant = Quantization((0.5, bad, 0.25, -0.5), (0,) * 4, 0)
    text = _refusal(graph)
    assert f"tensor {w.index} (filter) has scale {bad}" in text and "must be finite" in text
    text = _lowering_refusal(graph)
    assert "operator 0 (CONV_2D)" in text and f"filter tensor {w.index} (filter)" in text
    assert "in channel 1" in text and "must be finite" in text


def _fc_graph(scale: float) -> Graph:
    from tests.support.model_factory import GraphBuilder, per_tensor

    b = GraphBuilder("fc")
    x = b.tensor("x", (1, 8), "int8", per_tensor(0.05, 0))
    w = b.tensor("weights", (3, 8), "int8", per_tensor(scale, 0), np.ones((3, 8), np.int8))
    y = b.tensor("y", (1, 3), "int8", per_tensor(0.1, 0))
    b.op("FULLY_CONNECTED", (x, w, -1), (y,), activation="NONE", weights_format=0, keep_num_dims=False)
    return b.build((x,), (y,))


def test_negative_per_tensor_fully_connected_is_refused_like_tflm():
    graph = _fc_graph(-0.01)
    model = write_tflite(graph)
    with pytest.raises(RuntimeError):  # TFLM: "input_product_scale >= 0 was not true"
        run_tflm(model, [np.zeros((1, 8), np.int8)], graph)
    text = _refusal(graph)
    assert "operator 0 (FULLY_CONNECTED)" in text and "weights tensor 1 (weights)" in text
    assert "negative per-tensor scale" in text
    assert "must be finite" in _refusal(_fc_graph(float("nan")))


def test_nan_bias_scale_of_per_tensor_fully_connected_is_refused_like_tflm():
    from tests.support.model_factory import per_tensor

    graph = _fc_graph(0.01)
    b = len(graph.tensors)
    graph.tensors.append(dataclasses.replace(graph.tensors[1], index=b, name="bias", shape=(3,), dtype="int32",
                                             quant=per_tensor(float("nan"), 0), data=np.zeros(3, np.int32)))
    graph.operators[0] = dataclasses.replace(graph.operators[0], inputs=(0, 1, b))
    model = write_tflite(graph)
    with pytest.raises(RuntimeError):  # TFLM: scale_diff / output_scale <= 0.02 is false for NaN
        run_tflm(model, [np.zeros((1, 8), np.int8)], graph)
    assert f"tensor {b} (bias) has scale nan" in _refusal(graph)
    assert "bias scale nan inconsistent" in _lowering_refusal(graph)


def test_cli_refuses_a_nan_scale_with_one_line_and_exit_code_2(tmp_path):
    graph = _edge_conv_graph()
    w = graph.tensor(graph.operators[0].inputs[1])
    w.quant = Quantization((0.5, float("nan"), 0.25, -0.5), (0,) * 4, 0)
    model = tmp_path / "nan.tflite"
    model.write_bytes(write_tflite(graph))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "build", "--board", "nucleo-f746", "--model", str(model),
         "--out", str(out)], capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("codegen: ")
    assert result.stderr.count("\n") == 1 and "tensor 1 (filter) has scale nan (scales must be finite)" in result.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------
# A real model with negative per-channel scales


def flip_channels(graph: Graph, every: int = 2) -> int:
    """Negates every `every`-th channel (from 1) of each CONV_2D / DEPTHWISE_CONV_2D: filter scale, int8 weights,
    int32 bias and bias scale, skipping channels that hold -128. The real weights are unchanged, so TFLM's
    outputs must be too. Returns how many channels were flipped."""
    flipped = 0
    for op in graph.operators:
        if op.op_type not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        w = graph.tensor(op.inputs[1])
        axis = w.quant.axis
        by_channel = np.moveaxis(np.asarray(w.data), axis, 0)
        n = by_channel.shape[0]
        sign = np.ones(n, dtype=np.int64)
        sign[1::every] = -1
        sign[(by_channel.reshape(n, -1) == -128).any(axis=1)] = 1
        flipped += int((sign < 0).sum())
        data = by_channel.astype(np.int64) * sign.reshape(-1, *([1] * (by_channel.ndim - 1)))
        w.data = np.ascontiguousarray(np.moveaxis(data.astype(np.int8), 0, axis))
        scales = w.quant.scale * (n if len(w.quant.scale) == 1 else 1)
        w.quant = Quantization(tuple(s * float(g) for s, g in zip(scales, sign, strict=True)), (0,) * n, axis)
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            b = graph.tensor(op.inputs[2])
            b.data = (np.asarray(b.data, dtype=np.int64) * sign).astype(np.int32)
            b_scales = b.quant.scale * (n if len(b.quant.scale) == 1 else 1)
            b.quant = Quantization(tuple(s * float(g) for s, g in zip(b_scales, sign, strict=True)), (0,) * n, 0)
    return flipped


def _all_tensors(model: bytes, x: np.ndarray, indices: list[int]) -> dict[int, np.ndarray]:
    interp = runtime.Interpreter.from_bytes(model, arena_size=8 << 20,
                                            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    interp.set_input(x, 0)
    interp.invoke()
    return {i: np.array(interp.GetTensor(i, 0)["tensor_data"]) for i in indices}


@pytest.fixture(scope="module")
def flipped_vww(shared_models) -> tuple[Graph, Graph, bytes]:
    original = read_tflite(shared_models / "mlperf_vww_96_int8.tflite")
    graph = read_tflite(shared_models / "mlperf_vww_96_int8.tflite")
    graph.name = "vww_negative_scales"
    assert flip_channels(graph) > 1000
    return original, graph, write_tflite(graph)


def test_flipped_model_leaves_every_tflm_tensor_unchanged(flipped_vww, shared_models):
    original, graph, model = flipped_vww
    written = parse_tflite(model, "check")
    neg = [op for op in written.operators if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert all(min(written.tensor(op.inputs[1]).quant.scale) < 0 for op in neg)
    outs = [op.outputs[0] for op in original.operators]
    x = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")["in0"]
    before = _all_tensors((shared_models / "mlperf_vww_96_int8.tflite").read_bytes(), x, outs)
    after = _all_tensors(model, x, outs)
    for i in outs:
        np.testing.assert_array_equal(after[i], before[i], err_msg=f"tensor {i} changed under TFLM")


def test_flipped_model_layers_take_the_fast_kernels(flipped_vww, host_runtime):
    """Every convolution that the DSP kernels take in the original model they take with negative channels
    too, and the host C fast kernel of every layer equals the reference on a random input."""
    original, graph, _ = flipped_vww
    rng = np.random.default_rng(11)
    for before, after in zip(lower_graph(original), lower_graph(graph), strict=True):
        if before.kernel not in ("conv2d_s8", "depthwise_conv2d_s8"):
            continue
        assert (after.consts[2].data < 0).any()
        fast_before = SPECIALIZERS[before.kernel](before, None, HOST)
        fast_after = SPECIALIZERS[after.kernel](after, None, HOST)
        assert (fast_before is None) == (fast_after is None)
        assert fast_after is None or fast_after.kernel == fast_before.kernel
        p = after.params
        x = rng.integers(-128, 128, (1, p.in_h, p.in_w, p.in_c)).astype(np.int8)
        check_call(host_runtime, after, x, (1, p.out_h, p.out_w, p.out_c))


@pytest.mark.emulator
@pytest.mark.parametrize("board", ["nucleo-f746", "nucleo-l4r5zi"])  # Cortex-M7 and Cortex-M4 twins
def test_flipped_model_fast_firmware_is_bit_exact_with_tflm(flipped_vww, shared_models, tmp_path, board):
    _, graph, model = flipped_vww
    result = build_with_fast_kernels(graph, load_board(board), tmp_path)
    kernels = {c.kernel for c in result.compiled.calls}
    assert "conv2d_s8" not in kernels and "depthwise_conv2d_s8" not in kernels, kernels
    golden = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")
    rng = np.random.default_rng(2)
    inputs = [golden["in0"]] + [rng.integers(-128, 128, (1, 96, 96, 3)).astype(np.int8) for _ in range(2)]
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        for k, x in enumerate(inputs):
            raw, _ = emu.link.infer([x])
            got = np.frombuffer(raw[0], dtype=np.int8).reshape(1, 2)
            want = golden["out0"] if k == 0 else run_tflm(model, [x], graph)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"input {k}: firmware differs from TFLM")
