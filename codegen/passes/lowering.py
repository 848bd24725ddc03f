"""Lower every operator of a graph to kernel calls, or list every reason it cannot be."""

from __future__ import annotations

import math

import numpy as np

from codegen.errors import ModelError
from codegen.ir import Graph
from codegen.kernels import LOWERINGS
from codegen.kernels.base import KernelCall, Unsupported

# What each C type of a params struct member holds: a value outside is a gcc -Werror=overflow, or worse.
_C_RANGES = {
    "int8_t": (-(2**7), 2**7 - 1),
    "uint8_t": (0, 2**8 - 1),
    "int16_t": (-(2**15), 2**15 - 1),
    "uint16_t": (0, 2**16 - 1),
    "int32_t": (-(2**31), 2**31 - 1),
    "uint32_t": (0, 2**32 - 1),
}


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
            lowered = lower(op, graph)
            for call in lowered:
                check_operands(call, graph)
                check_params_fit(call)
            calls.extend(lowered)
        except Unsupported as exc:
            problems.append(f"{op.describe()}: unsupported {exc}")
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise ModelError(f"{graph.name}: cannot compile, {len(problems)} {noun}:", problems)
    return calls


def check_operands(call: KernelCall, graph: Graph) -> None:
    """Kernel inputs are read from the arena, where constants never are: a lowering that takes its operand as
    an activation must not be handed a weight tensor (an operator input index pointing at a constant)."""
    for i in call.inputs:
        t = graph.tensor(i)
        if t.is_const:
            raise Unsupported(f"with constant tensor {i} ({t.name[:60]}) where it reads an activation")


def check_params_fit(call: KernelCall) -> None:
    """Every parameter the C emitter will write fits its struct member (a huge dilation makes a padding of
    2^32; a NaN scale a float no C literal spells)."""
    if call.params is None:
        return
    for name, ctype in call.params.c_fields():
        value = getattr(call.params, name)
        if ctype in ("float", "double"):
            as_c = float(np.float32(value)) if ctype == "float" else float(value)
            if not math.isfinite(as_c):
                raise Unsupported(f"with kernel parameter {name} = {value!r}, which a C {ctype} cannot hold")
            continue
        low, high = _C_RANGES[ctype]
        if not low <= int(value) <= high:
            raise Unsupported(f"with kernel parameter {name} = {int(value)}, outside the range of {ctype}")
