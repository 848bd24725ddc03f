"""CONV_2D: lowering + C kernel + NumPy reference, checked against TFLite Micro itself.

Random single-op .tflite models are built here (flatbuffers), run by the TFLM Python runtime (the golden
reference), read back with codegen.frontend.tflite_reader, lowered, and executed by both the NumPy reference and
the host build of the C kernel: all three must agree exactly. The real models are checked layer by layer
against TFLM's preserved intermediate tensors. The single-op model builder is shared with the DEPTHWISE
tests (test_kernel_depthwise_conv2d.py imports it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import flatbuffers
import numpy as np
import pytest
import tflite
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tflite_micro.python.tflite_micro import runtime

from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.conv import conv2d, depthwise_conv2d

# Registered locally: the catalogue in codegen.kernels may not list these families yet.
LOWERINGS = {**conv2d.LOWERINGS, **depthwise_conv2d.LOWERINGS}
REFERENCES = {**conv2d.REFERENCES, **depthwise_conv2d.REFERENCES}

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# ---------------------------------------------------------------------------------------------------------
# Single-op model builder and runners (shared with the depthwise tests)


@dataclass(frozen=True)
class ConvCase:
    """One CONV_2D / DEPTHWISE_CONV_2D operator with its data, as a .tflite file would hold it."""

    op_type: str
    x: np.ndarray  # int8 NHWC
    x_quant: tuple[float, int]
    w: np.ndarray  # int8, OHWI (conv) or 1HWC (depthwise)
    w_scales: tuple[float, ...]  # one (per-tensor) or one per output channel
    bias: np.ndarray | None  # int32 per output channel
    bias_mode: str  # "input" (3 inputs), "omitted" (2 inputs) or "absent" (input index -1)
    out_shape: tuple[int, int, int, int]
    y_quant: tuple[float, int]
    options: dict

    @property
    def w_axis(self) -> int:
        return 0 if self.op_type == "CONV_2D" else 3


def _vector(builder: flatbuffers.Builder, values: np.ndarray) -> int:
    return builder.CreateNumpyVector(np.ascontiguousarray(values))


def _offsets(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _quant(builder: flatbuffers.Builder, scales, zero_points, axis: int) -> int:
    scale_vec = _vector(builder, np.asarray(scales, dtype=np.float32))
    zp_vec = _vector(builder, np.asarray(zero_points, dtype=np.int64))
    tflite.QuantizationParametersStart(builder)
    tflite.QuantizationParametersAddScale(builder, scale_vec)
    tflite.QuantizationParametersAddZeroPoint(builder, zp_vec)
    tflite.QuantizationParametersAddQuantizedDimension(builder, axis)
    return tflite.QuantizationParametersEnd(builder)


def build_model(case: ConvCase) -> bytes:
    """A one-operator .tflite model: tensors 0 input, 1 filter, 2 bias, 3 output."""
    b = flatbuffers.Builder(4096)
    depthwise = case.op_type == "DEPTHWISE_CONV_2D"
    x_scale, _ = case.x_quant
    n_w = len(case.w_scales)

    blobs = [None, case.w.astype(np.int8).tobytes()]
    if case.bias is not None:
        blobs.append(case.bias.astype("<i4").tobytes())
    buffers = []
    for blob in blobs:
        data = b.CreateByteVector(blob) if blob is not None else None
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))

    specs = [
        ("input", case.x.shape, tflite.TensorType.INT8, 0, ([x_scale], [case.x_quant[1]], 0)),
        ("filter", case.w.shape, tflite.TensorType.INT8, 1, (case.w_scales, [0] * n_w, case.w_axis)),
    ]
    if case.bias is not None:
        bias_scales = [np.float32(x_scale) * np.float32(s) for s in case.w_scales]
        specs.append(("bias", case.bias.shape, tflite.TensorType.INT32, 2, (bias_scales, [0] * n_w, 0)))
    specs.append(("output", case.out_shape, tflite.TensorType.INT8, 0, ([case.y_quant[0]], [case.y_quant[1]], 0)))
    tensors = []
    for name, shape, ttype, buf, (scales, zps, axis) in specs:
        name_off = b.CreateString(name)
        shape_off = _vector(b, np.asarray(shape, dtype=np.int32))
        q = _quant(b, scales, zps, axis)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape_off)
        tflite.TensorAddType(b, ttype)
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, name_off)
        tflite.TensorAddQuantization(b, q)
        tensors.append(tflite.TensorEnd(b))
    out_index = len(tensors) - 1

    o = case.options
    act = getattr(tflite.ActivationFunctionType, o["activation"])
    pad = getattr(tflite.Padding, o["padding"])
    if depthwise:
        tflite.DepthwiseConv2DOptionsStart(b)
        tflite.DepthwiseConv2DOptionsAddPadding(b, pad)
        tflite.DepthwiseConv2DOptionsAddStrideW(b, o["stride_w"])
        tflite.DepthwiseConv2DOptionsAddStrideH(b, o["stride_h"])
        tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, o["depth_multiplier"])
        tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
        tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, o["dilation_w"])
        tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, o["dilation_h"])
        options = tflite.DepthwiseConv2DOptionsEnd(b)
        options_type = tflite.BuiltinOptions.DepthwiseConv2DOptions
        code = tflite.BuiltinOperator.DEPTHWISE_CONV_2D
    else:
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, pad)
        tflite.Conv2DOptionsAddStrideW(b, o["stride_w"])
        tflite.Conv2DOptionsAddStrideH(b, o["stride_h"])
        tflite.Conv2DOptionsAddFusedActivationFunction(b, act)
        tflite.Conv2DOptionsAddDilationWFactor(b, o["dilation_w"])
        tflite.Conv2DOptionsAddDilationHFactor(b, o["dilation_h"])
        options = tflite.Conv2DOptionsEnd(b)
        options_type = tflite.BuiltinOptions.Conv2DOptions
        code = tflite.BuiltinOperator.CONV_2D

    op_inputs = {"input": [0, 1, 2], "omitted": [0, 1], "absent": [0, 1, -1]}[case.bias_mode]
    inputs_off = _vector(b, np.asarray(op_inputs, dtype=np.int32))
    outputs_off = _vector(b, np.asarray([out_index], dtype=np.int32))
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, inputs_off)
    tflite.OperatorAddOutputs(b, outputs_off)
    tflite.OperatorAddBuiltinOptionsType(b, options_type)
    tflite.OperatorAddBuiltinOptions(b, options)
    operator = tflite.OperatorEnd(b)

    tensors_vec = _offsets(b, tensors)
    sg_in = _vector(b, np.asarray([0], dtype=np.int32))
    sg_out = _vector(b, np.asarray([out_index], dtype=np.int32))
    ops_vec = _offsets(b, [operator])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, sg_in)
    tflite.SubGraphAddOutputs(b, sg_out)
    tflite.SubGraphAddOperators(b, ops_vec)
    subgraph = tflite.SubGraphEnd(b)

    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, code)
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)

    opcodes_vec = _offsets(b, [opcode])
    subgraphs_vec = _offsets(b, [subgraph])
    buffers_vec = _offsets(b, buffers)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, opcodes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs_vec)
    tflite.ModelAddBuffers(b, buffers_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def run_tflm(model: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=256 * 1024)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0)


def lower_only_op(graph: Graph) -> KernelCall:
    (op,) = graph.operators
    (call,) = LOWERINGS[op.op_type](op, graph)
    return call


def run_call(call: KernelCall, x: np.ndarray, host_runtime=None) -> np.ndarray:
    """The reference (host_runtime None) or the C kernel on one lowered call."""
    arrays = [x] + [c.data for c in call.consts]
    if host_runtime is None:
        return REFERENCES[call.kernel](call.params, *arrays)
    p = call.params
    return host_runtime.run(call.kernel, p, arrays, (1, p.out_h, p.out_w, p.out_c), np.int8)


def check_against_tflm(case: ConvCase, host_runtime) -> KernelCall:
    """TFLM == NumPy reference == C kernel, bit for bit, on one case; returns the lowered call."""
    model = build_model(case)
    expected = run_tflm(model, case.x)
    call = lower_only_op(parse_tflite(model, name="case"))
    ref = run_call(call, case.x)
    got = run_call(call, case.x, host_runtime)
    np.testing.assert_array_equal(ref, expected, err_msg="NumPy reference differs from TFLite Micro")
    np.testing.assert_array_equal(got, ref, err_msg="C kernel differs from the NumPy reference")
    return call


# ---------------------------------------------------------------------------------------------------------
# Random cases


def _f32(v: float) -> float:
    return float(np.float32(v))


@st.composite
def conv_cases(draw, depthwise: bool = False) -> ConvCase:
    in_h, in_w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    in_c = draw(st.integers(1, 16))
    mult = draw(st.integers(1, 8)) if depthwise else 1
    out_c = in_c * mult if depthwise else draw(st.integers(1, 16))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    if padding == "VALID":  # keep at least one output row/column
        kh, kw = min(kh, (in_h - 1) // dh + 1), min(kw, (in_w - 1) // dw + 1)
    out_h = conv2d.compute_out_size(padding, in_h, kh, sh, dh)
    out_w = conv2d.compute_out_size(padding, in_w, kw, sw, dw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    # Data: inputs spread around the zero point, weights from tiny to full range (incl. -128).
    in_zp = draw(st.integers(-128, 127))
    x_spread = draw(st.sampled_from((2, 16, 255)))
    x = np.clip(in_zp + rng.integers(-x_spread, x_spread + 1, (1, in_h, in_w, in_c)), -128, 127).astype(np.int8)
    w_max = draw(st.sampled_from((1, 8, 128)))
    w_shape = (1, kh, kw, out_c) if depthwise else (out_c, kh, kw, in_c)
    w = rng.integers(-w_max, min(w_max, 127) + 1, w_shape).astype(np.int8)

    # Scales: the effective multiplier is centred where outputs are neither all clamped nor all zero, then
    # moved by up to 2^+-5 so both multipliers < 1 and > 1 occur.
    in_scale = _f32(2.0 ** draw(st.floats(-10, 0)))
    w_base = 2.0 ** draw(st.floats(-12, -4))
    n_scales = out_c if draw(st.booleans()) else 1  # per-channel or per-tensor
    w_scales = tuple(_f32(w_base * 2.0**e) for e in rng.uniform(-2, 2, n_scales))
    taps = kh * kw * (1 if depthwise else in_c)
    typical_acc = math.sqrt(taps) * max(x_spread / 2, 1) * max(w_max / 2, 0.5)
    effective = 40.0 / typical_acc * 2.0 ** draw(st.floats(-5, 5))
    out_scale = _f32(max(in_scale * w_base / effective, 2.0**-20))
    out_zp = draw(st.integers(-128, 127))

    # TFLM crashes (segfault in Prepare) on a DEPTHWISE_CONV_2D whose bias index is -1: not drawn there.
    bias_modes = ("input", "input", "omitted") if depthwise else ("input", "input", "omitted", "absent")
    bias_mode = draw(st.sampled_from(bias_modes))
    bias = None
    if bias_mode == "input":
        b_max = draw(st.sampled_from((1, int(typical_acc) * 4 + 1, 2**20)))
        bias = rng.integers(-b_max, b_max + 1, out_c).astype(np.int32)

    options = {
        "padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
        "activation": draw(st.sampled_from(ACTIVATIONS)),
    }
    if depthwise:
        options["depth_multiplier"] = mult
    return ConvCase(
        "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", x, (in_scale, in_zp), w, w_scales, bias, bias_mode,
        (1, out_h, out_w, out_c), (out_scale, out_zp), options,
    )


def fixed_case(depthwise: bool, **changes) -> ConvCase:
    """A deterministic 6x5 case (3x3 kernel, SAME, stride 1) to derive targeted variants from."""
    rng = np.random.default_rng(7)
    in_c, mult = 3, 2
    out_c = in_c * mult if depthwise else 4
    w_shape = (1, 3, 3, out_c) if depthwise else (out_c, 3, 3, in_c)
    options = {"padding": "SAME", "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
               "activation": "NONE"}
    if depthwise:
        options["depth_multiplier"] = mult
    case = ConvCase(
        "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D",
        rng.integers(-128, 128, (1, 6, 5, in_c)).astype(np.int8), (0.05, -3),
        rng.integers(-127, 128, w_shape).astype(np.int8), tuple(_f32(0.01 * (c + 1)) for c in range(out_c)),
        rng.integers(-500, 500, out_c).astype(np.int32), "input", (1, 6, 5, out_c), (0.4, 5), options,
    )
    return replace(case, **changes)


# ---------------------------------------------------------------------------------------------------------
# Tests


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
@example(fixed_case(False, y_quant=(0.0004, 0)))  # effective multiplier > 1
@example(fixed_case(False, w_scales=(0.02,), bias=None, bias_mode="absent"))  # per-tensor, no bias
def test_conv2d_matches_tflm(host_runtime, case):
    call = check_against_tflm(case, host_runtime)
    p = call.params
    assert call.macs == p.out_h * p.out_w * p.out_c * p.kernel_h * p.kernel_w * p.in_c
    assert [c.role for c in call.consts] == ["filter", "bias", "mult", "shift"]
    assert [c.data.dtype for c in call.consts] == [np.int8, np.int32, np.int32, np.int32]


def test_conv2d_covers_multipliers_above_one(host_runtime):
    call = check_against_tflm(fixed_case(False, y_quant=(0.0004, 0)), host_runtime)
    assert (call.consts[3].data > 0).all()


def test_conv2d_hand_computed_1x1(host_runtime):
    # out = round_half_away(acc * s_in * s_w / s_out) + zp_out, acc = sum (x - zp_in) * w + bias.
    x = np.array([[[[10, -20, 30]]]], dtype=np.int8)
    w = np.array([[[[1, 2, 3]]]], dtype=np.int8)
    case = replace(fixed_case(False), x=x, w=w, w_scales=(0.25,), bias=np.array([4], np.int32),
                   out_shape=(1, 1, 1, 1), x_quant=(0.5, 2), y_quant=(1.0, -1))
    call = check_against_tflm(case, host_runtime)
    acc = (10 - 2) * 1 + (-20 - 2) * 2 + (30 - 2) * 3 + 4  # 52; 52 * 0.125 = 6.5 rounds to 7
    assert acc == 52 and run_call(call, x).item() == 7 - 1


# --- refusals --------------------------------------------------------------------------------------------


def _ir_graph(case: ConvCase) -> Graph:
    return parse_tflite(build_model(case), name="case")


def _refusal(graph: Graph) -> str:
    (op,) = graph.operators
    with pytest.raises(Unsupported) as info:
        LOWERINGS[op.op_type](op, graph)
    return str(info.value)


def test_conv2d_refuses_batch_above_one():
    g = _ir_graph(fixed_case(False))
    g.tensors[0].shape = (2, 6, 5, 3)
    g.tensors[-1].shape = (2, 6, 5, 4)
    assert "batch 2" in _refusal(g)


def test_conv2d_refuses_non_int8():
    g = _ir_graph(fixed_case(False))
    g.tensors[0].dtype = "int16"
    assert "int16" in _refusal(g)


def test_conv2d_refuses_missing_quantization():
    g = _ir_graph(fixed_case(False))
    g.tensors[-1].quant = None
    assert "no quantization" in _refusal(g)


def test_conv2d_refuses_grouped_convolution():
    g = _ir_graph(fixed_case(False))
    w = g.tensors[1]
    w.data = w.data[..., :1].copy()
    w.shape = w.data.shape
    assert "grouped" in _refusal(g)


def test_conv2d_refuses_inconsistent_output_size():
    g = _ir_graph(fixed_case(False))
    g.tensors[-1].shape = (1, 4, 3, 4)  # VALID's size, but the op says SAME
    assert "SAME padding" in _refusal(g)


def test_conv2d_refuses_asymmetric_filter_and_unknown_activation():
    g = _ir_graph(fixed_case(False))
    q = g.tensors[1].quant
    g.tensors[1].quant = Quantization(q.scale, (1,) * len(q.scale), q.axis)
    assert "filter zero point" in _refusal(g)
    g = _ir_graph(fixed_case(False))
    g.operators[0].options["activation"] = "TANH"
    assert "TANH" in _refusal(g)


def test_conv2d_refuses_non_constant_filter():
    g = _ir_graph(fixed_case(False))
    g.tensors[1].data = None
    assert "non-constant filter" in _refusal(g)


def test_conv2d_refuses_wrong_scale_count():
    g = _ir_graph(fixed_case(False))
    g.tensors[1].quant = Quantization((0.1, 0.2), (0, 0), 0)
    assert "filter scales" in _refusal(g)


# --- real models -----------------------------------------------------------------------------------------


def tflm_layer_check(model_path, op_types: set[str], host_runtime, x: np.ndarray | None = None) -> int:
    """Every op of `op_types` in the model: reference and C on TFLM's own input == TFLM's output."""
    graph = read_tflite(model_path)
    interpreter = runtime.Interpreter.from_file(
        str(model_path), arena_size=8 << 20, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    (in_index,) = graph.inputs
    t_in = graph.tensor(in_index)
    if x is None:
        x = np.random.default_rng(1).integers(-128, 128, t_in.shape).astype(np.int8)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    checked = 0
    for op in graph.operators:
        if op.op_type not in op_types:
            continue
        (call,) = LOWERINGS[op.op_type](op, graph)
        op_in = interpreter.GetTensor(op.inputs[0], 0)["tensor_data"]
        op_out = interpreter.GetTensor(op.outputs[0], 0)["tensor_data"]
        ref = run_call(call, op_in)
        np.testing.assert_array_equal(ref.reshape(op_out.shape), op_out, err_msg=f"{op.describe()} vs TFLM")
        got = run_call(call, op_in, host_runtime)
        np.testing.assert_array_equal(got, ref, err_msg=f"{op.describe()}: C vs NumPy")
        checked += 1
    return checked


@pytest.mark.parametrize("name", ["mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet8_int8"])
def test_conv2d_layers_of_real_models_match_tflm(shared_models, host_runtime, name):
    assert tflm_layer_check(shared_models / f"{name}.tflite", {"CONV_2D"}, host_runtime) >= 7


def test_conv2d_lowers_every_real_int8_conv(shared_models):
    for name in ("mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet_large_int8", "tflm_test_conv_model",
                 "tinyengine_mcunet_vww"):
        graph = read_tflite(shared_models / f"{name}.tflite")
        convs = [op for op in graph.operators if op.op_type == "CONV_2D"]
        assert convs, name
        for op in convs:
            (call,) = conv2d.lower_conv2d(op, graph)
            assert call.macs > 0


def test_conv2d_refuses_float_model(shared_models):
    graph = read_tflite(shared_models / "mlperf_ic_pretrainedResnet.tflite")
    op = next(op for op in graph.operators if op.op_type == "CONV_2D")
    with pytest.raises(Unsupported, match="float32"):
        conv2d.lower_conv2d(op, graph)


def test_ir_built_directly_lowers_like_the_reader():
    # The lowering only needs the IR: a hand-made graph gives the same call as a parsed file.
    case = fixed_case(False)
    parsed = _ir_graph(case)
    t = parsed.tensors
    graph = Graph(
        [Tensor(i, x.name, x.shape, x.dtype, x.quant, x.data) for i, x in enumerate(t)],
        [Operator(0, "CONV_2D", (0, 1, 2), (3,), dict(parsed.operators[0].options))], (0,), (3,),
    )
    a, b = lower_only_op(parsed), lower_only_op(graph)
    assert a.params == b.params
    for ca, cb in zip(a.consts, b.consts, strict=True):
        np.testing.assert_array_equal(ca.data, cb.data)


def test_tap_view_of_an_empty_patch_is_empty_not_wrapped():
    """A patch whose window reads only padding columns has out_w 0; a stop of (0 - 1) * stride + 1 must not
    wrap around to the end of the row (found by the patch-schedule property test)."""
    from codegen.kernels.conv.conv2d import tap_view

    xp = np.arange(6 * 5 * 2).reshape(6, 5, 2)
    assert tap_view(xp, 0, 1, 1, 2, 1, 2, 6, 0).shape == (6, 0, 2)
    assert tap_view(xp, 1, 0, 1, 1, 2, 1, 0, 3).shape == (0, 3, 2)
