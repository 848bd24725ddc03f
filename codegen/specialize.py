"""Choose, per kernel call, the fastest variant the target supports.

Lowering is target-independent and always yields portable kernels. Here a family's SPECIALIZERS may replace
a call with a faster, bit-identical variant (a DSP-extension kernel, weights re-laid out in the order its
inner loop reads them, the input zero point folded into the bias), or return None to keep the portable one.
"""

from __future__ import annotations

from codegen.ir import Graph
from codegen.kernels import SPECIALIZERS
from codegen.kernels.base import KernelCall
from codegen.target import Target


def specialize(graph: Graph, calls: list[KernelCall], target: Target) -> list[KernelCall]:
    if not target.dsp:
        return list(calls)
    chosen = []
    for call in calls:
        choose = SPECIALIZERS.get(call.kernel)
        if _reads_inside_a_larger_buffer(call):
            choose = None  # patch windows: the fast kernels are validated for non-negative padding only
        faster = choose(call, graph, target) if choose is not None else None
        chosen.append(faster or call)
    return chosen


def _reads_inside_a_larger_buffer(call: KernelCall) -> bool:
    """A patch's window that starts inside its source buffer shows up as negative padding."""
    return getattr(call.params, "pad_h", 0) < 0 or getattr(call.params, "pad_w", 0) < 0
