"""Choose, per kernel call, the fastest variant the target supports.

Lowering is target-independent and always yields portable kernels. Here a family's SPECIALIZERS may replace
a call with a faster, bit-identical variant (a DSP-extension kernel, weights re-laid out in the order its
inner loop reads them, the input zero point folded into the bias), or return None to keep the portable one.

With a cost model, a fast variant is taken only when it is predicted cheaper than the portable call (a DSP
kernel's set-up can outweigh its speed on a tiny layer); a kernel the model has no coefficients for keeps
the rule above.

Some fast variants need a scratch buffer the portable kernel does not. The schedule was chosen (and its SRAM
promised) with the portable calls, so with an arena limit the scratch-hungry variants that push the arena
past it go back to their portable kernels until the plan fits again: first those whose step cannot hold the
scratch at all, then the topmost scratch, one at a time. (The search prefers schedules that fit with the fast
variants' scratch, see schedule_search.choose, so this only happens at the tightest budgets.)
"""

from __future__ import annotations

from codegen.ir import Graph
from codegen.kernels import SCRATCH_HINTS, SPECIALIZERS
from codegen.kernels.base import KernelCall
from codegen.memory.planner import plan_memory
from codegen.schedule.cost_model import CostModel
from codegen.schedule.search import ScratchHint
from codegen.targets.core import Target


def specialize(
    graph: Graph, calls: list[KernelCall], target: Target, arena_limit: int | None = None,
    cost: CostModel | None = None,
) -> list[KernelCall]:
    if not target.dsp:
        return list(calls)
    chosen = []
    for call in calls:
        choose = SPECIALIZERS.get(call.kernel)
        faster = choose(call, graph, target) if choose is not None else None
        chosen.append(faster if faster is not None and _pays_off(graph, call, faster, cost) else call)
    if arena_limit is not None:
        _revert_scratch_until_it_fits(graph, calls, chosen, arena_limit)
    return chosen


def scratch_hint(target: Target) -> ScratchHint | None:
    """For the schedule search: the scratch each portable call's fast variant would need on this target."""
    if not target.dsp:
        return None
    return lambda call, graph: SCRATCH_HINTS[call.kernel](call, graph) if call.kernel in SCRATCH_HINTS else 0


def _pays_off(graph: Graph, portable: KernelCall, fast: KernelCall, cost: CostModel | None) -> bool:
    if cost is None or not (cost.knows(portable.kernel) and cost.knows(fast.kernel)):
        return True
    return cost.predict_call(graph, fast) < cost.predict_call(graph, portable)


def _revert_scratch_until_it_fits(graph: Graph, portable: list[KernelCall], chosen: list[KernelCall],
                                  arena_limit: int) -> None:
    """Puts portable calls back in `chosen` (in place) while the arena exceeds the limit: first the fast calls
    whose step cannot hold their scratch at all (live bytes plus scratch over the limit), then one at a time
    the one whose scratch ends highest (the greedy placement may have pushed a tensor up around it)."""
    first = True
    while True:
        plan = plan_memory(graph, chosen)
        if plan.arena_bytes <= arena_limit:
            return
        extra = {s: plan.scratch_offsets[s] + chosen[s].scratch_bytes for s in plan.scratch_offsets
                 if chosen[s].scratch_bytes > portable[s].scratch_bytes}
        if not extra:
            return  # the portable plan itself is over: the build's own check reports it
        hopeless = [s for s in extra if plan.live_bytes[s] > arena_limit] if first else []
        first = False
        for step in hopeless or [max(extra, key=extra.__getitem__)]:
            chosen[step] = portable[step]
