"""Hypothesis strategies for small random int8 models (one operator, or a short chain of two), plus helpers
to run a written model under TFLite Micro and under tflite-runtime's reference kernels.

Quantization is realistic: symmetric int8 weights (zero point 0) per channel or per tensor, int32 biases
with scale input_scale * filter_scale, and output scales estimated from the accumulator's spread so that
outputs use the int8 range instead of saturating. Ops with fixed output quantization (SOFTMAX, LOGISTIC,
LOG_SOFTMAX) use the values TFLite requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# Op types with a single-op strategy, and the chains with a two-op strategy (name -> op types in order).
SINGLE_OPS: tuple[str, ...] = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "MUL",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "MEAN",
    "PAD",
    "RESHAPE",
    "SOFTMAX",
    "LOG_SOFTMAX",
    "LOGISTIC",
    "CONCATENATION",
    "TRANSPOSE",
    "QUANTIZE",
    "DEQUANTIZE",
)
CHAINS: dict[str, tuple[str, ...]] = {
    "PAD+CONV_2D": ("PAD", "CONV_2D"),
    "CONV_2D+MAX_POOL_2D": ("CONV_2D", "MAX_POOL_2D"),
    "FULLY_CONNECTED+SOFTMAX": ("FULLY_CONNECTED", "SOFTMAX"),
}


def f32(x: float) -> float:
    """The nearest float32, widened: the IR stores scales exactly as the flatbuffer does."""
    return float(np.float32(x))


def per_tensor(scale: float, zero_point: int) -> Quantization:
    return Quantization((f32(scale),), (int(zero_point),))


@dataclass
class GraphBuilder:
    """Accumulates tensors and operators; tensor indices are positions, as in a .tflite subgraph."""

    name: str
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str = "int8",
        quant: Quantization | None = None,
        data: np.ndarray | None = None,
    ) -> int:
        index = len(self.tensors)
        if data is not None:
            data = np.asarray(data, dtype=NUMPY_DTYPES[dtype]).reshape(shape)
        self.tensors.append(Tensor(index, name, tuple(int(d) for d in shape), dtype, quant, data))
        return index

    def const_i32(self, name: str, values: Any) -> int:
        arr = np.asarray(values, dtype=np.int32)
        return self.tensor(name, arr.shape, "int32", None, arr)

    def op(self, op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...], **options: Any) -> None:
        self.operators.append(Operator(len(self.operators), op_type, inputs, outputs, dict(options)))

    def shape(self, index: int) -> tuple[int, ...]:
        return self.tensors[index].shape

    def quant(self, index: int) -> Quantization:
        q = self.tensors[index].quant
        assert q is not None
        return q

    def build(self, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Graph:
        return Graph(list(self.tensors), list(self.operators), inputs, outputs, name=self.name)


# ---- small drawing helpers -------------------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _pow2(draw: Draw, lo: float, hi: float) -> float:
    """2**u with u drawn in [lo, hi]: scales spread evenly over orders of magnitude."""
    return 2.0 ** draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def _rng(draw: Draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _zero_point(draw: Draw) -> int:
    return draw(st.one_of(st.integers(-128, 127), st.sampled_from([-128, 0, 127])))


def _activation_quant(draw: Draw) -> Quantization:
    return per_tensor(_pow2(draw, -8, -3), _zero_point(draw))


def _shape(draw: Draw, min_rank: int = 1, max_rank: int = 4, max_dim: int = 6) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(1, max_dim)) for _ in range(rank))


def _out_size(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    eff = (k - 1) * dilation + 1
    return -(-size // stride) if padding == "SAME" else (size - eff) // stride + 1


def _weights(rng: np.random.Generator, shape: tuple[int, ...], spread: float) -> np.ndarray:
    # Trained weights are bell-shaped; `spread` sets how much of the int8 range they use.
    return np.clip(np.rint(rng.normal(0.0, spread, size=shape)), -127, 127).astype(np.int8)


def _accumulator_std(x_quant: Quantization, terms: int, weight_spread: float) -> float:
    """Standard deviation of sum((x - zp) * w) over `terms` products, x uniform over int8, w ~ N(0, spread)."""
    x_offset = -0.5 - x_quant.zero_point[0]
    x_rms = math.sqrt(256.0**2 / 12.0 + x_offset**2)
    return math.sqrt(terms) * x_rms * weight_spread


def _target_std(draw: Draw, activation: str) -> float:
    """Real-valued spread of a layer's pre-activation output, as in a trained net: O(1)."""
    return _pow2(draw, -3, 0) if activation == "RELU_N1_TO_1" else _pow2(draw, -2, 2)


def _output_quant(draw: Draw, mean: float, std: float, activation: str) -> Quantization:
    """What calibration would pick: the observed range (mean +- 3 sigma, widened to include zero as
    TFLite requires, cut to the clamp range for fused ReLUs) over int8, the spread within a factor of
    two either way, so that some outputs saturate and most do not."""
    spread = 3.0 * std * _pow2(draw, -1, 1)
    if activation == "RELU_N1_TO_1":
        lo, hi = -1.0, 1.0
    elif activation in ("RELU", "RELU6"):
        # Above 6 for RELU6 now and then, which exercises the clamp at quantize(6).
        lo, hi = 0.0, mean + spread if mean + spread > 0 else spread
    else:
        lo, hi = min(0.0, mean - spread), max(0.0, mean + spread)
    scale = (hi - lo) / 255.0 * _pow2(draw, -0.5, 0.5)
    zero_point = round(-128 - lo / scale) + (0 if activation in ("RELU", "RELU6") else draw(st.integers(-8, 8)))
    return per_tensor(scale, int(np.clip(zero_point, -128, 127)))


@dataclass(frozen=True)
class _Layer:
    """Quantization of a weighted layer (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)."""

    activation: str
    spread: float  # standard deviation of the int8 weights
    acc_std: float  # of the int32 accumulator, in accumulator units
    w_quant: Quantization
    out_quant: Quantization


def _layer(draw: Draw, x_quant: Quantization, terms: int, channels: int, axis: int, per_channel: bool) -> _Layer:
    activation = draw(st.sampled_from(ACTIVATIONS))
    spread = _pow2(draw, 3, 6)
    acc_std = _accumulator_std(x_quant, terms, spread)
    std = _target_std(draw, activation)
    # Weight scale that makes the real accumulator's spread `std`; per channel within 2x of it.
    base = std / (acc_std * x_quant.scale[0])
    if per_channel:
        scales = tuple(f32(base * _pow2(draw, -1, 1)) for _ in range(channels))
        w_quant = Quantization(scales, (0,) * channels, axis)
    else:
        w_quant = per_tensor(base, 0)
    return _Layer(activation, spread, acc_std, w_quant, _output_quant(draw, 0.0, std, activation))


def _bias_tensor(b: GraphBuilder, rng: np.random.Generator, x_quant: Quantization, layer: _Layer, n: int) -> int:
    """int32 bias, scale input_scale * filter_scale[c] (as float32, like the converter), zero point 0."""
    scales = tuple(f32(x_quant.scale[0] * s) for s in layer.w_quant.scale)
    data = np.rint(rng.normal(0.0, layer.acc_std / 2.0, size=n)).astype(np.int32)
    return b.tensor("bias", (n,), "int32", Quantization(scales, (0,) * len(scales), 0), data)


# ---- one operator each, appended to a builder; each returns its output tensor ----------------------------


def _conv2d(draw: Draw, b: GraphBuilder, x: int, padding: str | None = None) -> int:
    n, h, w, cin = b.shape(x)
    x_quant = b.quant(x)
    rng = _rng(draw)
    padding = padding or draw(st.sampled_from(["SAME", "VALID"]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh = draw(st.sampled_from([1, 1, 2])) if kh > 1 else 1
    dw = draw(st.sampled_from([1, 1, 2])) if kw > 1 else 1
    if padding == "VALID":  # keep at least one output position
        kh = min(kh, (h - 1) // dh + 1)
        kw = min(kw, (w - 1) // dw + 1)
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    cout = draw(st.integers(1, 8))
    layer = _layer(draw, x_quant, kh * kw * cin, cout, 0, draw(st.booleans()))
    shape = (cout, kh, kw, cin)
    filt = b.tensor("filter", shape, "int8", layer.w_quant, _weights(rng, shape, layer.spread))
    bias = _bias_tensor(b, rng, x_quant, layer, cout)
    oh, ow = _out_size(h, kh, sh, dh, padding), _out_size(w, kw, sw, dw, padding)
    y = b.tensor("conv_out", (n, oh, ow, cout), "int8", layer.out_quant)
    b.op(
        "CONV_2D", (x, filt, bias), (y,),
        padding=padding, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, activation=layer.activation,
    )
    return y


def _depthwise(draw: Draw, b: GraphBuilder, x: int) -> int:
    n, h, w, cin = b.shape(x)
    x_quant = b.quant(x)
    rng = _rng(draw)
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh = draw(st.sampled_from([1, 1, 2])) if kh > 1 else 1
    dw = draw(st.sampled_from([1, 1, 2])) if kw > 1 else 1
    if padding == "VALID":
        kh = min(kh, (h - 1) // dh + 1)
        kw = min(kw, (w - 1) // dw + 1)
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    mult = draw(st.sampled_from([1, 2, 3, 8]))
    cout = cin * mult
    layer = _layer(draw, x_quant, kh * kw, cout, 3, draw(st.booleans()))
    shape = (1, kh, kw, cout)
    filt = b.tensor("filter", shape, "int8", layer.w_quant, _weights(rng, shape, layer.spread))
    bias = _bias_tensor(b, rng, x_quant, layer, cout)
    oh, ow = _out_size(h, kh, sh, dh, padding), _out_size(w, kw, sw, dw, padding)
    y = b.tensor("dw_out", (n, oh, ow, cout), "int8", layer.out_quant)
    b.op(
        "DEPTHWISE_CONV_2D", (x, filt, bias), (y,),
        padding=padding, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        depth_multiplier=mult, activation=layer.activation,
    )
    return y


def _fully_connected(
    draw: Draw, b: GraphBuilder, x: int, keep_num_dims: bool = False, min_units: int = 1
) -> int:
    shape = b.shape(x)
    x_quant = b.quant(x)
    rng = _rng(draw)
    depth = shape[-1] if keep_num_dims else int(np.prod(shape[1:], dtype=np.int64))
    units = draw(st.integers(min_units, 16))
    layer = _layer(draw, x_quant, depth, units, 0, per_channel=False)
    filt = b.tensor("weights", (units, depth), "int8", layer.w_quant, _weights(rng, (units, depth), layer.spread))
    bias = _bias_tensor(b, rng, x_quant, layer, units) if draw(st.integers(0, 3)) else -1
    out_shape = (*shape[:-1], units) if keep_num_dims else (shape[0], units)
    y = b.tensor("fc_out", out_shape, "int8", layer.out_quant)
    b.op(
        "FULLY_CONNECTED", (x, filt, bias), (y,),
        activation=layer.activation, weights_format=0, keep_num_dims=keep_num_dims,
    )
    return y


def _pool(draw: Draw, b: GraphBuilder, x: int, op_type: str, activation: str = "NONE") -> int:
    n, h, w, c = b.shape(x)
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if padding == "VALID":
        fh, fw = min(fh, h), min(fw, w)
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    oh, ow = _out_size(h, fh, sh, 1, padding), _out_size(w, fw, sw, 1, padding)
    # TFLite pools never rescale: the output keeps the input's quantization.
    y = b.tensor("pool_out", (n, oh, ow, c), "int8", b.quant(x))
    b.op(
        op_type, (x,), (y,), padding=padding, stride_h=sh, stride_w=sw, filter_h=fh, filter_w=fw,
        activation=activation,
    )
    return y


def _softmax(draw: Draw, b: GraphBuilder, x: int) -> int:
    y = b.tensor("softmax_out", b.shape(x), "int8", per_tensor(1.0 / 256.0, -128))
    beta = draw(st.one_of(st.just(1.0), st.sampled_from([0.5, 2.0]), st.floats(0.1, 3.0).map(f32)))
    b.op("SOFTMAX", (x,), (y,), beta=beta)
    return y


def _int8_input(draw: Draw, b: GraphBuilder, shape: tuple[int, ...], name: str = "input") -> int:
    return b.tensor(name, shape, "int8", _activation_quant(draw))


def _nhwc(draw: Draw, max_hw: int = 10, max_c: int = 8) -> tuple[int, int, int, int]:
    # Batch 1: what runs on a microcontroller (the conv kernels refuse larger batches).
    return (
        1,
        draw(st.integers(1, max_hw)),
        draw(st.integers(1, max_hw)),
        draw(st.integers(1, max_c)),
    )


# ---- single-op graph strategies --------------------------------------------------------------------------


@st.composite
def conv2d_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("conv_2d")
    x = _int8_input(draw, b, _nhwc(draw))
    y = _conv2d(draw, b, x)
    return b.build((x,), (y,))


@st.composite
def depthwise_conv2d_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("depthwise_conv_2d")
    x = _int8_input(draw, b, _nhwc(draw, max_c=6))
    y = _depthwise(draw, b, x)
    return b.build((x,), (y,))


@st.composite
def fully_connected_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("fully_connected")
    form = draw(st.sampled_from(["2d", "2d", "4d", "keep_num_dims"]))
    if form == "2d":
        shape: tuple[int, ...] = (draw(st.integers(1, 3)), draw(st.integers(1, 40)))
    elif form == "4d":  # flattened input, as after a conv stack
        shape = (1, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    else:
        shape = (1, draw(st.integers(1, 3)), draw(st.integers(1, 24)))
    x = _int8_input(draw, b, shape)
    y = _fully_connected(draw, b, x, keep_num_dims=form == "keep_num_dims")
    return b.build((x,), (y,))


def _broadcast_pair(draw: Draw) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    full = _shape(draw, 1, 4, 5)
    if draw(st.booleans()):
        return full, full, full
    other = tuple(1 if draw(st.booleans()) else d for d in full)
    other = other[draw(st.integers(0, len(other) - 1)) :]  # numpy-style: missing leading dims broadcast
    out = tuple(full)
    return (full, other, out) if draw(st.booleans()) else (other, full, out)


def _moments(q: Quantization) -> tuple[float, float]:
    """Mean and standard deviation of the real value of a full-range uniform int8 tensor."""
    return q.scale[0] * (-0.5 - q.zero_point[0]), q.scale[0] * 256.0 / math.sqrt(12.0)


def _binary_graphs(op_type: str) -> st.SearchStrategy[Graph]:
    @st.composite
    def graphs(draw: Draw) -> Graph:
        b = GraphBuilder(op_type.lower())
        s1, s2, so = _broadcast_pair(draw)
        x1 = _int8_input(draw, b, s1, "input1")
        x2 = _int8_input(draw, b, s2, "input2")
        (m1, d1), (m2, d2) = _moments(b.quant(x1)), _moments(b.quant(x2))
        if op_type == "ADD":
            mean, std = m1 + m2, math.hypot(d1, d2)
        else:
            mean = m1 * m2
            std = math.sqrt((d1**2 + m1**2) * (d2**2 + m2**2) - (m1 * m2) ** 2)
        # Mostly plain: a clamp to [-1, 1] of full-range operands rarely leaves anything unsaturated.
        activation = draw(st.sampled_from(("NONE", "NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1")))
        y = b.tensor("output", so, "int8", _output_quant(draw, mean, std, activation))
        b.op(op_type, (x1, x2), (y,), activation=activation)
        return b.build((x1, x2), (y,))

    return graphs()


def _pool_graphs(op_type: str) -> st.SearchStrategy[Graph]:
    @st.composite
    def graphs(draw: Draw) -> Graph:
        b = GraphBuilder(op_type.lower())
        activation = draw(st.sampled_from(("NONE", "NONE", "RELU", "RELU6")))
        if activation == "NONE":
            x = _int8_input(draw, b, _nhwc(draw))
        else:  # a fused ReLU follows ReLU-range data: zero near the bottom of the int8 range
            quant = per_tensor(_pow2(draw, -8, -4), draw(st.integers(-128, -96)))
            x = b.tensor("input", _nhwc(draw), "int8", quant)
        y = _pool(draw, b, x, op_type, activation)
        return b.build((x,), (y,))

    return graphs()


@st.composite
def mean_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("mean")
    shape = _nhwc(draw, max_hw=6) if draw(st.booleans()) else _shape(draw, 2, 4, 5)
    rank = len(shape)
    keep_dims = draw(st.booleans())
    if rank == 4 and draw(st.booleans()):
        axes = [1, 2]  # global average pooling, the common case (TFLM has a fast path for it)
    else:
        axes = sorted(draw(st.sets(st.integers(0, rank - 1), min_size=1, max_size=rank)))
    if not keep_dims and len(axes) == rank:
        axes = axes[:-1]  # keep a non-scalar output
    axis_values = [a - rank if draw(st.booleans()) else a for a in axes]
    if draw(st.booleans()):
        axis_values = list(reversed(axis_values))
    x = _int8_input(draw, b, shape)
    axis = b.const_i32("axis", axis_values)
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep_dims else tuple(
        d for i, d in enumerate(shape) if i not in axes
    )
    if draw(st.booleans()):
        out_quant = b.quant(x)
    else:  # requantizing: calibrated to the spread of the means
        count = int(np.prod([shape[a] for a in axes]))
        mean, std = _moments(b.quant(x))
        out_quant = _output_quant(draw, mean, std / math.sqrt(count), "NONE")
    y = b.tensor("output", out_shape, "int8", out_quant)
    b.op("MEAN", (x, axis), (y,), keep_dims=keep_dims)
    return b.build((x,), (y,))


def _pad(draw: Draw, b: GraphBuilder, x: int, spatial_only: bool = False) -> int:
    shape = b.shape(x)
    pads = []
    for i in range(len(shape)):
        if spatial_only and i in (0, 3):
            pads.append([0, 0])
        else:
            pads.append([draw(st.integers(0, 3)), draw(st.integers(0, 3))])
    paddings = b.const_i32("paddings", pads)
    out_shape = tuple(d + p[0] + p[1] for d, p in zip(shape, pads, strict=True))
    y = b.tensor("pad_out", out_shape, "int8", b.quant(x))
    b.op("PAD", (x, paddings), (y,))
    return y


@st.composite
def pad_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("pad")
    x = _int8_input(draw, b, _shape(draw, 1, 4, 5))
    y = _pad(draw, b, x)
    return b.build((x,), (y,))


def _factor_shape(draw: Draw, total: int, rank: int) -> tuple[int, ...]:
    dims = [1] * rank
    n, p = total, 2
    while n > 1:
        while n % p == 0:
            dims[draw(st.integers(0, rank - 1))] *= p
            n //= p
        p += 1
    return tuple(dims)


@st.composite
def reshape_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("reshape")
    in_shape = _shape(draw, 1, 4, 6)
    out_shape = _factor_shape(draw, int(np.prod(in_shape)), draw(st.integers(1, 4)))
    x = _int8_input(draw, b, in_shape)
    inputs: tuple[int, ...] = (x,)
    if draw(st.integers(0, 3)):  # usually a shape operand, sometimes with one inferred (-1) dimension
        values = list(out_shape)
        if draw(st.booleans()):
            values[draw(st.integers(0, len(values) - 1))] = -1
        inputs = (x, b.const_i32("shape", values))
    y = b.tensor("output", out_shape, "int8", b.quant(x))
    b.op("RESHAPE", inputs, (y,))
    return b.build((x,), (y,))


def _logits_shape(draw: Draw) -> tuple[int, ...]:
    if draw(st.booleans()):
        return (draw(st.integers(1, 3)), draw(st.integers(2, 20)))
    return (1, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(2, 10)))


def _logits_input(draw: Draw, b: GraphBuilder) -> int:
    # Logits spread over +-0.5 .. +-8.
    return b.tensor("input", _logits_shape(draw), "int8", per_tensor(_pow2(draw, -8, -4), _zero_point(draw)))


@st.composite
def softmax_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("softmax")
    x = _logits_input(draw, b)
    y = _softmax(draw, b, x)
    return b.build((x,), (y,))


@st.composite
def log_softmax_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("log_softmax")
    x = _logits_input(draw, b)
    y = b.tensor("output", b.shape(x), "int8", per_tensor(16.0 / 256.0, 127))
    b.op("LOG_SOFTMAX", (x,), (y,))
    return b.build((x,), (y,))


@st.composite
def logistic_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("logistic")
    # Inputs over +-0.5 .. +-8: the curved part of the sigmoid and the start of its saturation.
    x = b.tensor("input", _shape(draw, 1, 4, 6), "int8", per_tensor(_pow2(draw, -8, -4), _zero_point(draw)))
    y = b.tensor("output", b.shape(x), "int8", per_tensor(1.0 / 256.0, -128))
    b.op("LOGISTIC", (x,), (y,))
    return b.build((x,), (y,))


@st.composite
def concatenation_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("concatenation")
    base = _shape(draw, 1, 4, 4)
    rank = len(base)
    axis = draw(st.integers(-rank, rank - 1))
    quant = _activation_quant(draw)  # TFLM requires one quantization for all operands
    inputs = []
    for i in range(draw(st.integers(2, 4))):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 4))
        inputs.append(b.tensor(f"input{i}", tuple(shape), "int8", quant))
    out_shape = list(base)
    out_shape[axis] = sum(b.shape(i)[axis] for i in inputs)
    y = b.tensor("output", tuple(out_shape), "int8", quant)
    b.op("CONCATENATION", tuple(inputs), (y,), axis=axis, activation="NONE")
    return b.build(tuple(inputs), (y,))


@st.composite
def transpose_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("transpose")
    shape = _shape(draw, 1, 4, 5)
    perm = draw(st.permutations(range(len(shape))))
    x = _int8_input(draw, b, shape)
    p = b.const_i32("perm", perm)
    y = b.tensor("output", tuple(shape[i] for i in perm), "int8", b.quant(x))
    b.op("TRANSPOSE", (x, p), (y,))
    return b.build((x,), (y,))


@st.composite
def quantize_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("quantize")
    x = b.tensor("input", _shape(draw, 1, 4, 6), "float32")
    y = b.tensor("output", b.shape(x), "int8", per_tensor(_pow2(draw, -8, -1), _zero_point(draw)))
    b.op("QUANTIZE", (x,), (y,))
    return b.build((x,), (y,))


@st.composite
def dequantize_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("dequantize")
    x = b.tensor("input", _shape(draw, 1, 4, 6), "int8", per_tensor(_pow2(draw, -10, 0), _zero_point(draw)))
    y = b.tensor("output", b.shape(x), "float32")
    b.op("DEQUANTIZE", (x,), (y,))
    return b.build((x,), (y,))


# ---- two-op chains ----------------------------------------------------------------------------------------


@st.composite
def pad_conv2d_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("pad_conv_2d")
    x = _int8_input(draw, b, _nhwc(draw, max_hw=8))
    p = _pad(draw, b, x, spatial_only=True)
    y = _conv2d(draw, b, p, padding="VALID")
    return b.build((x,), (y,))


@st.composite
def conv2d_maxpool_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("conv_2d_max_pool_2d")
    x = _int8_input(draw, b, _nhwc(draw))
    c = _conv2d(draw, b, x)
    y = _pool(draw, b, c, "MAX_POOL_2D")
    return b.build((x,), (y,))


@st.composite
def fc_softmax_graphs(draw: Draw) -> Graph:
    b = GraphBuilder("fully_connected_softmax")
    x = _int8_input(draw, b, (1, draw(st.integers(1, 40))))
    h = _fully_connected(draw, b, x, min_units=2)
    y = _softmax(draw, b, h)
    return b.build((x,), (y,))


STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Graph]]] = {
    "CONV_2D": conv2d_graphs,
    "DEPTHWISE_CONV_2D": depthwise_conv2d_graphs,
    "FULLY_CONNECTED": fully_connected_graphs,
    "ADD": lambda: _binary_graphs("ADD"),
    "MUL": lambda: _binary_graphs("MUL"),
    "AVERAGE_POOL_2D": lambda: _pool_graphs("AVERAGE_POOL_2D"),
    "MAX_POOL_2D": lambda: _pool_graphs("MAX_POOL_2D"),
    "MEAN": mean_graphs,
    "PAD": pad_graphs,
    "RESHAPE": reshape_graphs,
    "SOFTMAX": softmax_graphs,
    "LOG_SOFTMAX": log_softmax_graphs,
    "LOGISTIC": logistic_graphs,
    "CONCATENATION": concatenation_graphs,
    "TRANSPOSE": transpose_graphs,
    "QUANTIZE": quantize_graphs,
    "DEQUANTIZE": dequantize_graphs,
    "PAD+CONV_2D": pad_conv2d_graphs,
    "CONV_2D+MAX_POOL_2D": conv2d_maxpool_graphs,
    "FULLY_CONNECTED+SOFTMAX": fc_softmax_graphs,
}


def graphs(case: str) -> st.SearchStrategy[Graph]:
    """Strategy for one case: an op type of SINGLE_OPS or a chain name of CHAINS."""
    return STRATEGIES[case]()


def op_types(case: str) -> tuple[str, ...]:
    return CHAINS.get(case, (case,))


def any_graph() -> st.SearchStrategy[Graph]:
    return st.sampled_from(sorted(STRATEGIES)).flatmap(graphs)


# ---- inputs and runtimes ----------------------------------------------------------------------------------


def random_inputs(graph: Graph, rng: np.random.Generator) -> list[np.ndarray]:
    """One array per graph input: full-range integers, or floats around the consuming QUANTIZE's range
    with a quarter of them exactly on rounding ties (k + 0.5) * scale."""
    arrays = []
    for index in graph.inputs:
        t = graph.tensor(index)
        if t.dtype == "float32":
            arrays.append(_float_input(graph, index, rng))
        else:
            info = np.iinfo(NUMPY_DTYPES[t.dtype])
            arrays.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype))
    return arrays


def _float_input(graph: Graph, index: int, rng: np.random.Generator) -> np.ndarray:
    shape = graph.tensor(index).shape
    consumer = next((op for op in graph.operators if index in op.inputs and op.op_type == "QUANTIZE"), None)
    if consumer is None:
        return rng.uniform(-4.0, 4.0, size=shape).astype(np.float32)
    out = graph.tensor(consumer.outputs[0])
    scale, zp = out.scale, out.zero_point
    lo, hi = scale * (-128 - zp) * 1.1, scale * (127 - zp) * 1.1
    values = rng.uniform(lo, hi, size=shape)
    ties = (rng.integers(-140, 140, size=shape) - zp + 0.5) * scale
    return np.where(rng.random(size=shape) < 0.25, ties, values).astype(np.float32)


def _arena_bytes(graph: Graph, model: bytes) -> int:
    activations = sum(t.nbytes for t in graph.tensors if not t.is_const)
    return 64 * 1024 + 4 * activations + 2 * len(model)


def run_tflm(model: bytes, inputs: list[np.ndarray], graph: Graph | None = None) -> list[np.ndarray]:
    """Run under the TFLite Micro Python runtime (reference kernels): the golden semantics."""
    from tflite_micro.python.tflite_micro import runtime

    arena = _arena_bytes(graph, model) if graph is not None else 10 * len(model) + 1024 * 1024
    interp = runtime.Interpreter.from_bytes(model, arena_size=arena)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    n_outputs = len(graph.outputs) if graph is not None else 1
    return [np.array(interp.get_output(i)) for i in range(n_outputs)]


def run_builtin_ref(model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run under tflite-runtime with its reference kernels (never the optimised default ones)."""
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    for detail, x in zip(interp.get_input_details(), inputs, strict=True):
        interp.set_tensor(detail["index"], np.ascontiguousarray(x))
    interp.invoke()
    return [np.array(interp.get_tensor(d["index"])) for d in interp.get_output_details()]


def conv_chain(size: int = 4, kernels: tuple[int, ...] = (1, 1, 1), scale: float = 1.0) -> Graph:
    """int8 input 1 x size x size x 1 (scale 1, zero point 0), then single-channel convolutions of weight 1 and
    bias 0, SAME padding, no activation: with scale 1 each 1x1 layer copies its input exactly."""
    b = GraphBuilder("chain")
    x = first = b.tensor("input", (1, size, size, 1), "int8", per_tensor(1.0, 0))
    for n, k in enumerate(kernels):
        w = b.tensor(f"w{n}", (1, k, k, 1), "int8", per_tensor(1.0, 0), np.ones((1, k, k, 1), np.int8))
        bias = b.tensor(f"b{n}", (1,), "int32", Quantization((1.0,), (0,), 0), np.zeros(1, np.int32))
        y = b.tensor(f"y{n}", (1, size, size, 1), "int8", per_tensor(scale, 0))
        b.op("CONV_2D", (x, w, bias), (y,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
             activation="NONE")
        x = y
    return b.build((first,), (x,))
