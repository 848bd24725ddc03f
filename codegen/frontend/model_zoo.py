"""Int8 MobileNetV2 / MCUNet / ProxylessNAS networks with random weights, built as TFLite-style graphs.

The architectures come from mit-han-lab/mcunet's JSON descriptions (ProxylessNASNets: first_conv, a list of
MobileInvertedResidualBlock, an optional feature_mix_layer, a LinearLayer classifier) or from the standard
MobileNetV2 layout with a width multiplier. They serve to test and benchmark whole networks (memory plans,
patch-based inference) where only the shapes and realistic int8 statistics matter, not trained weights.

The graphs look like what the TFLite converter makes of a BatchNorm-folded PyTorch model:
- int8 input 1 x R x R x 3, int8 logits output;
- CONV_2D / DEPTHWISE_CONV_2D with per-channel symmetric int8 weights, int32 biases of scale
  input_scale * filter_scale[c], ReLU6 fused; the projecting 1x1 conv has no activation;
- a residual ADD where the block has an identity shortcut;
- AVERAGE_POOL_2D over the whole feature map, RESHAPE to 1 x C, FULLY_CONNECTED (per-tensor weights);
- TFLite SAME padding everywhere (the nets are random, PyTorch's symmetric padding is not reproduced).

Quantization is chosen as calibration would choose it. Each activation tensor carries a per-channel estimate
of its mean and variance (in real units) under the test input distribution (uniform over the int8 range).
A weighted layer draws Gaussian weights, scales each output channel so its pre-activation has a chosen
spread, and sets the bias to give a chosen mean, exactly as folding BatchNorm into the weights does; the
moments then go through ReLU6 (Gauss-Hermite quadrature), ADD and pooling. Each output's int8 range is the
estimated min/max over channels (mean +- 4 sigma), so activations use most of the int8 range and rarely
saturate.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor

# ProxylessNAS defaults to relu6; h_swish (MobileNetV3, MCUNetV2) is a HARD_SWISH operator after the conv.
_ACTIVATIONS = {"relu6": "RELU6", "relu": "RELU", "h_swish": "HARD_SWISH", None: "RELU6"}
_SIGMAS = 4.0  # calibrated range: mean +- this many standard deviations
_INPUT_SCALE = 1.0 / 128.0  # input image in [-1, 1)
# Gauss-Hermite nodes (probabilists' weight exp(-x^2/2)) for moments of an activation of a Gaussian.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(2.0 * math.pi)

# MobileNetV2 inverted residual settings: expand ratio t, channels c, repeats n, first stride s.
MBV2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _f32(x: float) -> float:
    return float(np.float32(x))


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channels rounded to the nearest multiple of `divisor`, never 10% below `value` (MobileNet)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass
class _Activation:
    """A non-constant tensor with its estimated per-channel real-valued moments."""

    index: int
    mean: np.ndarray  # per channel, real units
    var: np.ndarray


@dataclass
class _Builder:
    """Appends tensors and operators; draws weights from one random generator."""

    name: str
    rng: np.random.Generator
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)

    def tensor(
        self, name: str, shape: tuple[int, ...], dtype: str, quant: Quantization | None, data: Any = None
    ) -> int:
        index = len(self.tensors)
        array = None if data is None else np.asarray(data, dtype=NUMPY_DTYPES[dtype]).reshape(shape)
        self.tensors.append(Tensor(index, name, tuple(int(d) for d in shape), dtype, quant, array))
        return index

    def op(self, op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...], **options: Any) -> None:
        self.operators.append(Operator(len(self.operators), op_type, inputs, outputs, dict(options)))

    def shape(self, x: _Activation) -> tuple[int, ...]:
        return self.tensors[x.index].shape

    def quant(self, x: _Activation) -> Quantization:
        q = self.tensors[x.index].quant
        assert q is not None
        return q


def _range_quant(lo: float, hi: float) -> Quantization:
    """Asymmetric int8 quantization of [lo, hi], widened to include 0 as TFLite requires."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0.0:
        hi = lo + 1e-3
    scale = _f32((hi - lo) / 255.0)
    zero_point = int(np.clip(round(-128 - lo / scale), -128, 127))
    return Quantization((scale,), (zero_point,))


def _activated_moments(mean: np.ndarray, std: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of act(z) for z ~ N(mean, std^2), per channel."""
    z = mean[:, None] + std[:, None] * _GH_NODES[None, :]
    if activation == "RELU6":
        z = np.clip(z, 0.0, 6.0)
    elif activation == "RELU":
        z = np.maximum(z, 0.0)
    elif activation == "HARD_SWISH":
        z = _hard_swish(z)
    m1 = z @ _GH_WEIGHTS
    m2 = (z * z) @ _GH_WEIGHTS
    return m1, np.maximum(m2 - m1 * m1, 1e-12)


def _hard_swish(z: np.ndarray) -> np.ndarray:
    return z * np.clip(z + 3.0, 0.0, 6.0) / 6.0


def _output_quant(mean: np.ndarray, std: np.ndarray, activation: str) -> Quantization:
    lo = float(np.min(mean - _SIGMAS * std))
    hi = float(np.max(mean + _SIGMAS * std))
    if activation == "HARD_SWISH":  # decreasing below -1.5 (its minimum, -0.375), increasing above
        low = float(_hard_swish(np.array(lo))) if lo > -1.5 else -0.375
        return _range_quant(low, float(_hard_swish(np.array(hi))))
    if activation == "RELU6":
        return _range_quant(0.0, min(hi, 6.0))
    if activation == "RELU":
        return _range_quant(0.0, hi)
    return _range_quant(lo, hi)


def _quantize_weights(w: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """Symmetric per-channel int8 (max-abs over each channel / 127), as the converter quantizes filters."""
    other = tuple(a for a in range(w.ndim) if a != axis)
    max_abs = np.max(np.abs(w), axis=other)
    scales = tuple(_f32(m / 127.0) if m > 0 else _f32(1e-6) for m in max_abs)
    shape = [1] * w.ndim
    shape[axis] = -1
    s = np.asarray(scales, dtype=np.float64).reshape(shape)
    q = np.clip(np.rint(w / s), -127, 127).astype(np.int8)
    return q, scales


def _bias(b: _Builder, name: str, real: np.ndarray, in_scale: float, w_scales: tuple[float, ...]) -> int:
    """int32 bias of scale input_scale * filter_scale (per channel or per tensor), zero point 0."""
    scales = tuple(_f32(in_scale * s) for s in w_scales)
    per = np.broadcast_to(np.asarray(scales, dtype=np.float64), real.shape)
    data = np.clip(np.rint(real / per), -(2**31), 2**31 - 1).astype(np.int32)
    return b.tensor(name, (len(real),), "int32", Quantization(scales, (0,) * len(scales), 0), data)


def _targets(b: _Builder, channels: int, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel pre-activation std and mean a trained, BatchNorm-folded layer might show."""
    std = 2.0 ** b.rng.uniform(-1.0, 1.0, size=channels)
    # Units before a ReLU are mostly active; linear outputs are centred.
    centre, spread = (0.0, 0.25) if activation == "NONE" else (0.25, 0.5)
    shift = b.rng.normal(centre, spread, size=channels)
    return std, shift * std


def _same_out(size: int, stride: int) -> int:
    return -(-size // stride)


def _conv(
    b: _Builder,
    x: _Activation,
    name: str,
    cout: int,
    kernel: int,
    stride: int,
    activation: str,
    depthwise: bool,
) -> _Activation:
    """CONV_2D (or DEPTHWISE_CONV_2D with multiplier 1) with SAME padding and a fused activation; HARD_SWISH,
    which TFLite cannot fuse, is an operator of its own after the convolution."""
    _, h, w, cin = b.shape(x)
    in_q = b.quant(x)
    if depthwise:
        assert cout == cin
        raw = b.rng.standard_normal((1, kernel, kernel, cin))
        taps = raw.reshape(kernel * kernel, cin)
        raw_mean = taps.sum(axis=0) * x.mean
        raw_var = (taps * taps).sum(axis=0) * x.var
        axis = 3
    else:
        raw = b.rng.standard_normal((cout, kernel, kernel, cin))
        raw_mean = raw.sum(axis=(1, 2)) @ x.mean
        raw_var = (raw * raw).sum(axis=(1, 2)) @ x.var
        axis = 0
    std, mean = _targets(b, cout, activation)
    # Fold "BatchNorm": scale each output channel to the target spread, bias it to the target mean.
    gain = std / np.sqrt(np.maximum(raw_var, 1e-12))
    shape = [1, 1, 1, 1]
    shape[axis] = cout
    weights = raw * gain.reshape(shape)
    bias_real = mean - raw_mean * gain
    q, w_scales = _quantize_weights(weights, axis)
    filt = b.tensor(f"{name}/weights", q.shape, "int8", Quantization(w_scales, (0,) * cout, axis), q)
    bias = _bias(b, f"{name}/bias", bias_real, in_q.scale[0], w_scales)
    fused = "NONE" if activation == "HARD_SWISH" else activation
    out_mean, out_var = _activated_moments(mean, std, fused)
    out_q = _output_quant(mean, std, fused)
    oh, ow = _same_out(h, stride), _same_out(w, stride)
    y = b.tensor(name, (1, oh, ow, cout), "int8", out_q)
    options: dict[str, Any] = dict(
        padding="SAME", stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1, activation=fused
    )
    if depthwise:
        b.op("DEPTHWISE_CONV_2D", (x.index, filt, bias), (y,), **options, depth_multiplier=1)
    else:
        b.op("CONV_2D", (x.index, filt, bias), (y,), **options)
    if activation != "HARD_SWISH":
        return _Activation(y, out_mean, out_var)
    out_mean, out_var = _activated_moments(mean, std, activation)
    z = b.tensor(f"{name}/hard_swish", (1, oh, ow, cout), "int8", _output_quant(mean, std, activation))
    b.op("HARD_SWISH", (y,), (z,))
    return _Activation(z, out_mean, out_var)


def _add(b: _Builder, x1: _Activation, x2: _Activation, name: str) -> _Activation:
    mean, var = x1.mean + x2.mean, x1.var + x2.var
    y = b.tensor(name, b.shape(x1), "int8", _output_quant(mean, np.sqrt(var), "NONE"))
    b.op("ADD", (x1.index, x2.index), (y,), activation="NONE")
    return _Activation(y, mean, var)


def _scalar(b: _Builder, name: str, value: float) -> int:
    """A positive int8 constant of one element, stored as 127 (scale value / 127)."""
    return b.tensor(name, (1,), "int8", Quantization((_f32(value / 127.0),), (0,)), np.array([127], np.int8))


# Squeeze-and-excite forms (a block config's "use_se": true, or {"form": ..., "gate": ...}):
# - conv: MEAN keep_dims -> 1x1 CONV_2D -> 1x1 CONV_2D on 1 x 1 x 1 x C (MCUNet, Keras MobileNetV3);
# - fc: MEAN without keep_dims -> FULLY_CONNECTED -> FULLY_CONNECTED on 1 x C, the gate on 1 x C, the MUL
#   broadcasting it over H and W (a PyTorch nn.Linear SE, flattened);
# - fc_reshape: MEAN keep_dims -> RESHAPE to 1 x C -> FULLY_CONNECTED x 2 -> RESHAPE to 1 x 1 x 1 x C -> gate;
# - two_means: MEAN over H, then MEAN over W (keep_dims), then the conv form (TinyEngine's MCUNetV2 models).
SE_FORMS = ("conv", "fc", "fc_reshape", "two_means")
# Gates: hard_sigmoid: ReLU6(x + 3) * (1/6) as ADD (ReLU6 fused) and MUL by a constant (Keras MobileNetV3's
# hard_sigmoid; the converter has no hard-sigmoid operator and fuses only the ReLU6); hard_sigmoid_relu6: the
# same with the RELU6 an operator of its own; sigmoid: LOGISTIC.
SE_GATES = ("hard_sigmoid", "hard_sigmoid_relu6", "sigmoid")


def _dense(b: _Builder, x: _Activation, name: str, units: int, activation: str) -> _Activation:
    """FULLY_CONNECTED on a 1 x C vector, per-tensor weights, folded-"BatchNorm" statistics as _conv's."""
    in_q = b.quant(x)
    raw = b.rng.standard_normal((units, len(x.mean)))
    raw_mean, raw_var = raw @ x.mean, (raw * raw) @ x.var
    std, mean = _targets(b, units, activation)
    gain = std / np.sqrt(np.maximum(raw_var, 1e-12))
    weights = raw * gain[:, None]
    w_scale = _f32(float(np.max(np.abs(weights))) / 127.0)
    q = np.clip(np.rint(weights / w_scale), -127, 127).astype(np.int8)
    filt = b.tensor(f"{name}/weights", q.shape, "int8", Quantization((w_scale,), (0,)), q)
    bias = _bias(b, f"{name}/bias", mean - raw_mean * gain, in_q.scale[0], (w_scale,))
    y = b.tensor(name, (1, units), "int8", _output_quant(mean, std, activation))
    b.op("FULLY_CONNECTED", (x.index, filt, bias), (y,), activation=activation, weights_format=0,
         keep_num_dims=False)
    return _Activation(y, *_activated_moments(mean, std, activation))


def _reshape(b: _Builder, x: _Activation, name: str, shape: tuple[int, ...]) -> _Activation:
    target = b.tensor(f"{name}/shape", (len(shape),), "int32", None, np.array(shape, dtype=np.int32))
    y = b.tensor(name, shape, "int8", b.quant(x))
    b.op("RESHAPE", (x.index, target), (y,))
    return _Activation(y, x.mean, x.var)


def _gate(b: _Builder, h: _Activation, name: str, gate: str) -> tuple[int, np.ndarray, np.ndarray]:
    """The excitation's last calls on h: the gate tensor and its estimated per-channel mean and variance."""
    shape = b.shape(h)
    if gate == "sigmoid":
        z = h.mean[:, None] + np.sqrt(h.var)[:, None] * _GH_NODES[None, :]
        s = 1.0 / (1.0 + np.exp(-z))
        m1, m2 = s @ _GH_WEIGHTS, (s * s) @ _GH_WEIGHTS
        out = b.tensor(f"{name}/gate", shape, "int8", Quantization((_f32(1.0 / 256.0),), (-128,)))
        b.op("LOGISTIC", (h.index,), (out,))
        return out, m1, np.maximum(m2 - m1 * m1, 1e-12)
    if gate not in ("hard_sigmoid", "hard_sigmoid_relu6"):
        raise ValueError(f"squeeze-and-excite gate {gate!r} (known: {', '.join(SE_GATES)})")
    mean, var = _activated_moments(h.mean + 3.0, np.sqrt(h.var), "RELU6")
    shifted = b.tensor(f"{name}/add3", shape, "int8", _range_quant(0.0, 6.0))
    fused = "RELU6" if gate == "hard_sigmoid" else "NONE"
    if fused == "NONE":  # the ADD's own range: x + 3 before the clamp
        sum_q = _output_quant(h.mean + 3.0, np.sqrt(h.var), "NONE")
        shifted = b.tensor(f"{name}/add3", shape, "int8", sum_q)
    b.op("ADD", (h.index, _scalar(b, f"{name}/three", 3.0)), (shifted,), activation=fused)
    if fused == "NONE":
        clamped = b.tensor(f"{name}/relu6", shape, "int8", _range_quant(0.0, 6.0))
        b.op("RELU6", (shifted,), (clamped,))
        shifted = clamped
    out = b.tensor(f"{name}/gate", shape, "int8", _range_quant(0.0, 1.0))
    b.op("MUL", (shifted, _scalar(b, f"{name}/sixth", 1.0 / 6.0)), (out,), activation="NONE")
    return out, mean / 6.0, var / 36.0


def _squeeze_excite(b: _Builder, x: _Activation, name: str, form: str = "conv",
                    gate: str = "hard_sigmoid") -> _Activation:
    """An SE after the depthwise conv (MCUNet's, MobileNetV3's): MEAN over H, W -> reduce to
    make_divisible(C / 4) channels, ReLU fused -> back to C -> gate -> MUL onto the feature map, in one of
    SE_FORMS with one of SE_GATES (default: Keras MobileNetV3's, 1x1 convs and its hard sigmoid)."""
    if form not in SE_FORMS:
        raise ValueError(f"squeeze-and-excite form {form!r} (known: {', '.join(SE_FORMS)})")
    _, _, w, c = b.shape(x)
    pooled_q = _output_quant(x.mean, np.sqrt(x.var) / 2.0, "NONE")
    keep = form != "fc"
    pooled = b.tensor(f"{name}/mean", (1, 1, 1, c) if keep else (1, c), "int8", pooled_q)
    if form == "two_means":
        rows = b.tensor(f"{name}/axis_h", (1,), "int32", None, np.array([1], dtype=np.int32))
        columns = b.tensor(f"{name}/mean_h", (1, 1, w, c), "int8", pooled_q)
        b.op("MEAN", (x.index, rows), (columns,), keep_dims=True)
        across = b.tensor(f"{name}/axis_w", (1,), "int32", None, np.array([2], dtype=np.int32))
        b.op("MEAN", (columns, across), (pooled,), keep_dims=True)
    else:
        axes = b.tensor(f"{name}/axes", (2,), "int32", None, np.array([1, 2], dtype=np.int32))
        b.op("MEAN", (x.index, axes), (pooled,), keep_dims=keep)
    h = _Activation(pooled, x.mean, x.var / 4.0)
    if form in ("conv", "two_means"):
        h = _conv(b, h, f"{name}/reduce", make_divisible(c / 4), 1, 1, "RELU", depthwise=False)
        h = _conv(b, h, f"{name}/expand", c, 1, 1, "NONE", depthwise=False)
    else:
        if form == "fc_reshape":
            h = _reshape(b, h, f"{name}/flat", (1, c))
        h = _dense(b, h, f"{name}/reduce", make_divisible(c / 4), "RELU")
        h = _dense(b, h, f"{name}/expand", c, "NONE")
        if form == "fc_reshape":
            h = _reshape(b, h, f"{name}/unflat", (1, 1, 1, c))
    gate_index, g_mean, g_var = _gate(b, h, name, gate)
    out_mean = x.mean * g_mean
    out_var = np.maximum((x.var + x.mean**2) * (g_var + g_mean**2) - out_mean**2, 1e-12)
    y = b.tensor(f"{name}/scaled", b.shape(x), "int8", _output_quant(out_mean, np.sqrt(out_var), "RELU"))
    b.op("MUL", (x.index, gate_index), (y,), activation="NONE")
    return _Activation(y, out_mean, out_var)


def _global_pool(b: _Builder, x: _Activation, name: str) -> _Activation:
    _, h, w, c = b.shape(x)
    # TFLite pools keep their input's quantization.
    y = b.tensor(name, (1, 1, 1, c), "int8", b.quant(x))
    b.op("AVERAGE_POOL_2D", (x.index,), (y,), padding="VALID", stride_h=1, stride_w=1, filter_h=h, filter_w=w,
         activation="NONE")
    # Over real images a channel's average moves about as much as its values do: keep the variance, so the
    # classifier's range covers inputs other than the estimate's noise.
    return _Activation(y, x.mean, x.var)


def _flatten(b: _Builder, x: _Activation, name: str) -> _Activation:
    c = b.shape(x)[-1]
    shape = b.tensor(f"{name}/shape", (2,), "int32", None, np.array([1, c], dtype=np.int32))
    y = b.tensor(name, (1, c), "int8", b.quant(x))
    b.op("RESHAPE", (x.index, shape), (y,))
    return _Activation(y, x.mean, x.var)


def _classifier(b: _Builder, x: _Activation, name: str, classes: int) -> _Activation:
    """FULLY_CONNECTED with per-tensor weights: logits spread O(1) across classes (no BatchNorm to fold)."""
    in_q = b.quant(x)
    second = x.mean * x.mean + x.var
    sigma = 2.0 / math.sqrt(max(float(second.sum()), 1e-12))
    weights = b.rng.normal(0.0, sigma, size=(classes, len(second)))
    bias_real = b.rng.normal(0.0, 0.5, size=classes)
    w_scale = _f32(float(np.max(np.abs(weights))) / 127.0)
    q = np.clip(np.rint(weights / w_scale), -127, 127).astype(np.int8)
    filt = b.tensor(f"{name}/weights", q.shape, "int8", Quantization((w_scale,), (0,)), q)
    bias = _bias(b, f"{name}/bias", bias_real, in_q.scale[0], (w_scale,))
    mean = weights @ x.mean + bias_real
    var = (weights * weights) @ x.var
    y = b.tensor(name, (1, classes), "int8", _output_quant(mean, np.sqrt(var), "NONE"))
    options: dict[str, Any] = dict(activation="NONE", weights_format=0, keep_num_dims=False)
    b.op("FULLY_CONNECTED", (x.index, filt, bias), (y,), **options)
    return _Activation(y, mean, var)


def _activation_of(layer: dict[str, Any]) -> str:
    act = layer.get("act_func")
    if act not in _ACTIVATIONS:
        raise ValueError(f"unsupported activation {act!r} in {layer.get('name')}")
    return _ACTIVATIONS[act]


def _is_zero(conv: dict[str, Any] | None) -> bool:
    return conv is None or conv.get("name") == "ZeroLayer"


def _block(b: _Builder, x: _Activation, i: int, block: dict[str, Any]) -> _Activation:
    conv, shortcut = block.get("mobile_inverted_conv"), block.get("shortcut")
    has_identity = shortcut is not None and shortcut.get("name") == "IdentityLayer"
    if _is_zero(conv):
        if has_identity:
            return x  # a skipped block: zero branch + identity = identity
        raise ValueError(f"block {i}: zero layer without identity shortcut (the output would be all zeros)")
    assert conv is not None
    if conv.get("name") != "MBInvertedConvLayer":
        raise ValueError(f"block {i}: unsupported layer {conv.get('name')!r}")
    if shortcut is not None and not has_identity:
        raise ValueError(f"block {i}: unsupported shortcut {shortcut.get('name')!r}")
    cin, cout = int(conv["in_channels"]), int(conv["out_channels"])
    kernel, stride = int(conv["kernel_size"]), int(conv["stride"])
    if cin != b.shape(x)[-1]:
        raise ValueError(f"block {i}: expects {cin} input channels, gets {b.shape(x)[-1]}")
    expand = conv.get("expand_ratio", 1)
    mid = conv.get("mid_channels")
    mid = int(mid) if mid is not None else round(cin * expand)
    act = _activation_of(conv)
    h = x
    if expand != 1:
        h = _conv(b, h, f"block{i}/expand", mid, 1, 1, act, depthwise=False)
    else:
        mid = cin
    h = _conv(b, h, f"block{i}/depthwise", mid, kernel, stride, act, depthwise=True)
    se = conv.get("use_se")
    if se:
        h = _squeeze_excite(b, h, f"block{i}/se", **(se if isinstance(se, dict) else {}))
    h = _conv(b, h, f"block{i}/project", cout, 1, 1, "NONE", depthwise=False)
    if has_identity:
        if stride != 1 or cin != cout:
            raise ValueError(f"block {i}: identity shortcut with stride {stride}, {cin} -> {cout} channels")
        h = _add(b, h, x, f"block{i}/add")
    return h


def _conv_layer(b: _Builder, x: _Activation, name: str, layer: dict[str, Any]) -> _Activation:
    plain = int(layer.get("groups", 1)) == 1 and int(layer.get("dilation", 1)) == 1
    if layer.get("name") != "ConvLayer" or not plain:
        raise ValueError(f"{name}: unsupported layer {layer}")
    return _conv(
        b, x, name, int(layer["out_channels"]), int(layer["kernel_size"]), int(layer["stride"]),
        _activation_of(layer), depthwise=False,
    )


def build_from_config(config: dict[str, Any], resolution: int, seed: int = 0, name: str = "model") -> Graph:
    """The int8 graph of a ProxylessNASNets description (the dict form of mcunet's JSON files)."""
    if resolution < 1:
        raise ValueError(f"resolution {resolution} must be positive")
    b = _Builder(name, np.random.default_rng(seed))
    first = config["first_conv"]
    in_channels = int(first.get("in_channels", 3))
    quant = Quantization((_f32(_INPUT_SCALE),), (0,))
    x_index = b.tensor("input", (1, resolution, resolution, in_channels), "int8", quant)
    # Uniform int8 test input: real values uniform over [-1, 1).
    x = _Activation(x_index, np.zeros(in_channels), np.full(in_channels, 1.0 / 3.0))
    h = _conv_layer(b, x, "first_conv", first)
    for i, block in enumerate(config["blocks"]):
        h = _block(b, h, i, block)
    if config.get("feature_mix_layer"):
        h = _conv_layer(b, h, "feature_mix", config["feature_mix_layer"])
    h = _global_pool(b, h, "pool")
    h = _flatten(b, h, "flatten")
    classifier = config["classifier"]
    if int(classifier["in_features"]) != b.shape(h)[-1]:
        raise ValueError(f"classifier expects {classifier['in_features']} features, gets {b.shape(h)[-1]}")
    y = _classifier(b, h, "logits", int(classifier["out_features"]))
    return Graph(list(b.tensors), list(b.operators), (x_index,), (y.index,), name=name)


def resolution_of(path: Path, config: dict[str, Any]) -> int:
    """The input resolution: the JSON's "resolution", else the file name's rNNN."""
    if config.get("resolution"):
        return int(config["resolution"])
    match = re.search(r"(?:^|[-_])r(\d+)(?:[-_.]|$)", path.name)
    if match is None:
        raise ValueError(f"{path}: no resolution in the file or its name (rNNN); pass one")
    return int(match.group(1))


def mcunet_from_json(path: str | Path, resolution: int | None = None, seed: int = 0) -> Graph:
    """The int8 graph, random weights, of an mcunet/ProxylessNAS JSON architecture file."""
    path = Path(path)
    config = json.loads(path.read_text())
    name = path.stem.removesuffix("_imagenet")
    return build_from_config(config, resolution or resolution_of(path, config), seed, name)


def mobilenet_v2_config(width: float, num_classes: int = 1000, se_blocks: tuple[int, ...] = ()) -> dict[str, Any]:
    """The standard (torchvision) MobileNetV2 layout as a ProxylessNASNets description; the blocks numbered in
    `se_blocks` get a squeeze-and-excite after their depthwise conv (use_se, as in MCUNet's large models)."""
    if width <= 0:
        raise ValueError(f"width multiplier {width} must be positive")
    channels = make_divisible(32 * width)
    first = {"name": "ConvLayer", "kernel_size": 3, "stride": 2, "in_channels": 3, "out_channels": channels,
             "act_func": "relu6"}
    blocks = []
    for t, c, n, s in MBV2_SETTINGS:
        out = make_divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            conv = {"name": "MBInvertedConvLayer", "in_channels": channels, "out_channels": out,
                    "kernel_size": 3, "stride": stride, "expand_ratio": t, "mid_channels": None,
                    "act_func": "relu6", "use_se": len(blocks) in se_blocks}
            identity = stride == 1 and channels == out
            blocks.append({"name": "MobileInvertedResidualBlock", "mobile_inverted_conv": conv,
                           "shortcut": {"name": "IdentityLayer"} if identity else None})
            channels = out
    last = make_divisible(1280 * max(1.0, width))
    mix = {"name": "ConvLayer", "kernel_size": 1, "stride": 1, "in_channels": channels, "out_channels": last,
           "act_func": "relu6"}
    classifier = {"name": "LinearLayer", "in_features": last, "out_features": num_classes}
    return {"name": "ProxylessNASNets", "first_conv": first, "blocks": blocks, "feature_mix_layer": mix,
            "classifier": classifier}


def mobilenet_v2(width: float, resolution: int, num_classes: int = 1000, seed: int = 0) -> Graph:
    """Int8 MobileNetV2 with width multiplier `width` at `resolution`, random weights."""
    name = f"mobilenet_v2_w{float(width)!r}_r{resolution}"
    return build_from_config(mobilenet_v2_config(width, num_classes), resolution, seed, name)


def mobilenet_v2_se(width: float, resolution: int, se_blocks: tuple[int, ...] = (1, 2, 3), num_classes: int = 1000,
                    seed: int = 0) -> Graph:
    """Int8 MobileNetV2 with squeeze-and-excite in the blocks `se_blocks` (default: the early ones, which the
    memory-heavy first stage would hold), random weights."""
    name = f"mobilenet_v2_se_w{float(width)!r}_r{resolution}"
    return build_from_config(mobilenet_v2_config(width, num_classes, se_blocks), resolution, seed, name)


def tiny_se_config(num_classes: int = 10, se: bool | dict[str, str] = True) -> dict[str, Any]:
    """A 3-block test network for 32x32 inputs: a stride-2 stem, then block 1 (stride 2) holds a squeeze-and-
    excite; small enough to test in seconds, large enough that stage 1 ends past the SE block. `se`: True (the
    default form and gate) or {"form": ..., "gate": ...} (SE_FORMS, SE_GATES)."""
    def block(cin: int, cout: int, stride: int, expand: int, se: bool | dict[str, str]) -> dict[str, Any]:
        conv = {"name": "MBInvertedConvLayer", "in_channels": cin, "out_channels": cout, "kernel_size": 3,
                "stride": stride, "expand_ratio": expand, "mid_channels": None, "act_func": "relu6",
                "use_se": se}
        identity = stride == 1 and cin == cout
        return {"name": "MobileInvertedResidualBlock", "mobile_inverted_conv": conv,
                "shortcut": {"name": "IdentityLayer"} if identity else None}

    first = {"name": "ConvLayer", "kernel_size": 3, "stride": 2, "in_channels": 3, "out_channels": 8,
             "act_func": "relu6"}
    blocks = [block(8, 8, 1, 1, False), block(8, 16, 1, 4, se), block(16, 16, 2, 4, False)]
    mix = {"name": "ConvLayer", "kernel_size": 1, "stride": 1, "in_channels": 16, "out_channels": 32,
           "act_func": "relu6"}
    return {"name": "ProxylessNASNets", "first_conv": first, "blocks": blocks, "feature_mix_layer": mix,
            "classifier": {"name": "LinearLayer", "in_features": 32, "out_features": num_classes}}


def tiny_se(resolution: int = 32, seed: int = 0, form: str = "conv", gate: str = "hard_sigmoid") -> Graph:
    """The int8 graph of tiny_se_config, random weights, its SE in `form` with `gate` (SE_FORMS, SE_GATES)."""
    default = form == "conv" and gate == "hard_sigmoid"
    name = f"tiny_se_r{resolution}" if default else f"tiny_se_{form}_{gate}_r{resolution}"
    return build_from_config(tiny_se_config(se={"form": form, "gate": gate}), resolution, seed, name)


# Keras MobileNetV3Small's blocks (keras.applications.mobilenet_v3, stack_fn of MobileNetV3Small): expansion,
# output channels (before alpha), kernel, stride, squeeze-and-excite, activation.
MBV3_SMALL_BLOCKS: tuple[tuple[float, int, int, int, bool, str], ...] = (
    (1, 16, 3, 2, True, "relu"),
    (72 / 16, 24, 3, 2, False, "relu"),
    (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, 5, 2, True, "h_swish"),
    (6, 40, 5, 1, True, "h_swish"),
    (6, 40, 5, 1, True, "h_swish"),
    (3, 48, 5, 1, True, "h_swish"),
    (3, 48, 5, 1, True, "h_swish"),
    (6, 96, 5, 2, True, "h_swish"),
    (6, 96, 5, 1, True, "h_swish"),
    (6, 96, 5, 1, True, "h_swish"),
)


def mobilenet_v3_small_config(alpha: float = 1.0, num_classes: int = 1000) -> dict[str, Any]:
    """Keras MobileNetV3Small (minimalistic=False) as a ProxylessNASNets description: a 16-channel stride-2 stem
    with hard swish, the 11 blocks of MBV3_SMALL_BLOCKS (block 0, right after the stem, holds an SE: stage 1's),
    the 1x1 conv to 6x the last channels with hard swish. Each SE is Keras's: MEAN keep_dims, 1x1 conv to
    make_divisible(C / 4) + ReLU, 1x1 conv, hard sigmoid as ADD 3 (ReLU6 fused) and MUL 1/6, MUL. Differences
    from Keras: SAME padding on stride-2 depthwise convs (Keras pads explicitly, then VALID) and the zoo's head
    (average pool, FULLY_CONNECTED) instead of Keras's 1x1 conv to 1024 + hard swish + 1x1 conv on the pooled
    vector."""
    if alpha <= 0:
        raise ValueError(f"width multiplier {alpha} must be positive")
    first = {"name": "ConvLayer", "kernel_size": 3, "stride": 2, "in_channels": 3, "out_channels": 16,
             "act_func": "h_swish"}
    blocks, channels = [], 16
    for i, (expansion, filters, kernel, stride, se, act) in enumerate(MBV3_SMALL_BLOCKS):
        out = make_divisible(filters * alpha)
        mid = make_divisible(channels * expansion) if i else channels  # Keras's block 0 has no expansion
        conv = {"name": "MBInvertedConvLayer", "in_channels": channels, "out_channels": out,
                "kernel_size": kernel, "stride": stride, "expand_ratio": expansion if i else 1,
                "mid_channels": mid, "act_func": act, "use_se": se}
        identity = stride == 1 and channels == out
        blocks.append({"name": "MobileInvertedResidualBlock", "mobile_inverted_conv": conv,
                       "shortcut": {"name": "IdentityLayer"} if identity else None})
        channels = out
    last = make_divisible(channels * 6)
    mix = {"name": "ConvLayer", "kernel_size": 1, "stride": 1, "in_channels": channels, "out_channels": last,
           "act_func": "h_swish"}
    return {"name": "ProxylessNASNets", "first_conv": first, "blocks": blocks, "feature_mix_layer": mix,
            "classifier": {"name": "LinearLayer", "in_features": last, "out_features": num_classes}}


def mobilenet_v3_small(alpha: float, resolution: int, num_classes: int = 1000, seed: int = 0) -> Graph:
    """Int8 Keras-style MobileNetV3Small with width multiplier `alpha` at `resolution`, random weights."""
    name = f"mobilenet_v3_small_a{float(alpha)!r}_r{resolution}"
    return build_from_config(mobilenet_v3_small_config(alpha, num_classes), resolution, seed, name)
