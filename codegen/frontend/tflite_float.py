"""Float .tflite frontend: a float32 TFLite model is already a float graph in TFLite ops and NHWC; read it
with the ordinary reader, check that it computes in float32 with ops the quantizer handles, and simplify it.

It goes through the project's own quantizer (not TensorFlow's converter): the same code quantizes PyTorch,
Keras and TFLite models, and no TensorFlow installation is needed (see the README).
"""

from __future__ import annotations

from pathlib import Path

from codegen.errors import ModelError
from codegen.frontend.float_graph import FLOAT_OPS
from codegen.frontend.float_passes import simplify
from codegen.frontend.tflite_reader import parse_tflite
from codegen.ir import Graph, Operator


def first_float_operator(graph: Graph) -> Operator | None:
    """The first operator other than QUANTIZE/DEQUANTIZE that reads a float32 run-time tensor, if any."""
    for op in graph.operators:
        if op.op_type in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for i in op.inputs:
            if i >= 0 and graph.tensor(i).data is None and graph.tensor(i).dtype == "float32":
                return op
    return None


def is_float_graph(graph: Graph) -> bool:
    return first_float_operator(graph) is not None


def float_graph_from_tflite(graph: Graph) -> Graph:
    problems = []
    for op in graph.operators:
        if op.op_type not in FLOAT_OPS:
            out = graph.tensor(op.outputs[0]).name if op.outputs else "?"
            problems.append(f"{op.describe()} producing '{out}': unsupported in a float model")
            continue
        for i in (*op.inputs, *op.outputs):
            t = graph.tensor(i) if i >= 0 else None
            if t is not None and t.data is None and t.dtype != "float32":
                problems.append(f"{op.describe()}: tensor {t.index} ({t.name}) is {t.dtype}, not float32")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise ModelError(f"{graph.name}: cannot quantize this float model, {len(problems)} {noun}:", problems)
    return simplify(graph)


def load_float_tflite(path: Path) -> Graph:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return float_graph_from_tflite(parse_tflite(data, name=Path(path).stem))
