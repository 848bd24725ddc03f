"""How much the int8 model loses: float vs int8 top-1 agreement and per-layer SQNR on the calibration set.

The float side is the float graph in NumPy (codegen/quantize/float_executor.py); the int8 side is the int8
graph under the project's NumPy reference kernels (the same semantics as the firmware and TFLite's reference
kernels), with every intermediate tensor kept. For each layer (operator of the float graph), the SQNR of its
output is 10 log10(sum f^2 / sum (f - dequant(q))^2) over all samples: the error accumulated up to that
layer. A layer's loss is its SQNR drop against the worst of its inputs; the layers that lose most are
flagged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import REFERENCES
from codegen.passes.lowering import lower_graph
from codegen.quantize.calibrate import CalibrationData, activation_tensors
from codegen.quantize.float_executor import batches, run_float
from codegen.quantize.ptq import QuantizedModel

FLAG_COUNT = 3  # the layers with the largest SQNR drops are flagged (if they drop at all)
_MIN_FLAG_DROP_DB = 0.5


@dataclass
class LayerReport:
    op_index: int
    op_type: str
    name: str
    sqnr_db: float | None  # None when the float output is identically zero
    drop_db: float | None
    flagged: bool = False


@dataclass
class QuantizationReport:
    model: str
    samples: int
    method: str
    top1_agreement: float | None  # fraction of samples whose float and int8 argmax agree (first output)
    float_accuracy: float | None  # with labels only
    int8_accuracy: float | None
    output_sqnr_db: float | None
    input_sqnr_db: float | None
    layers: list[LayerReport]

    def to_json(self) -> dict:
        """As a dict for json.dumps; an infinite SQNR (no error at all) becomes the string "inf"."""

        def clean(value: object) -> object:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, float) and math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return value

        return clean(asdict(self))  # type: ignore[return-value]


def _sqnr(signal: float, noise: float) -> float | None:
    if signal <= 0.0:
        return None
    if noise <= 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise)


def run_int8_all(graph: Graph, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Every tensor of one int8 inference under the NumPy reference kernels."""
    calls = lower_graph(graph)
    values: dict[int, np.ndarray] = {}
    for index, array in zip(graph.inputs, inputs, strict=True):
        t = graph.tensor(index)
        values[index] = np.asarray(array, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape)
    for call in calls:
        args = [values[i] for i in call.inputs] + [c.data for c in call.consts]
        (out,) = call.outputs
        kwargs = {"out": values[out]} if out in values else {}
        t = graph.tensor(out)
        result = REFERENCES[call.kernel](call.params, *args, **kwargs)
        values[out] = np.asarray(result).astype(NUMPY_DTYPES[t.dtype], copy=False).reshape(t.shape)
    return values


def quantize_input(graph: Graph, index: int, x: np.ndarray) -> np.ndarray:
    """A float sample as graph input `index` takes it: unchanged for float I/O, quantized for int8 I/O."""
    t = graph.tensor(index)
    if t.dtype == "float32" or t.quant is None:
        return x
    q = np.floor(np.asarray(x, np.float64) / t.scale + 0.5) + t.zero_point
    info = np.iinfo(NUMPY_DTYPES[t.dtype])
    return np.clip(q, info.min, info.max).astype(NUMPY_DTYPES[t.dtype])


def dequantize(graph: Graph, index: int, q: np.ndarray) -> np.ndarray:
    t = graph.tensor(index)
    if t.quant is None:
        return np.asarray(q, dtype=np.float64)
    return (np.asarray(q, dtype=np.float64) - t.zero_point) * t.scale


def build_report(model: QuantizedModel, data: CalibrationData, method: str = "minmax") -> QuantizationReport:
    fgraph, qgraph, tmap = model.float_graph, model.graph, model.tensor_map
    tensors = activation_tensors(fgraph)
    keep = set(tensors)
    signal = dict.fromkeys(tensors, 0.0)
    noise = dict.fromkeys(tensors, 0.0)
    float_out: list[np.ndarray] = []
    int8_out: list[np.ndarray] = []
    first_out = fgraph.outputs[0]
    for batch in batches(data.inputs, 16):
        fvalues = run_float(fgraph, batch, keep=keep.__contains__)
        fvalues.update(zip(fgraph.inputs, batch, strict=True))
        for s in range(len(batch[0])):
            sample = [quantize_input(qgraph, i, x[s:s + 1]) for i, x in zip(qgraph.inputs, batch, strict=True)]
            qvalues = run_int8_all(qgraph, sample)
            for i in tensors:
                f = fvalues[i][s].astype(np.float64).reshape(-1)
                d = dequantize(qgraph, tmap[i], qvalues[tmap[i]]).reshape(-1)
                signal[i] += float(f @ f)
                noise[i] += float((f - d) @ (f - d))
            float_out.append(fvalues[first_out][s].reshape(-1))
            int8_out.append(dequantize(qgraph, tmap[first_out], qvalues[tmap[first_out]]).reshape(-1))
    sqnr = {i: _sqnr(signal[i], noise[i]) for i in tensors}

    layers = []
    for op in fgraph.operators:
        out = op.outputs[0]
        ins = [sqnr[i] for i in op.inputs if i in sqnr and sqnr[i] is not None]
        s = sqnr[out]
        drop = None
        if s is not None and ins:
            worst = min(ins)
            drop = 0.0 if math.isinf(worst) and math.isinf(s) else worst - s
        layers.append(LayerReport(op.index, op.op_type, fgraph.tensor(out).name, s, drop))
    ranked = sorted((lr for lr in layers if lr.drop_db is not None and lr.drop_db > _MIN_FLAG_DROP_DB),
                    key=lambda lr: lr.drop_db, reverse=True)
    for lr in ranked[:FLAG_COUNT]:
        lr.flagged = True

    f_arr, q_arr = np.stack(float_out), np.stack(int8_out)
    agreement = float_acc = int8_acc = None
    if f_arr.shape[1] > 1:
        f_top, q_top = f_arr.argmax(axis=1), q_arr.argmax(axis=1)
        agreement = float(np.mean(f_top == q_top))
        if data.labels is not None:
            float_acc = float(np.mean(f_top == data.labels))
            int8_acc = float(np.mean(q_top == data.labels))
    input_sqnr = min((sqnr[i] for i in fgraph.inputs if sqnr[i] is not None), default=None)
    return QuantizationReport(fgraph.name, len(data), method, agreement, float_acc, int8_acc, sqnr[first_out],
                              input_sqnr, layers)


def _db(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.1f}"


def _short(name: str, limit: int = 48) -> str:
    """Converter-made TFLite names list every fused TF op ("a;b;c"): show the first, cut long ones."""
    first = name.split(";")[0]
    return first if len(first) <= limit else "..." + first[-(limit - 3):]


def format_report(r: QuantizationReport) -> str:
    lines = [f"quantization of {r.model}: int8 per-channel weights, {r.method} activation ranges, "
             f"{r.samples} calibration samples"]
    if r.top1_agreement is not None:
        lines.append(f"  float vs int8 top-1 agreement: {100 * r.top1_agreement:.1f}%")
    if r.float_accuracy is not None and r.int8_accuracy is not None:
        lines.append(f"  accuracy on the calibration labels: float {100 * r.float_accuracy:.1f}%, "
                     f"int8 {100 * r.int8_accuracy:.1f}%")
    lines.append(f"  output SQNR {_db(r.output_sqnr_db)} dB (input quantization alone: {_db(r.input_sqnr_db)} dB)")
    names = [_short(lr.name) for lr in r.layers]
    width = max((len(n) for n in names), default=5)
    lines.append(f"  {'op':>3}  {'type':<17} {'layer':<{width}}  {'SQNR dB':>7}  {'drop dB':>7}")
    for lr, name in zip(r.layers, names, strict=True):
        mark = "  <- loses most" if lr.flagged else ""
        lines.append(f"  {lr.op_index:>3}  {lr.op_type:<17} {name:<{width}}  {_db(lr.sqnr_db):>7}  "
                     f"{_db(lr.drop_db):>7}{mark}")
    return "\n".join(lines)
