"""Choose, per kernel call, the fastest variant the target supports.

Lowering is target-independent and always yields portable kernels. Here a family's SPECIALIZERS may replace
a call with a faster, bit-identical variant (a DSP-extension kernel, weights re-laid out in the order its
inner loop reads them, the input zero point folded into the bias), or return None to keep the portable one.

Some fast variants need a scratch buffer the portable kernel does not. The schedule was chosen (and its SRAM
promised) with the portable calls, so with an arena limit the scratch-hungry variants that push the arena
past it go back to their portable kernels, the topmost scratch first, until the plan fits again.
"""

from __future__ import annotations

from codegen.ir import Graph
from codegen.kernels import SPECIALIZERS
from codegen.kernels.base import KernelCall
from codegen.memory_plan import plan_memory
from codegen.target import Target


def specialize(
    graph: Graph, calls: list[KernelCall], target: Target, arena_limit: int | None = None
) -> list[KernelCall]:
    if not target.dsp:
        return list(calls)
    chosen = []
    for call in calls:
        choose = SPECIALIZERS.get(call.kernel)
        faster = choose(call, graph, target) if choose is not None else None
        chosen.append(faster or call)
    if arena_limit is not None:
        _revert_scratch_until_it_fits(graph, calls, chosen, arena_limit)
    return chosen


def _revert_scratch_until_it_fits(graph: Graph, portable: list[KernelCall], chosen: list[KernelCall],
                                  arena_limit: int) -> None:
    """Puts portable calls back in `chosen` (in place) while the arena exceeds the limit: first every fast call
    whose own scratch (one the portable kernel does not need) reaches past the limit, else the one whose scratch
    ends highest, as its placement may have pushed a tensor up."""
    while True:
        plan = plan_memory(graph, chosen)
        if plan.arena_bytes <= arena_limit:
            return
        extra = {s: plan.scratch_offsets[s] + chosen[s].scratch_bytes for s in plan.scratch_offsets
                 if chosen[s].scratch_bytes > portable[s].scratch_bytes}
        if not extra:
            return  # the portable plan itself is over: the build's own check reports it
        above = [s for s, end in extra.items() if end > arena_limit] or [max(extra, key=extra.__getitem__)]
        for step in above:
            chosen[step] = portable[step]
