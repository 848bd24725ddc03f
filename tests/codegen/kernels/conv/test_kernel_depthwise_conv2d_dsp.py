"""Fast DEPTHWISE_CONV_2D (DSP extension): the specialized call is bit-exact with the portable kernel.

Levels: the stream requantization (SMMLAR + shift) equals TFLite's MultiplyByQuantizedMultiplier on random
and rounding-tie accumulators; the fast kernel's NumPy reference (which decodes the re-laid-out stream) equals
the portable reference (TFLite-exact, checked against TFLite Micro in test_kernel_depthwise_conv2d.py); the C
kernel run on the host through the portable intrinsic emulation equals both; firmware with the fast kernel
(its assembly, the real DSP instructions) run in QEMU on a Cortex-M7 and a Cortex-M4 equals the reference
executor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels import REFERENCES, SPECIALIZERS
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv import depthwise_conv2d_dsp
from codegen.kernels.conv.depthwise_conv2d import (
    DepthwiseConv2dParams,
    depthwise_conv2d_s8_ref,
    lower_depthwise_conv2d,
)
from codegen.kernels.conv.depthwise_conv2d_dsp import (
    KERNELS,
    UNROLLED,
    DepthwiseConv2dDspParams,
    depthwise_conv2d_s8_dsp_ref,
    interior_range,
    specialize_depthwise,
    stream_requantize,
)
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.reference_executor import run_reference
from codegen.targets.boards import list_boards, load_board
from codegen.targets.core import HOST, PORTABLE
from tests.support.fast_firmware import build_with_fast_kernels
from tests.support.model_factory import GraphBuilder, per_tensor
from tools.build import EMULATED_DIR
from tools.link.emulator import Emulator

SIZES = ((3, 3), (5, 5), (7, 7), (1, 1), (2, 3), (3, 1), (1, 4))


# ---------------------------------------------------------------------------------------------------------
# Portable calls as the lowering makes them


@dataclass(frozen=True)
class Case:
    call: KernelCall  # the portable call
    x: np.ndarray


def portable_call(p: DepthwiseConv2dParams, rng: np.random.Generator, scales: np.ndarray,
                  bias_spread: float = 20000.0) -> KernelCall:
    w = rng.integers(-127, 128, (1, p.kernel_h, p.kernel_w, p.out_c)).astype(np.int8)
    bias = np.rint(rng.normal(0, bias_spread, p.out_c)).astype(np.int32)
    mult = np.zeros(p.out_c, np.int32)
    shift = np.zeros(p.out_c, np.int32)
    for c, s in enumerate(scales):
        mult[c], shift[c] = quantize_multiplier(float(s))
    consts = (ConstArray("filter", w), ConstArray("bias", bias), ConstArray("mult", mult),
              ConstArray("shift", shift))
    return KernelCall("depthwise_conv2d_s8", p, (0,), consts, (1,), 0, macs=1)


@st.composite
def cases(draw) -> Case:
    m = draw(st.sampled_from([1, 1, 1, 4, 8]))
    in_c = draw(st.integers(1, 10)) if m == 1 else draw(st.integers(1, 3))
    kh, kw = draw(st.sampled_from(SIZES))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh = draw(st.sampled_from([1, 1, 2])) if kh > 1 else 1
    dw = draw(st.sampled_from([1, 1, 2])) if kw > 1 else 1
    in_h, in_w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    # Leading and trailing padding as SAME, VALID or a fused PAD (EXPLICIT) give them, even past the kernel;
    # negative: a patch window that starts or ends inside a larger input buffer.
    top, left = draw(st.integers(-3, kh)), draw(st.integers(-3, kw))
    bottom, right = draw(st.integers(-3, kh)), draw(st.integers(-3, kw))
    out_h = (in_h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    out_w = (in_w + left + right - (kw - 1) * dw - 1) // sw + 1
    out_h, out_w = max(out_h, 1), max(out_w, 1)
    # Often -128: a ReLU then leaves no clamp; then neither the clamp nor the negative correction is needed.
    out_zp = -128 if draw(st.integers(0, 3)) == 0 else draw(st.integers(-128, 127))
    activation = draw(st.sampled_from(["none", "relu", "relu6", "narrow"]))
    if activation == "none":
        act_min, act_max = -128, 127
    elif activation == "relu":
        act_min, act_max = out_zp, 127
    else:
        act_min = out_zp if activation == "relu6" else draw(st.integers(-128, out_zp))
        act_max = draw(st.integers(act_min, 127))
    p = DepthwiseConv2dParams(
        in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=in_c * m, depth_multiplier=m,
        kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_h=top, pad_w=left,
        input_offset=-draw(st.integers(-128, 127)), output_offset=out_zp, act_min=act_min, act_max=act_max,
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Effective scales: mostly a trained layer's (right shifts), sometimes in [0.5, 1) (no shift) or above 1.
    scale_kind = draw(st.sampled_from(["small", "small", "small", "half", "large"]))
    lo, hi = {"small": (-14.0, -2.0), "half": (-1.0, -0.01), "large": (0.0, 3.0)}[scale_kind]
    scales = 2.0 ** rng.uniform(lo, hi, p.out_c)
    if draw(st.booleans()):
        scales[:] = scales[0]  # per-tensor
    call = portable_call(p, rng, scales, bias_spread=draw(st.sampled_from([0.0, 3000.0, 50000.0])))
    x = rng.integers(-128, 128, (1, in_h, in_w, in_c)).astype(np.int8)
    return Case(call, x)


def run_fast(host_runtime, fast: KernelCall, x: np.ndarray) -> np.ndarray:
    p = fast.params
    return host_runtime.run(fast.kernel, p, [x, fast.consts[0].data], (1, p.out_h, p.out_w, p.out_c), np.int8)


def expected(case: Case) -> np.ndarray:
    return depthwise_conv2d_s8_ref(case.call.params, case.x, *(c.data for c in case.call.consts))


# ---------------------------------------------------------------------------------------------------------
# The requantization identity


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-31.0, 2.0, allow_nan=False),
    st.integers(-128, 127),
    st.integers(0, 2**32 - 1),
)
def test_stream_requantization_equals_tflite(log2_scale, out_zp, seed):
    mult, shift = quantize_multiplier(2.0**log2_scale)
    rq = depthwise_conv2d_dsp._requant(np.array([mult]), np.array([shift]), out_zp)
    k, r = int(rq.k[0]), int(rq.shift[0])
    rng = np.random.default_rng(seed)
    # Random accumulators, and the ones next to ties of the final rounding: acc * mult * 2^left near
    # (j + 1/2) * 2^(31 + r).
    limit = (2**31 - 1) // k
    acc = rng.integers(-limit, limit + 1, 2000)
    if mult:
        step = 2**31 * 2**r / (mult * (k // 2))
        j = rng.integers(-2000, 2000, 500)
        ties = np.round((j + 0.5) * step).astype(np.int64)[:, None] + np.arange(-2, 3)
        acc = np.concatenate([acc, ties.reshape(-1)])
    acc = acc[np.abs(acc) <= limit]
    exact = np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + out_zp, -128, 127)
    fits = np.abs(acc * k * mult) // 2**32 + 2 + abs(int(rq.add[0])) < 2**31
    acc, exact = acc[fits], exact[fits]
    if r > 0:
        got = stream_requantize(acc * k, rq.mult, rq.add, rq.shift, neg_fix=True)
        np.testing.assert_array_equal(got, exact)
    # Without the correction, only values that a clamp at act_min >= out_zp sends to act_min may differ.
    got = stream_requantize(acc * k, rq.mult, rq.add, rq.shift, neg_fix=False)
    np.testing.assert_array_equal(np.maximum(got, out_zp), np.maximum(exact, out_zp))
    if r == 0:
        np.testing.assert_array_equal(got, exact)


def test_negative_ties_need_the_correction():
    # acc * mult = -2^31 * (2^r * j + 2^(r-1)) exactly: TFLite rounds away from zero, floor would not.
    mult, shift = 1 << 30, -3
    rq = depthwise_conv2d_dsp._requant(np.array([mult]), np.array([shift]), 0)
    acc = np.array([-(8 * 5 + 4) * 2])  # acc * mult / 2^31 = -44 -> / 8 = -5.5 -> -6
    exact = multiply_by_quantized_multiplier(acc, mult, shift)
    assert exact[0] == -6
    assert stream_requantize(acc * 2, rq.mult, rq.add, rq.shift, neg_fix=True)[0] == -6
    assert stream_requantize(acc * 2, rq.mult, rq.add, rq.shift, neg_fix=False)[0] == -5


# ---------------------------------------------------------------------------------------------------------
# Host: C (portable intrinsic emulation) and NumPy reference against the portable reference


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_fast_kernel_matches_portable(host_runtime, case):
    fast = specialize_depthwise(case.call, None, HOST)
    if fast is None:
        event("kept portable")
        return
    p = fast.params
    event(f"{'unrolled' if (p.kernel_h, p.kernel_w) in UNROLLED else 'any size'}, "
          f"M{'>1' if p.depth_multiplier > 1 else '1'}, neg_fix {p.neg_fix}, clamp {p.clamp}")
    want = expected(case)
    np.testing.assert_array_equal(depthwise_conv2d_s8_dsp_ref(p, case.x, fast.consts[0].data), want)
    np.testing.assert_array_equal(run_fast(host_runtime, fast, case.x), want)


def _case(seed: int = 0, *, in_hw=(8, 9), in_c=8, m=1, k=3, stride=1, pad=1, act=(-128, 127), out_zp=-128,
          in_zp=-128, scale=0.004, scale_spread=1.0, bias_spread=20000.0) -> Case:
    rng = np.random.default_rng(seed)
    out_h = (in_hw[0] + 2 * pad - k) // stride + 1
    out_w = (in_hw[1] + 2 * pad - k) // stride + 1
    p = DepthwiseConv2dParams(in_hw[0], in_hw[1], in_c, out_h, out_w, in_c * m, m, k, k, stride, stride, 1, 1,
                              pad, pad, -in_zp, out_zp, act[0], act[1])
    scales = scale * 2.0 ** rng.uniform(-scale_spread, scale_spread, in_c * m)
    call = portable_call(p, rng, scales, bias_spread)
    return Case(call, rng.integers(-128, 128, (1, *in_hw, in_c)).astype(np.int8))


@pytest.mark.parametrize("kwargs, kernel", [
    ({}, "depthwise_conv2d_s8_dsp_3x3"),
    ({"k": 5, "pad": 2, "act": (-128, 90)}, "depthwise_conv2d_s8_dsp_5x5_cl"),
    ({"k": 7, "pad": 3, "stride": 2, "in_hw": (13, 12)}, "depthwise_conv2d_s8_dsp_7x7"),
    ({"m": 8, "in_c": 1, "stride": 2, "out_zp": -128, "act": (-128, 127)}, "depthwise_conv2d_s8_dsp_3x3_m4"),
    ({"m": 8, "in_c": 2, "out_zp": 5, "act": (5, 127)}, "depthwise_conv2d_s8_dsp_3x3_m4_cl"),
    ({"out_zp": 3, "in_c": 12}, "depthwise_conv2d_s8_dsp_3x3_nf"),
    ({"out_zp": 3, "act": (-20, 100)}, "depthwise_conv2d_s8_dsp_3x3_nf_cl"),
    ({"in_c": 7}, "depthwise_conv2d_s8_dsp_3x3"),  # a tail of three channels
    ({"k": 4, "pad": 1}, "depthwise_conv2d_s8_dsp"),
    ({"m": 4, "in_c": 3, "k": 2, "pad": 0, "out_zp": 0, "act": (-128, 127)}, "depthwise_conv2d_s8_dsp_m4_nf"),
])
def test_specializer_picks_the_fixed_forms(host_runtime, kwargs, kernel):
    case = _case(**kwargs)
    fast = specialize_depthwise(case.call, None, HOST)
    assert fast is not None and fast.kernel == kernel
    assert fast.kernel in KERNELS and fast.kernel in REFERENCES
    assert fast.macs == case.call.macs and fast.scratch_bytes == 0
    assert [c.role for c in fast.consts] == ["stream"]
    p = fast.params
    assert fast.consts[0].data.size == p.groups * p.group_words
    np.testing.assert_array_equal(run_fast(host_runtime, fast, case.x), expected(case))


def test_specializer_keeps_the_portable_kernel_when_it_must():
    assert specialize_depthwise(_case().call, None, PORTABLE) is None
    # Depth multiplier 2 (not 1 or 4k).
    assert specialize_depthwise(_case(m=2, in_c=3).call, None, HOST) is None
    # A bias so large that 2 * acc could overflow an int32.
    c = _case()
    big = c.call.consts[1].data.copy()
    big[5] = 2**30  # 2 * (bias + 9 * 127 * 255) > 2^31 - 1
    consts = (c.call.consts[0], ConstArray("bias", big), *c.call.consts[2:])
    assert specialize_depthwise(replace(c.call, consts=consts), None, HOST) is None
    # SMMLAR's sum (high word + add) would leave int32: a tiny scale (right shift 24), output zero point 127.
    c = _case(scale=1.5 * 2**-25, scale_spread=0.0, out_zp=127, act=(127, 127), bias_spread=0.0)
    assert specialize_depthwise(c.call, None, HOST) is not None
    big = c.call.consts[1].data.copy()
    big[0] = 20_000_000  # SMMLAR high word ~1.5e7, add ~2^31 - 2^23
    consts = (c.call.consts[0], ConstArray("bias", big), *c.call.consts[2:])
    assert specialize_depthwise(replace(c.call, consts=consts), None, HOST) is None
    # No activation clamp (needs the negative correction) with a channel of right shift 0.
    c = _case(out_zp=3, scale=0.7)
    assert specialize_depthwise(c.call, None, HOST) is None
    # The same with a ReLU needs no correction: taken.
    c = _case(out_zp=3, act=(3, 127), scale=0.7)
    assert specialize_depthwise(c.call, None, HOST) is not None


def test_clamp_one_below_the_zero_point_needs_the_correction(host_runtime):
    # Scale 2^-4 (mult 2^30, right shift 3), weight 1 at the centre tap, zero points 0: an input of -8 gives
    # TFLite -0.5 -> -1 (away from zero), floor would give 0; the clamp at -1 keeps the difference visible.
    case = _case(in_c=4, in_zp=0, out_zp=0, act=(-1, 127), bias_spread=0.0)
    p = case.call.params
    w = np.zeros((1, 3, 3, 4), np.int8)
    w[0, 1, 1] = 1
    mult = np.full(4, 1 << 30, np.int32)
    shift = np.full(4, -3, np.int32)
    call = replace(case.call, consts=(ConstArray("filter", w), case.call.consts[1], ConstArray("mult", mult),
                                      ConstArray("shift", shift)))
    x = np.full((1, p.in_h, p.in_w, 4), -8, np.int8)
    want = depthwise_conv2d_s8_ref(p, x, w, case.call.consts[1].data, mult, shift)
    assert (want == -1).all()
    fast = specialize_depthwise(call, None, HOST)
    assert fast.params.neg_fix == 1
    np.testing.assert_array_equal(run_fast(host_runtime, fast, x), want)


def test_stream_layout():
    case = _case(in_c=6, k=3, in_hw=(5, 7))
    fast = specialize_depthwise(case.call, None, HOST)
    p, s = fast.params, fast.consts[0].data
    assert isinstance(p, DepthwiseConv2dDspParams) and s.dtype == np.int32
    g = s.reshape(p.groups, p.group_words)
    w = case.call.consts[0].data.reshape(9, 6).astype(np.int64)
    bias = case.call.consts[1].data.astype(np.int64)
    k = 2 << np.maximum(case.call.consts[3].data, 0)
    tap = g[0, 4:4 + 27].reshape(9, 3)
    halves = np.ascontiguousarray(tap[:, :2]).view(np.int16).reshape(9, 2, 2)  # [tap, word, half]
    np.testing.assert_array_equal(halves[:, 0, 0], k[0] * w[:, 0])  # word 0 = {c0, c2}
    np.testing.assert_array_equal(halves[:, 0, 1], k[2] * w[:, 2])
    np.testing.assert_array_equal(halves[:, 1, 0], k[1] * w[:, 1])  # word 1 = {c1, c3}
    np.testing.assert_array_equal(halves[:, 1, 1], k[3] * w[:, 3])
    assert list(tap[:, 2]) == [(ky * 7 + kx) * 6 for ky in range(3) for kx in range(3)]
    np.testing.assert_array_equal(g[:, :4].reshape(-1)[:6], k * (bias + p.input_offset * w.sum(axis=0)))
    np.testing.assert_array_equal(g[:, -4:].reshape(-1)[:6], k * bias)
    assert (g[1, [2, 3, -2, -1]] == 0).all()  # the padded channels of the last group
    assert interior_range(p.out_h, p.in_h, 3, 1, 1, 1) == (1, 4) and (p.interior_y0, p.interior_y1) == (1, 4)


# ---------------------------------------------------------------------------------------------------------
# Host: every depthwise layer of the real models


@pytest.mark.parametrize("name", ["mlperf_vww_96_int8", "tflm_person_detect", "tinyengine_mcunet_vww",
                                  "tflm_micro_speech_quantized"])
def test_real_model_layers(shared_models, host_runtime, name):
    graph = read_tflite(shared_models / f"{name}.tflite")
    rng = np.random.default_rng(1)
    taken = 0
    for op in graph.operators:
        if op.op_type != "DEPTHWISE_CONV_2D":
            continue
        (call,) = lower_depthwise_conv2d(op, graph)
        fast = SPECIALIZERS["depthwise_conv2d_s8"](call, graph, HOST)
        assert fast is not None, f"{name} operator {op.index} kept the portable kernel"
        taken += 1
        x = rng.integers(-128, 128, graph.tensor(op.inputs[0]).shape).astype(np.int8)
        np.testing.assert_array_equal(run_fast(host_runtime, fast, x), expected(Case(call, x)))
    assert taken > 0


# ---------------------------------------------------------------------------------------------------------
# QEMU: the assembly on a Cortex-M7 and a Cortex-M4


@dataclass(frozen=True)
class Layer:
    k: int
    stride: int
    padding: str
    m: int  # depth multiplier
    activation: str
    out_quant: tuple[float, int]


def dw_chain(seed: int, in_shape: tuple[int, ...], layers: list[Layer]) -> Graph:
    """A chain of DEPTHWISE_CONV_2D operators (one build exercises several kernel forms)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("dw_dsp")
    x = b.tensor("input", in_shape, "int8", per_tensor(0.05, int(rng.integers(-128, 128))))
    first = x
    for i, layer in enumerate(layers):
        shape, in_scale = b.shape(x), b.quant(x).scale[0]
        out_c = shape[3] * layer.m
        scales = tuple(float(np.float32(s)) for s in 0.004 * 2.0 ** rng.uniform(-1, 1, out_c))
        w = rng.integers(-127, 128, (1, layer.k, layer.k, out_c)).astype(np.int8)
        filt = b.tensor(f"filter{i}", w.shape, "int8", Quantization(scales, (0,) * out_c, 3), w)
        bias_q = Quantization(tuple(float(np.float32(in_scale * s)) for s in scales), (0,) * out_c, 0)
        bias_data = rng.integers(-5000, 5000, out_c).astype(np.int32)
        bias = b.tensor(f"bias{i}", (out_c,), "int32", bias_q, bias_data)
        hw = [-(-n // layer.stride) if layer.padding == "SAME" else (n - layer.k) // layer.stride + 1
              for n in shape[1:3]]
        y = b.tensor(f"output{i}", (1, *hw, out_c), "int8", per_tensor(*layer.out_quant))
        b.op("DEPTHWISE_CONV_2D", (x, filt, bias), (y,), padding=layer.padding, stride_h=layer.stride,
             stride_w=layer.stride, dilation_h=1, dilation_w=1, depth_multiplier=layer.m,
             activation=layer.activation)
        x = y
    return b.build((first,), (x,))


# Each chain runs several forms: 3x3 / 5x5 / 7x7, depth multiplier 8 and 4, the negative correction, the
# clamp, channels not a multiple of four, border-only layers; the comments name the kernels.
CHAINS = {
    "sizes": dw_chain(1, (1, 12, 11, 8), [
        Layer(3, 1, "SAME", 1, "RELU", (0.02, -128)),  # _3x3
        Layer(5, 1, "SAME", 1, "NONE", (0.04, 10)),  # _5x5_nf
        Layer(7, 2, "VALID", 1, "RELU6", (0.04, -128)),  # _7x7_cl
    ]),
    "multiplier": dw_chain(2, (1, 9, 10, 1), [
        Layer(3, 2, "SAME", 8, "RELU6", (0.04, -128)),  # _3x3_m4_cl
        Layer(2, 1, "SAME", 4, "NONE", (0.03, -3)),  # _m4_nf (any size)
        Layer(3, 1, "SAME", 1, "RELU", (0.02, -128)),  # _3x3 on a 5x5 image: mostly border
    ]),
    "tail": dw_chain(3, (1, 8, 8, 6), [
        Layer(3, 1, "SAME", 1, "RELU_N1_TO_1", (0.01, 0)),  # _3x3_nf_cl, two tail channels
        Layer(3, 2, "SAME", 1, "RELU6", (0.04, -128)),  # _3x3_cl, stride 2
    ]),
}


def _run_on(board_name: str, graph: Graph, tmp_path: Path) -> None:
    board = load_board(board_name)
    out = tmp_path / board_name
    result = build_with_fast_kernels(graph, board, out)
    model = out / f"{graph.name}.tflite"
    kernels = [c.kernel for c in result.compiled.calls]
    assert all(k in KERNELS for k in kernels), kernels  # every layer on a fast kernel
    graph = result.compiled.graph
    x = np.random.default_rng(len(graph.tensors)).integers(-128, 128, graph.tensor(graph.inputs[0]).shape)
    x = x.astype(np.int8)
    want = run_reference(read_tflite(model), [x])[0]
    with Emulator(result.out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine or "mps2-an500") as emu:
        emu.link.expect_model(result.compiled.hash8, graph.name)
        raw, _ = emu.link.infer([x])
    got = np.frombuffer(raw[0], dtype=np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


@pytest.mark.emulator
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_firmware_cortex_m7(chain, tmp_path):
    _run_on("nucleo-f746", CHAINS[chain], tmp_path)


@pytest.mark.emulator
@pytest.mark.parametrize("chain", ["sizes", "multiplier"])
def test_firmware_cortex_m4(chain, tmp_path):
    if "nucleo-l4r5zi" not in {b.name for b in list_boards()}:
        pytest.skip("no Cortex-M4 board")
    _run_on("nucleo-l4r5zi", CHAINS[chain], tmp_path)
