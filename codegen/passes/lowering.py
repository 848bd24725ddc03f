"""Lower every operator of a graph to kernel calls, or list every reason it cannot be."""

from __future__ import annotations

from codegen.errors import ModelError
from codegen.ir import Graph
from codegen.kernels import LOWERINGS
from codegen.kernels.base import KernelCall, Unsupported


def lower_graph(graph: Graph) -> list[KernelCall]:
    """All kernel calls in execution order. Raises ModelError naming each unsupported operator."""
    calls: list[KernelCall] = []
    problems: list[str] = []
    for op in graph.operators:
        lower = LOWERINGS.get(op.op_type)
        if lower is None:
            kind = "custom op" if op.op_type.startswith("CUSTOM:") else "op"
            problems.append(f"{op.describe()}: unsupported {kind}")
            continue
        try:
            calls.extend(lower(op, graph))
        except Unsupported as exc:
            problems.append(f"{op.describe()}: unsupported {exc}")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise ModelError(f"{graph.name}: cannot compile, {len(problems)} {noun}:", problems)
    return calls
