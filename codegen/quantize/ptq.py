"""Post-training quantization: a float graph plus calibrated activation ranges -> an int8 graph with the
quantization parameters the TFLite converter chooses, which codegen/frontend/tflite_writer.py writes as a .tflite
that tflite-runtime runs and this compiler compiles (so the firmware is bit-exact with tflite-runtime by
construction: both read the same file).

Rules (TFLite's int8 scheme):
- weights: symmetric int8 in [-127, 127], zero point 0; per output channel for CONV_2D (axis 0) and
  DEPTHWISE_CONV_2D (axis 3), scale max|w| / 127; FULLY_CONNECTED per tensor (the converter's default,
  per channel on request);
- biases: int32, zero point 0, scale input_scale * weight_scale (per channel);
- activations: per tensor, asymmetric int8 over the calibrated range widened to include 0, with the
  converter's zero-point nudging; a fused activation is already in the range (the float graph applies it);
- AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, PAD, TRANSPOSE, MEAN: output quantization = input quantization;
  CONCATENATION: inputs and output share one quantization (over the union of their ranges), as TFLite
  Micro's int8 kernel requires; the tensors tied this way form one group;
- SOFTMAX and LOGISTIC outputs: scale 1/256, zero point -128; LOG_SOFTMAX: 16/256, 127;
- ADD / MUL constant operands: per-tensor asymmetric int8 over their own range;
- a RELU / RELU6 / RELU_N1_TO_1 that could not be fused becomes an int8 -> int8 QUANTIZE into a range that
  starts at 0 (ends at 6, ...): saturation does the clamping, exactly;
- graph inputs get a QUANTIZE and outputs a DEQUANTIZE, so the int8 model keeps float I/O (like the tier-B
  models); with int8_io the model takes and returns int8 directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codegen.errors import ModelError
from codegen.frontend.float_graph import FLOAT_OPS
from codegen.ir import Graph, Operator, Quantization, Tensor

_SHARES_INPUT_QUANT = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "PAD", "TRANSPOSE", "MEAN"})
_FIXED_OUTPUT: dict[str, tuple[float, int]] = {
    "SOFTMAX": (1.0 / 256.0, -128),
    "LOGISTIC": (1.0 / 256.0, -128),
    "LOG_SOFTMAX": (16.0 / 256.0, 127),
}
_ACTIVATION_BOUNDS = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
_INT32 = np.iinfo(np.int32)
_MIN_RANGE = 1e-6  # narrower activation ranges are widened to this


@dataclass(frozen=True)
class QuantizeOptions:
    int8_io: bool = False  # int8 input and output tensors instead of float I/O through QUANTIZE/DEQUANTIZE
    per_channel_fc: bool = False  # per-channel FULLY_CONNECTED weights (TFLite Micro supports them)


@dataclass
class QuantizedModel:
    graph: Graph  # the int8 graph
    float_graph: Graph
    tensor_map: dict[int, int]  # float tensor index -> the int8 tensor that carries it
    ranges: dict[int, tuple[float, float]]


def f32(x: float) -> float:
    return float(np.float32(x))


def round_half_away(x: np.ndarray) -> np.ndarray:
    """std::round, as TFLite rounds when it quantizes: halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def activation_quant(lo: float, hi: float) -> Quantization:
    """Asymmetric int8 parameters for the real range [lo, hi], as TFLite chooses them: the range is widened to
    include 0; scale = (hi - lo) / 255; of the zero points implied by either end, the one whose computation
    loses less precision is taken, rounded and clamped, so that real 0 is exactly representable."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not np.isfinite(hi - lo):
        raise ValueError(f"range [{lo}, {hi}] is not finite")
    if hi - lo < _MIN_RANGE:  # (nearly) constant zero: keep the scale a normal float32
        hi = lo + _MIN_RANGE
    qmin, qmax = -128.0, 127.0
    scale = (hi - lo) / (qmax - qmin)
    from_min = qmin - lo / scale
    from_max = qmax - hi / scale
    err_min = abs(qmin) + abs(lo / scale)
    err_max = abs(qmax) + abs(hi / scale)
    zp = from_min if err_min < err_max else from_max
    zero_point = int(qmin if zp < qmin else qmax if zp > qmax else round_half_away(np.float64(zp)))
    return Quantization((f32(scale),), (zero_point,))


def quantize_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Symmetric int8 weights (zero point 0, [-127, 127]); per channel along `axis`, or per tensor."""
    w = np.asarray(w, dtype=np.float64)
    if axis is None:
        max_abs = np.array([np.max(np.abs(w)) if w.size else 0.0])
        shape = [1] * w.ndim
    else:
        other = tuple(a for a in range(w.ndim) if a != axis)
        max_abs = np.max(np.abs(w), axis=other)
        shape = [1] * w.ndim
        shape[axis] = -1
    # An all-zero channel quantizes to zeros under any scale; 1.0 keeps the requantization multiplier sane.
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
    q = np.clip(round_half_away(w / scales.astype(np.float64).reshape(shape)), -127, 127).astype(np.int8)
    return q, tuple(float(s) for s in scales)


def quantize_bias(b: np.ndarray, input_scale: float,
                  weight_scales: tuple[float, ...]) -> tuple[np.ndarray, Quantization]:
    scales = tuple(f32(input_scale * s) for s in weight_scales)
    per = np.broadcast_to(np.asarray(scales, dtype=np.float64), b.shape)
    q = np.clip(round_half_away(np.asarray(b, np.float64) / per), _INT32.min, _INT32.max).astype(np.int32)
    return q, Quantization(scales, (0,) * len(scales), 0)


def quantize_const(data: np.ndarray) -> tuple[np.ndarray, Quantization]:
    """A constant operand of ADD / MUL: per-tensor asymmetric over its own range."""
    d = np.asarray(data, dtype=np.float64)
    quant = activation_quant(float(d.min()), float(d.max()))
    q = np.clip(round_half_away(d / quant.scale[0]) + quant.zero_point[0], -128, 127).astype(np.int8)
    return q, quant


@dataclass
class _Groups:
    """Union-find over activation tensors that must share one quantization."""

    parent: dict[int, int] = field(default_factory=dict)

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def check_quantizable(graph: Graph) -> None:
    problems = [f"{op.describe()} producing '{graph.tensor(op.outputs[0]).name}': no int8 kernel for this op"
                for op in graph.operators if op.op_type not in FLOAT_OPS]
    for t in graph.tensors:
        if t.data is None and t.dtype != "float32":
            problems.append(f"tensor {t.index} ({t.name}) is {t.dtype}; a float model computes in float32")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise ModelError(f"{graph.name}: cannot quantize, {len(problems)} {noun}:", problems)


def _activation_quants(graph: Graph, ranges: dict[int, tuple[float, float]]) -> dict[int, Quantization]:
    groups = _Groups()
    fixed: dict[int, tuple[float, int]] = {}
    for op in graph.operators:
        out = op.outputs[0]
        groups.find(out)
        if op.op_type in _SHARES_INPUT_QUANT:
            groups.union(op.inputs[0], out)
        elif op.op_type == "CONCATENATION":
            for i in op.inputs:
                groups.union(out, i)
        elif op.op_type in _FIXED_OUTPUT:
            fixed[out] = _FIXED_OUTPUT[op.op_type]
    members: dict[int, list[int]] = {}
    for t in set(ranges) | set(groups.parent):
        members.setdefault(groups.find(t), []).append(t)
    quants: dict[int, Quantization] = {}
    for group in members.values():
        pinned = {fixed[t] for t in group if t in fixed}
        if len(pinned) > 1:
            names = ", ".join(graph.tensor(t).name for t in group)
            raise ModelError(f"{graph.name}: tensors {names} must share one quantization, but two of them have "
                             "different fixed output quantizations (SOFTMAX / LOGISTIC / LOG_SOFTMAX)")
        if pinned:
            scale, zp = pinned.pop()
            q = Quantization((f32(scale),), (zp,))
        else:
            known = [ranges[t] for t in group if t in ranges]
            if not known:
                raise ModelError(f"{graph.name}: no calibrated range for tensor {graph.tensor(group[0]).name}")
            q = activation_quant(min(r[0] for r in known), max(r[1] for r in known))
        for t in group:
            quants[t] = q
    return quants


@dataclass
class _Int8Builder:
    name: str
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)

    def tensor(self, name: str, shape: tuple[int, ...], dtype: str, quant: Quantization | None = None,
               data: np.ndarray | None = None) -> int:
        index = len(self.tensors)
        self.tensors.append(Tensor(index, name, tuple(shape), dtype, quant, data))
        return index

    def op(self, op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...], options: dict) -> None:
        self.operators.append(Operator(len(self.operators), op_type, inputs, outputs, dict(options)))


def quantize_graph(graph: Graph, ranges: dict[int, tuple[float, float]],
                   options: QuantizeOptions | None = None) -> QuantizedModel:
    """The int8 graph of float `graph`, given each activation tensor's calibrated real range."""
    options = options or QuantizeOptions()
    check_quantizable(graph)
    quants = _activation_quants(graph, ranges)
    b = _Int8Builder(graph.name)
    tmap: dict[int, int] = {}

    inputs = []
    for index in graph.inputs:
        t = graph.tensor(index)
        if options.int8_io:
            tmap[index] = b.tensor(t.name, t.shape, "int8", quants[index])
            inputs.append(tmap[index])
        else:
            inputs.append(b.tensor(t.name, t.shape, "float32"))
            tmap[index] = b.tensor(f"{t.name}/int8", t.shape, "int8", quants[index])
            b.op("QUANTIZE", (inputs[-1],), (tmap[index],), {})

    def const_operand(i: int) -> int:
        t = graph.tensor(i)
        assert t.data is not None
        if t.dtype == "float32":
            q, quant = quantize_const(t.data)
            return b.tensor(t.name, t.shape, "int8", quant, q)
        return b.tensor(t.name, t.shape, t.dtype, None, np.asarray(t.data))  # shapes, paddings, axes

    def operand(i: int) -> int:
        if i < 0:
            return -1
        if i in tmap:
            return tmap[i]
        if graph.tensor(i).data is not None:
            return const_operand(i)
        raise ModelError(f"{graph.name}: tensor {i} ({graph.tensor(i).name}) is read before it is computed")

    for op in graph.operators:
        out = graph.tensor(op.outputs[0])
        if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            operands = _weighted(graph, op, b, tmap, options)
        elif op.op_type in _ACTIVATION_BOUNDS:
            tmap[out.index] = _standalone_activation(graph, op, b, tmap, quants, ranges)
            continue
        else:
            operands = tuple(operand(i) for i in op.inputs)
        tmap[out.index] = b.tensor(out.name, out.shape, "int8", quants[out.index])
        b.op(op.op_type, operands, (tmap[out.index],), op.options)

    outputs = []
    for index in graph.outputs:
        t = graph.tensor(index)
        if options.int8_io:
            outputs.append(tmap[index])
        else:
            f = b.tensor(f"{t.name}/float", t.shape, "float32")
            b.op("DEQUANTIZE", (tmap[index],), (f,), {})
            outputs.append(f)
    int8 = Graph(b.tensors, b.operators, tuple(inputs), tuple(outputs), graph.name)
    return QuantizedModel(int8, graph, tmap, dict(ranges))


def _weighted(graph: Graph, op: Operator, b: _Int8Builder, tmap: dict[int, int],
              options: QuantizeOptions) -> tuple[int, ...]:
    x = b.tensors[tmap[op.inputs[0]]]
    w = graph.tensor(op.inputs[1])
    if w.data is None:
        raise ModelError(f"{graph.name}: {op.describe()} ({graph.tensor(op.outputs[0]).name}) has run-time "
                         "weights; only constant weights are quantized")
    bias_index = op.inputs[2] if len(op.inputs) > 2 else -1
    bias = graph.tensor(bias_index).data if bias_index >= 0 else None
    if bias_index >= 0 and bias is None:
        raise ModelError(f"{graph.name}: {op.describe()} has a run-time bias; only constant biases are quantized")
    if op.op_type == "CONV_2D":
        axis: int | None = 0
    elif op.op_type == "DEPTHWISE_CONV_2D":
        axis = 3
    else:
        axis = 0 if options.per_channel_fc else None
    q, scales = quantize_weights(w.data, axis)
    channels = w.shape[3] if op.op_type == "DEPTHWISE_CONV_2D" else w.shape[0]
    wq = b.tensor(w.name, w.shape, "int8", Quantization(scales, (0,) * len(scales), axis or 0), q)
    real_bias = np.zeros(channels) if bias is None else np.asarray(bias, np.float64)
    bq, bquant = quantize_bias(real_bias, x.scale, scales)
    bias_name = graph.tensor(bias_index).name if bias_index >= 0 else f"{w.name}/bias"
    bt = b.tensor(bias_name, (channels,), "int32", bquant, bq)
    return (tmap[op.inputs[0]], wq, bt)


def _standalone_activation(graph: Graph, op: Operator, b: _Int8Builder, tmap: dict[int, int],
                           quants: dict[int, Quantization], ranges: dict[int, tuple[float, float]]) -> int:
    """RELU-like op as int8 requantization: into a range bounded like the activation, saturation clamps."""
    out = graph.tensor(op.outputs[0])
    lo_bound, hi_bound = _ACTIVATION_BOUNDS[op.op_type]
    lo, hi = ranges.get(out.index, (lo_bound, hi_bound if hi_bound is not None else 1.0))
    lo = max(lo, lo_bound)
    hi = min(hi, hi_bound) if hi_bound is not None else hi
    own = activation_quant(lo, hi)
    target = quants[out.index]
    x = tmap[op.inputs[0]]
    if own == target:
        y = b.tensor(out.name, out.shape, "int8", target)
        b.op("QUANTIZE", (x,), (y,), {})
        return y
    # The output shares a wider quantization (e.g. with a concatenation): clamp first, then requantize.
    clamped = b.tensor(f"{out.name}/clamped", out.shape, "int8", own)
    b.op("QUANTIZE", (x,), (clamped,), {})
    y = b.tensor(out.name, out.shape, "int8", target)
    b.op("QUANTIZE", (clamped,), (y,), {})
    return y
