"""Models for the DSP CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV / DEPTHWISE_CONV_2D kernels: a 16x8 chain through
the fast variants (int64 and int32 biases), a 16x8 depthwise chain, an int8 TRANSPOSE_CONV, and single layers of
realistic size for measuring instructions (scripts/benchmark_s16_dsp.py); any of them with negative and zero
channel scales (with_signed_scales)."""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Quantization
from tests.support.model_factory import GraphBuilder, f32, per_tensor


def _weights(b: GraphBuilder, rng: np.random.Generator, shape: tuple[int, ...]) -> int:
    scales = tuple(f32(s) for s in rng.uniform(0.005, 0.01, size=shape[0]))
    return b.tensor("w", shape, "int8", Quantization(scales, (0,) * shape[0], 0), rng.integers(-127, 128, size=shape))


def _bias(b: GraphBuilder, rng: np.random.Generator, n: int, dtype: str) -> int:
    return b.tensor("b", (n,), dtype, None, rng.integers(-20000, 20000, size=n))


def _out_q(x_q: Quantization, taps: int) -> Quantization:
    """An output scale that spreads int16 outputs of random weights without saturating most of them."""
    return per_tensor(x_q.scale[0] * 0.0075 * 128 * np.sqrt(taps) * 3000 / 32767 * 16, 0)


def conv(b: GraphBuilder, rng: np.random.Generator, x: int, cout: int, stride: int, bias: str) -> int:
    n, h, w, cin = b.shape(x)
    filt = _weights(b, rng, (cout, 3, 3, cin))
    y = b.tensor("conv", (n, -(-h // stride), -(-w // stride), cout), "int16", _out_q(b.quant(x), 9 * cin))
    b.op("CONV_2D", (x, filt, _bias(b, rng, cout, bias)), (y,), padding="SAME", stride_h=stride, stride_w=stride,
         dilation_h=1, dilation_w=1, activation="NONE")
    return y


def fc(b: GraphBuilder, rng: np.random.Generator, x: int, units: int, bias: str) -> int:
    depth = b.shape(x)[-1]
    y = b.tensor("fc", (1, units), "int16", _out_q(b.quant(x), depth))
    b.op("FULLY_CONNECTED", (x, _weights(b, rng, (units, depth)), _bias(b, rng, units, bias)), (y,),
         activation="NONE", weights_format=0, keep_num_dims=False)
    return y


def transpose_conv(b: GraphBuilder, rng: np.random.Generator, x: int, cout: int) -> int:
    """A 3x3 stride-2 SAME TRANSPOSE_CONV (int64 bias for int16, int32 for int8)."""
    n, h, w, cin = b.shape(x)
    dtype = b.tensors[x].dtype
    xq = b.quant(x)
    filt = _weights(b, rng, (cout, 3, 3, cin))
    if dtype == "int16":
        bias = _bias(b, rng, cout, "int64")
        out_q = _out_q(xq, 3 * cin)
    else:
        scales = tuple(f32(xq.scale[0] * s) for s in b.quant(filt).scale)
        bias = b.tensor("b", (cout,), "int32", Quantization(scales, (0,) * cout, 0),
                        rng.integers(-3000, 3000, size=cout))
        out_q = per_tensor(xq.scale[0] * 0.0075 * 74 * 73 * np.sqrt(2.25 * cin) * 3 / 128, 9)  # about 3 sigma
    y = b.tensor("tconv", (n, 2 * h, 2 * w, cout), dtype, out_q)
    b.op("TRANSPOSE_CONV", (b.const_i32("out_shape", [n, 2 * h, 2 * w, cout]), filt, x, bias), (y,),
         padding="SAME", stride_h=2, stride_w=2, activation="NONE")
    return y


def depthwise(b: GraphBuilder, rng: np.random.Generator, x: int, mult: int, k: int, stride: int, dilation: int,
              padding: str, bias: bool, activation: str = "NONE") -> int:
    """A 16x8 k x k DEPTHWISE_CONV_2D with per-channel scales and, if `bias`, an int64 bias."""
    n, h, w, cin = b.shape(x)
    cout = cin * mult
    scales = tuple(f32(s) for s in rng.uniform(0.005, 0.01, size=cout))
    filt = b.tensor("w", (1, k, k, cout), "int8", Quantization(scales, (0,) * cout, 3),
                    rng.integers(-127, 128, size=(1, k, k, cout)))
    span = (k - 1) * dilation + 1
    oh, ow = (-(-h // stride), -(-w // stride)) if padding == "SAME" else ((h - span) // stride + 1,
                                                                          (w - span) // stride + 1)
    y = b.tensor("dw", (n, oh, ow, cout), "int16", _out_q(b.quant(x), k * k))
    inputs = (x, filt, _bias(b, rng, cout, "int64")) if bias else (x, filt)
    b.op("DEPTHWISE_CONV_2D", inputs, (y,), padding=padding, stride_h=stride, stride_w=stride,
         dilation_h=dilation, dilation_w=dilation, depth_multiplier=mult, activation=activation)
    return y


def dw_chain_graph(seed: int = 6) -> Graph:
    """16x8 DEPTHWISE_CONV_2D through each form of the DSP kernel: multiplier 1 (6 channels: a group of four and
    a tail of two, int64 bias), multiplier 2 (stride 2, no bias, RELU), multiplier 4 (VALID, dilation 2)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("dw16_dsp_chain")
    x = b.tensor("input", (1, 9, 9, 6), "int16", per_tensor(1 / 4096, 0))
    d1 = depthwise(b, rng, x, 1, 3, 1, 1, "SAME", True)
    d2 = depthwise(b, rng, d1, 2, 3, 2, 1, "SAME", False, "RELU")
    return b.build((x,), (depthwise(b, rng, d2, 4, 2, 1, 2, "VALID", True),))


def tconv_s8_graph(seed: int = 4) -> Graph:
    """An int8 TRANSPOSE_CONV, 8 -> 6 channels from 5x5 to 10x10, input zero point -7."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("tconv_s8_dsp")
    x = b.tensor("input", (1, 5, 5, 8), "int8", per_tensor(0.05, -7))
    return b.build((x,), (transpose_conv(b, rng, x, 6),))


def chain_graph(seed: int = 0) -> Graph:
    """CONV_2D (int64 bias) -> CONV_2D stride 2 (int32 bias) -> TRANSPOSE_CONV -> FULLY_CONNECTED (int64 bias)
    -> FULLY_CONNECTED (int32 bias), all 16x8."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("s16_dsp_chain")
    x = b.tensor("input", (1, 8, 8, 8), "int16", per_tensor(1 / 4096, 0))
    c1 = conv(b, rng, x, 8, 1, "int64")
    c2 = conv(b, rng, c1, 10, 2, "int32")
    t = transpose_conv(b, rng, c2, 5)
    flat = b.tensor("flat", (1, 320), "int16", b.quant(t))
    b.op("RESHAPE", (t, b.const_i32("shape", [1, 320])), (flat,))
    f1 = fc(b, rng, flat, 18, "int64")
    f2 = fc(b, rng, f1, 7, "int32")
    return b.build((x,), (f2,))


def with_signed_scales(graph: Graph, pattern: tuple[float, ...] = (1.0, -1.0, 0.0, -1.0)) -> Graph:
    """The graph (renamed *_signed) with each weighted op's per-channel filter scales multiplied by the pattern,
    channel c by pattern[c % len]: negative and zero multipliers, as trained models (MCUNet's) have them."""
    for op in graph.operators:
        if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            w = graph.tensor(op.inputs[1])
            assert w.quant is not None and w.quant.per_channel
            scales = tuple(f32(s * pattern[c % len(pattern)]) for c, s in enumerate(w.quant.scale))
            w.quant = Quantization(scales, w.quant.zero_point, w.quant.axis)
    graph.name = f"{graph.name}_signed"
    return graph


def conv_layer() -> Graph:
    """A 3x3 convolution, 16 -> 16 channels on 16x16 (589,824 MACs)."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("conv16x8_16x16x16")
    x = b.tensor("input", (1, 16, 16, 16), "int16", per_tensor(1 / 4096, 0))
    return b.build((x,), (conv(b, rng, x, 16, 1, "int64"),))


def fc_layer() -> Graph:
    """A 1024 -> 64 fully connected layer (65,536 MACs)."""
    rng = np.random.default_rng(2)
    b = GraphBuilder("fc16x8_1024x64")
    x = b.tensor("input", (1, 1024), "int16", per_tensor(1 / 4096, 0))
    return b.build((x,), (fc(b, rng, x, 64, "int64"),))


def dw_layer() -> Graph:
    """A 3x3 depthwise convolution (multiplier 1), SAME, on 32x32x32 (294,912 MACs)."""
    rng = np.random.default_rng(7)
    b = GraphBuilder("dw16x8_32x32x32")
    x = b.tensor("input", (1, 32, 32, 32), "int16", per_tensor(1 / 4096, 0))
    return b.build((x,), (depthwise(b, rng, x, 1, 3, 1, 1, "SAME", True),))


def model_input(graph: Graph, seed: int = 3) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    info = np.iinfo(t.dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, size=t.shape).astype(t.dtype)


def tconv_layer() -> Graph:
    """An int8 3x3 stride-2 TRANSPOSE_CONV, 16 -> 16 channels from 8x8 to 16x16 (147,456 MACs)."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("tconv_s8_8x8x16")
    x = b.tensor("input", (1, 8, 8, 16), "int8", per_tensor(0.05, -7))
    return b.build((x,), (transpose_conv(b, rng, x, 16),))


def resize_layer() -> Graph:
    """An int8 RESIZE_BILINEAR x2 with half-pixel centres, 20x20 -> 40x40 over 32 channels (a segmentation or
    detection decoder's upsampling; no MACs, four weighted taps per output value)."""
    b = GraphBuilder("resize_bilinear_s8_20x20x32")
    q = per_tensor(0.05, -7)
    x = b.tensor("input", (1, 20, 20, 32), "int8", q)
    size = b.tensor("size", (2,), "int32", None, np.array([40, 40], np.int32))
    y = b.tensor("output", (1, 40, 40, 32), "int8", q)
    b.op("RESIZE_BILINEAR", (x, size), (y,), align_corners=False, half_pixel_centers=True)
    return b.build((x,), (y,))
