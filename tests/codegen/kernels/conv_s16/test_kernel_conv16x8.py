"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED 16x8, TRANSPOSE_CONV (int8, 16x8): C against the NumPy reference, the
reference against TFLite Micro and tflite-runtime (BUILTIN_REF) on generated single-op models, over kernel
sizes, strides, dilations, SAME/VALID, per-channel and per-tensor filter scales, int64 / int32 / no bias."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.conv.conv2d import compute_out_size
from tests.support.op_check import check_single_op
from tests.support.single_op import lower


def _f32(x: float) -> float:
    return float(np.float32(x))


def _filter(rng, draw, out_c: int, kh: int, kw: int, in_c: int) -> tuple[np.ndarray, Quantization]:
    w = rng.integers(-127, 128, size=(out_c, kh, kw, in_c)).astype(np.int8)
    per_channel = draw(st.booleans())
    scales = tuple(_f32(0.01 * 10 ** rng.uniform(-0.5, 0.5)) for _ in range(out_c if per_channel else 1))
    return w, Quantization(scales, (0,) * len(scales), 0)


def _out_scale(in_scale: float, w_q: Quantization, taps: int, qmax: int, draw) -> float:
    """Outputs spread over the type's range: not all saturated, not all zero."""
    typical = in_scale * max(w_q.scale) * np.sqrt(taps) * 127 * (32767 if qmax > 127 else 127) / 3
    return _f32(typical / qmax * 10 ** draw(st.floats(-1, 0.5)))


@st.composite
def conv16_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    in_h, in_w = draw(st.integers((kh - 1) * dh + 1, 9)), draw(st.integers((kw - 1) * dw + 1, 9))
    in_c, out_c = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    out_h = compute_out_size(padding, in_h, kh, sh, dh)
    out_w = compute_out_size(padding, in_w, kw, sw, dw)
    in_scale = _f32(10 ** draw(st.floats(-5, -3)))
    w, w_q = _filter(rng, draw, out_c, kh, kw, in_c)
    out_scale = _out_scale(in_scale, w_q, kh * kw * in_c, 32767, draw)
    bias_kind = draw(st.sampled_from(("int64", "int64", "int32", "none")))
    tensors = [Tensor(0, "x", (1, in_h, in_w, in_c), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", w_q, w)]
    inputs = (0, 1)
    if bias_kind != "none":
        bias = rng.integers(-(2**18), 2**18, size=out_c).astype(bias_kind)
        bias_scales = tuple(_f32(in_scale * s) for s in w_q.scale)
        tensors.append(Tensor(2, "b", (out_c,), bias_kind, Quantization(bias_scales, (0,) * len(bias_scales)), bias))
        inputs = (0, 1, 2)
    tensors.append(Tensor(len(tensors), "y", (1, out_h, out_w, out_c), "int16", Quantization((out_scale,), (0,))))
    options = {"padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
               "activation": draw(st.sampled_from(("NONE", "NONE", "RELU", "RELU6")))}
    graph = Graph(tensors, [Operator(0, "CONV_2D", inputs, (len(tensors) - 1,), options)], (0,),
                  (len(tensors) - 1,), name="conv16x8")
    x = rng.integers(-32768, 32768, size=(1, in_h, in_w, in_c)).astype(np.int16)
    return graph, x, bias_kind


@settings(max_examples=30, deadline=None)
@given(case=conv16_cases())
def test_conv2d_16x8_matches_tflm_and_tflite(host_runtime, case):
    graph, x, bias_kind = case
    (call,) = lower(graph)
    assert call.kernel == ("conv2d_s16_b32" if bias_kind == "int32" else "conv2d_s16")
    # tflite-runtime 2.14 agrees with TFLite Micro only for int64 biases.
    oracles = ("tflm", "tflite") if bias_kind == "int64" else ("tflm",)
    check_single_op(host_runtime, graph, [x], oracles)


@st.composite
def transpose_cases(draw, dtype: str):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    in_h, in_w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    in_c, out_c = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    out_h = in_h * sh if padding == "SAME" else (in_h - 1) * sh + kh
    out_w = in_w * sw if padding == "SAME" else (in_w - 1) * sw + kw
    qmax = 127 if dtype == "int8" else 32767
    in_scale = _f32(10 ** draw(st.floats(-5, -3)) * (256 if dtype == "int8" else 1))
    in_zp = draw(st.integers(-128, 127)) if dtype == "int8" else 0
    out_zp = draw(st.integers(-128, 127)) if dtype == "int8" else 0
    w, w_q = _filter(rng, draw, out_c, kh, kw, in_c)
    taps = max(1, (kh // sh) * (kw // sw)) * in_c
    out_scale = _out_scale(in_scale, w_q, taps, qmax, draw)
    # 16x8 biases may be int16 (TFLM widens them to int64); tflite-runtime does not take those.
    bias_type = "int32" if dtype == "int8" else draw(st.sampled_from(("int64", "int64", "int16")))
    tensors = [Tensor(0, "shape", (4,), "int32", None, np.asarray([1, out_h, out_w, out_c], dtype=np.int32)),
               Tensor(1, "w", w.shape, "int8", w_q, w),
               Tensor(2, "x", (1, in_h, in_w, in_c), dtype, Quantization((in_scale,), (in_zp,)))]
    inputs = (0, 1, 2)
    if draw(st.booleans()):
        bias = rng.integers(-(2**14), 2**14, size=out_c).astype(bias_type)  # fits int16 too
        bias_scales = tuple(_f32(in_scale * s) for s in w_q.scale)
        tensors.append(Tensor(3, "b", (out_c,), bias_type, Quantization(bias_scales, (0,) * len(bias_scales)), bias))
        inputs = (0, 1, 2, 3)
    y = len(tensors)
    tensors.append(Tensor(y, "y", (1, out_h, out_w, out_c), dtype, Quantization((out_scale,), (out_zp,))))
    options = {"padding": padding, "stride_h": sh, "stride_w": sw, "activation": "NONE"}
    graph = Graph(tensors, [Operator(0, "TRANSPOSE_CONV", inputs, (y,), options)], (2,), (y,), name="tconv")
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    x = rng.integers(lo, hi + 1, size=(1, in_h, in_w, in_c)).astype(dtype)
    return graph, x


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_transpose_conv_matches_tflm_and_tflite(host_runtime, dtype, data):
    graph, x = data.draw(transpose_cases(dtype))
    (call,) = lower(graph)
    assert call.kernel == f"transpose_conv_s{8 if dtype == 'int8' else 16}"
    # Without an int64 bias tflite-runtime 2.14 rounds 16x8 outputs differently from TFLite Micro (the
    # reference) or refuses the model.
    ins = graph.op_inputs(graph.operators[0])
    int64_bias = len(ins) == 4 and ins[3].dtype == "int64"
    check_single_op(host_runtime, graph, [x], ("tflm", "tflite") if int64_bias or dtype == "int8" else ("tflm",))


def test_transpose_conv_refuses_a_fused_activation():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, size=(2, 3, 3, 2)).astype(np.int8)
    q = Quantization((0.1,), (0,))
    tensors = [Tensor(0, "shape", (4,), "int32", None, np.asarray([1, 4, 4, 2], dtype=np.int32)),
               Tensor(1, "w", w.shape, "int8", Quantization((0.01,), (0,)), w),
               Tensor(2, "x", (1, 2, 2, 2), "int8", q), Tensor(3, "y", (1, 4, 4, 2), "int8", q)]
    op = Operator(0, "TRANSPOSE_CONV", (0, 1, 2), (3,), {"padding": "SAME", "stride_h": 2, "stride_w": 2,
                                                         "activation": "RELU"})
    with pytest.raises(Unsupported, match="fused activation RELU"):
        lower(Graph(tensors, [op], (2,), (3,)))


def test_conv2d_16x8_refuses_a_nonzero_zero_point():
    w = np.ones((1, 1, 1, 1), dtype=np.int8)
    tensors = [Tensor(0, "x", (1, 2, 2, 1), "int16", Quantization((0.001,), (5,))),
               Tensor(1, "w", w.shape, "int8", Quantization((0.01,), (0,)), w),
               Tensor(2, "y", (1, 2, 2, 1), "int16", Quantization((0.001,), (0,)))]
    op = Operator(0, "CONV_2D", (0, 1), (2,), {"padding": "VALID", "stride_h": 1, "stride_w": 1})
    with pytest.raises(Unsupported, match="input zero point 5"):
        lower(Graph(tensors, [op], (0,), (2,)))


@st.composite
def depthwise16_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    in_h, in_w = draw(st.integers((kh - 1) * dh + 1, 9)), draw(st.integers((kw - 1) * dw + 1, 9))
    in_c, mult = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    out_c = in_c * mult
    in_scale = _f32(10 ** draw(st.floats(-5, -3)))
    w, w_q = _filter(rng, draw, out_c, kh, kw, 1)
    w = np.ascontiguousarray(w.reshape(out_c, kh, kw).transpose(1, 2, 0)).reshape(1, kh, kw, out_c)
    w_q = Quantization(w_q.scale, w_q.zero_point, 3)
    out_scale = _out_scale(in_scale, w_q, kh * kw, 32767, draw)
    tensors = [Tensor(0, "x", (1, in_h, in_w, in_c), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", w_q, w)]
    inputs: tuple[int, ...] = (0, 1)
    if draw(st.booleans()):
        bias = rng.integers(-(2**18), 2**18, size=out_c).astype(np.int64)
        bias_scales = tuple(_f32(in_scale * s) for s in w_q.scale)
        tensors.append(Tensor(2, "b", (out_c,), "int64", Quantization(bias_scales, (0,) * len(bias_scales), 0), bias))
        inputs = (0, 1, 2)
    y = len(tensors)
    out_h, out_w = compute_out_size(padding, in_h, kh, sh, dh), compute_out_size(padding, in_w, kw, sw, dw)
    tensors.append(Tensor(y, "y", (1, out_h, out_w, out_c), "int16", Quantization((out_scale,), (0,))))
    options = {"padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
               "depth_multiplier": mult, "activation": draw(st.sampled_from(("NONE", "RELU")))}
    graph = Graph(tensors, [Operator(0, "DEPTHWISE_CONV_2D", inputs, (y,), options)], (0,), (y,), name="dw16x8")
    return graph, rng.integers(-32768, 32768, size=(1, in_h, in_w, in_c)).astype(np.int16)


@settings(max_examples=30, deadline=None)
@given(case=depthwise16_cases())
def test_depthwise_conv2d_16x8_matches_tflm_and_tflite(host_runtime, case):
    graph, x = case
    (call,) = lower(graph)
    assert call.kernel == "depthwise_conv2d_s16"
    biased = len(graph.operators[0].inputs) == 3
    # Without a bias tflite-runtime 2.14 may round differently from TFLite Micro (as for CONV_2D).
    check_single_op(host_runtime, graph, [x], ("tflm", "tflite") if biased else ("tflm",))


@st.composite
def fc16_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batches, in_f, out_f = draw(st.integers(1, 3)), draw(st.integers(1, 40)), draw(st.integers(1, 8))
    in_scale = _f32(10 ** draw(st.floats(-5, -3)))
    w, w_q = _filter(rng, draw, out_f, 1, 1, in_f)
    w = w.reshape(out_f, in_f)
    out_scale = _out_scale(in_scale, w_q, in_f, 32767, draw)
    tensors = [Tensor(0, "x", (batches, in_f), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", w_q, w)]
    inputs: tuple[int, ...] = (0, 1)
    bias_kind = draw(st.sampled_from(("int64", "int64", "int32", "none")))
    if bias_kind != "none":
        bias = rng.integers(-(2**18), 2**18, size=out_f).astype(bias_kind)
        bias_scales = tuple(_f32(in_scale * s) for s in w_q.scale)
        tensors.append(Tensor(2, "b", (out_f,), bias_kind, Quantization(bias_scales, (0,) * len(bias_scales)), bias))
        inputs = (0, 1, 2)
    y = len(tensors)
    tensors.append(Tensor(y, "y", (batches, out_f), "int16", Quantization((out_scale,), (0,))))
    options = {"activation": draw(st.sampled_from(("NONE", "RELU"))), "weights_format": 0, "keep_num_dims": False}
    graph = Graph(tensors, [Operator(0, "FULLY_CONNECTED", inputs, (y,), options)], (0,), (y,), name="fc16x8")
    return graph, rng.integers(-32768, 32768, size=(batches, in_f)).astype(np.int16), bias_kind


@settings(max_examples=30, deadline=None)
@given(case=fc16_cases())
def test_fully_connected_16x8_matches_tflm_and_tflite(host_runtime, case):
    graph, x, bias_kind = case
    (call,) = lower(graph)
    assert call.kernel == ("fully_connected_s16_b32" if bias_kind == "int32" else "fully_connected_s16")
    check_single_op(host_runtime, graph, [x], ("tflm", "tflite") if bias_kind == "int64" else ("tflm",))
