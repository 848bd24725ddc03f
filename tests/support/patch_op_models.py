"""Small models with one element-wise, activation or resize operator in the middle of a patchable first stage:
conv 3x3 -> OP -> depthwise 3x3 stride 2 -> MAX_POOL_2D. The stride-2 depthwise shrinks the tensor, so a
schedule that splits after it (the OP inside stage 1) is what lowers the peak below per-layer execution.
`int8_model(kind)` builds the int8 variant, `int16_model(kind)` the 16x8 one (float -> QUANTIZE int16 -> ... ->
DEQUANTIZE), whose convolution, depthwise convolution and pool are the int16 kernels."""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Quantization
from tests.support.model_factory import GraphBuilder, f32, per_tensor

INT8_KINDS = ("LEAKY_RELU", "PRELU", "RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "TANH", "LOGISTIC", "SUB",
              "SUB_CONST", "ADD_CONST", "MUL_CONST", "MINIMUM", "MAXIMUM", "SQUARED_DIFFERENCE",
              "RESIZE_NEAREST_NEIGHBOR")
INT16_KINDS = ("LEAKY_RELU", "RELU", "RELU6", "TANH", "LOGISTIC", "ADD", "SUB_CONST", "MUL_CONST", "MAXIMUM",
               "AVERAGE_POOL_2D")
SHAPE = (1, 24, 16, 4)
_SAME = dict(padding="SAME", dilation_h=1, dilation_w=1, activation="NONE")


class _Builder:
    def __init__(self, name: str, dtype: str, seed: int):
        self.b = GraphBuilder(name)
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)

    def q(self, scale: float, zp: int) -> Quantization:
        return per_tensor(scale, zp if self.dtype == "int8" else 0)

    def act(self, name: str, shape: tuple[int, ...], q: Quantization) -> int:
        return self.b.tensor(name, shape, self.dtype, q)

    def const(self, name: str, shape: tuple[int, ...], q: Quantization, lo: int, hi: int) -> int:
        return self.b.tensor(name, shape, self.dtype, q, self.rng.integers(lo, hi, size=shape))

    def _bias(self, name: str, xq: Quantization, w_scales: tuple[float, ...], n: int) -> int:
        if self.dtype == "int16":
            return self.b.tensor(name, (n,), "int64", None, self.rng.integers(-3000, 3000, size=n))
        return self.b.tensor(name, (n,), "int32", Quantization(tuple(f32(xq.scale[0] * s) for s in w_scales),
                                                               (0,) * n, 0), self.rng.integers(-800, 800, size=n))

    def conv(self, x: int, cout: int, out_q: Quantization) -> int:
        n, h, w, cin = self.b.shape(x)
        scales = tuple(f32(s) for s in self.rng.uniform(0.001, 0.002, size=cout))
        filt = self.b.tensor("conv_w", (cout, 3, 3, cin), "int8", Quantization(scales, (0,) * cout, 0),
                             self.rng.integers(-127, 128, size=(cout, 3, 3, cin)))
        bias = self._bias("conv_b", self.b.quant(x), scales, cout)
        y = self.act("conv", (n, h, w, cout), out_q)
        self.b.op("CONV_2D", (x, filt, bias), (y,), stride_h=1, stride_w=1, **_SAME)
        return y

    def depthwise(self, x: int, stride: int, out_q: Quantization, name: str) -> int:
        n, h, w, c = self.b.shape(x)
        scales = tuple(f32(s) for s in self.rng.uniform(0.004, 0.006, size=c))
        filt = self.b.tensor(f"{name}_w", (1, 3, 3, c), "int8", Quantization(scales, (0,) * c, 3),
                             self.rng.integers(-127, 128, size=(1, 3, 3, c)))
        bias = self._bias(f"{name}_b", self.b.quant(x), scales, c)
        y = self.act(name, (n, -(-h // stride), -(-w // stride), c), out_q)
        self.b.op("DEPTHWISE_CONV_2D", (x, filt, bias), (y,), stride_h=stride, stride_w=stride,
                  depth_multiplier=1, **_SAME)
        return y


def _middle(m: _Builder, kind: str, c: int) -> int:
    """The operator under test applied to the convolution's output `c`; returns its output."""
    b, shape, cq = m.b, m.b.shape(c), m.b.quant(c)
    channels = shape[3]
    if kind in ("RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "TANH", "LOGISTIC", "LEAKY_RELU"):
        out_q = {"RELU6": cq, "TANH": m.q(1 / 128, 0), "LOGISTIC": m.q(1 / 256, -128),
                 "RELU_N1_TO_1": m.q(1 / 128, 0)}.get(kind, m.q(0.03, -20))
        if m.dtype == "int16" and kind in ("TANH", "LOGISTIC"):
            out_q = per_tensor(2.0**-15, 0)  # the only int16 output quantization TFLM gives them
        elif m.dtype == "int16" and kind != "RELU6":
            out_q = per_tensor(1 / 1500, 0)
        y = m.act(kind.lower(), shape, out_q)
        b.op(kind, (c,), (y,), **({"alpha": f32(0.2)} if kind == "LEAKY_RELU" else {}))
        return y
    if kind == "PRELU":
        alpha = m.const("alpha", (1, 1, channels), per_tensor(0.01, 0), -60, 60)
        y = m.act("prelu", shape, m.q(0.03, -10))
        b.op("PRELU", (c, alpha), (y,))
        return y
    if kind == "RESIZE_NEAREST_NEIGHBOR":
        y = m.act("up", (1, 2 * shape[1], 2 * shape[2], channels), cq)
        b.op(kind, (c, b.const_i32("size", [2 * shape[1], 2 * shape[2]])), (y,), align_corners=False,
             half_pixel_centers=False)
        return y
    if kind == "AVERAGE_POOL_2D":
        y = m.act("avg", shape, cq)
        b.op(kind, (c,), (y,), padding="SAME", stride_h=1, stride_w=1, filter_h=3, filter_w=3, activation="NONE")
        return y
    op_type = kind.removesuffix("_CONST")
    if kind.endswith("_CONST"):  # a per-channel constant, the same at every pixel
        lo, hi = (-100, 100) if m.dtype == "int8" else (-8000, 8000)
        other = m.const("k", (1, 1, 1, channels), m.q(0.02, 5), lo, hi)
    else:  # a runtime operand of the same shape: a depthwise branch beside the operator
        other = m.depthwise(c, 1, cq, "branch")
    out_q = cq if op_type in ("MINIMUM", "MAXIMUM") else m.q(0.1 if kind == "SQUARED_DIFFERENCE" else 0.05, -7)
    if m.dtype == "int16" and op_type not in ("MINIMUM", "MAXIMUM"):
        out_q = per_tensor(1 / 700, 0)
    y = m.act(op_type.lower(), shape, out_q)
    b.op(op_type, (c, other), (y,), **({"activation": "NONE"} if op_type in ("ADD", "SUB", "MUL") else {}))
    return y


def int8_model(kind: str, seed: int = 0, *more: str) -> Graph:
    """With `more`, those operators follow `kind` in order (distinct kinds)."""
    m = _Builder(f"patch_{kind.lower()}", "int8", seed)
    x = m.act("input", SHAPE, m.q(0.05, -3))
    y = m.conv(x, 8, m.q(0.04, 2))
    for k in (kind, *more):
        y = _middle(m, k, y)
    d = m.depthwise(y, 2, m.q(0.05, 1), "dw")
    _, h, w, ch = m.b.shape(d)
    out = m.act("pool", (1, h // 2, w // 2, ch), m.b.quant(d))
    m.b.op("MAX_POOL_2D", (d,), (out,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
           activation="NONE")
    return m.b.build((x,), (out,))


def int16_model(kind: str, seed: int = 0, *more: str) -> Graph:
    m = _Builder(f"patch16_{kind.lower()}", "int16", seed)
    x = m.b.tensor("input", SHAPE, "float32")
    xq = m.act("input_q", SHAPE, per_tensor(1 / 8192, 0))
    m.b.op("QUANTIZE", (x,), (xq,))
    y = m.conv(xq, 8, per_tensor(1 / 1024, 0))
    for k in (kind, *more):
        y = _middle(m, k, y)
    d = m.depthwise(y, 2, per_tensor(1 / 512, 0), "dw")
    _, h, w, ch = m.b.shape(d)
    p = m.act("pool", (1, h // 2, w // 2, ch), m.b.quant(d))
    m.b.op("MAX_POOL_2D", (d,), (p,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
           activation="NONE")
    out = m.b.tensor("output", m.b.shape(p), "float32")
    m.b.op("DEQUANTIZE", (p,), (out,))
    return m.b.build((x,), (out,))


def model_input(graph: Graph, seed: int = 1) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return rng.uniform(-3.5, 3.5, size=t.shape).astype(np.float32)
    return rng.integers(-128, 128, size=t.shape).astype(np.int8)
