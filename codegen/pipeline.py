"""From a model file to generated C: read, lower, plan memory, emit. Nothing is written to disk here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codegen.emit_c import GeneratedSources, emit_model, model_hash
from codegen.errors import ModelError
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.lowering import lower_graph
from codegen.memory_plan import MemoryPlan, plan_memory
from codegen.specialize import specialize
from codegen.target import PORTABLE, Target
from codegen.tflite_reader import parse_tflite


@dataclass
class CompiledModel:
    graph: Graph
    calls: list[KernelCall]
    plan: MemoryPlan
    sources: GeneratedSources
    hash8: bytes

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.calls)


def compile_graph(graph: Graph, model_bytes: bytes, target: Target = PORTABLE) -> CompiledModel:
    calls = specialize(graph, lower_graph(graph), target)
    plan = plan_memory(graph, calls)
    hash8 = model_hash(model_bytes)
    return CompiledModel(graph, calls, plan, emit_model(graph, calls, plan, hash8), hash8)


def compile_file(path: str | Path, target: Target = PORTABLE) -> CompiledModel:
    path = Path(path)
    if path.suffix.lower() != ".tflite":
        raise ModelError(f"{path}: unsupported model format '{path.suffix}' (expected .tflite)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return compile_graph(parse_tflite(data, name=path.stem), data, target)
