"""Choose how to execute a model within an SRAM budget: per layer, or stage 1 patch by patch.

Every candidate is planned for real (same planner as the build), so its peak is the arena the firmware
would get. Among the candidates that fit, the one with the fewest predicted instructions wins (the fitted cost
model of codegen/cost_model.py on the portable calls: patches recompute halos and copy windows, so per-layer
wins whenever it fits), then the fewest MACs; without a cost model, the fewest MACs. An infeasible budget is
refused with the smallest peak any schedule reaches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from codegen.cost_model import CostModel
from codegen.errors import BudgetError
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.memory_plan import plan_memory
from codegen.patch_schedule import expand, expand_cached, split_points

GRIDS: tuple[tuple[int, int], ...] = tuple((r, c) for r in range(1, 5) for c in range(1, 5) if (r, c) != (1, 1))
# SRAM besides the arena: the firmware's static state (UART frame buffers, ~2.2 kB) and the stack (~0.5 kB
# high-water on the emulated board). An estimate for the search only; every build re-checks the budget
# against the measured figures.
RUNTIME_SRAM_BYTES = 4096

ScratchHint = Callable[[KernelCall, Graph], int]  # a portable call -> the scratch its fast variant needs


@dataclass(frozen=True)
class Schedule:
    split: int | None  # last call position of stage 1; None for per-layer execution
    grid: tuple[int, int] | None  # (rows, cols) of patches; with `cached`, (row bands, column strips)
    split_tensor: str
    arena_bytes: int
    macs: int
    per_layer_macs: int
    cached: bool = False  # line buffers keep the rows later bands need: no vertical halo is recomputed
    predicted_instructions: int | None = None  # by the cost model, for the portable calls; None without one

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.per_layer_macs - 1 if self.per_layer_macs else 0.0

    @property
    def peak_sram_bytes(self) -> int:
        return self.arena_bytes + RUNTIME_SRAM_BYTES

    def describe(self) -> str:
        if self.split is None:
            return "per-layer"
        if self.cached:
            return f"{self.grid[1]} strips x {self.grid[0]} cached bands up to {self.split_tensor}"
        return f"patches {self.grid[0]}x{self.grid[1]} up to {self.split_tensor}"

    def to_json(self) -> dict:
        kind = "per-layer" if self.split is None else ("cached-bands" if self.cached else "patches")
        return {"kind": kind, "split_call": self.split,
                "split_tensor": self.split_tensor or None, "grid": list(self.grid) if self.grid else None,
                "arena_bytes": self.arena_bytes, "macs": self.macs, "mac_overhead": round(self.mac_overhead, 4),
                "predicted_instructions": self.predicted_instructions}


def _planned(graph: Graph, calls: list[KernelCall], cost: CostModel | None) -> tuple[int, int | None]:
    """Arena bytes and predicted instructions (None without a cost model) of one schedule's calls."""
    plan = plan_memory(graph, calls)
    return plan.arena_bytes, cost.predict(graph, calls, plan.elided_calls) if cost is not None else None


def per_layer(graph: Graph, calls: list[KernelCall], cost: CostModel | None = None) -> Schedule:
    macs = sum(c.macs for c in calls)
    arena, predicted = _planned(graph, calls, cost)
    return Schedule(None, None, "", arena, macs, macs, predicted_instructions=predicted)


def candidates(graph: Graph, calls: list[KernelCall], cost: CostModel | None = None) -> list[Schedule]:
    """Per-layer execution and every split point x grid, each with its planned arena, MACs and (with a cost
    model) predicted instructions."""
    base = per_layer(graph, calls, cost)
    found = [base]
    for split in split_points(graph, calls):
        t = graph.tensor(calls[split].outputs[0])
        name = f"t{t.index} {'x'.join(map(str, t.shape[1:]))}"
        for grid in GRIDS:
            if grid[0] > t.shape[1] or grid[1] > t.shape[2]:
                continue
            g, c = expand(graph, calls, split, grid)
            arena, predicted = _planned(g, c, cost)
            found.append(Schedule(split, grid, name, arena, sum(x.macs for x in c), base.macs,
                                  predicted_instructions=predicted))
        for bands in sorted({t.shape[1], -(-t.shape[1] // 2), -(-t.shape[1] // 4)} - {1}):
            for strips in range(1, min(4, t.shape[2]) + 1):
                g, c = expand_cached(graph, calls, split, bands, strips)
                arena, predicted = _planned(g, c, cost)
                found.append(Schedule(split, (bands, strips), name, arena, sum(x.macs for x in c), base.macs,
                                      cached=True, predicted_instructions=predicted))
    return found


def choose(
    graph: Graph, calls: list[KernelCall], sram_budget: int, scratch_hint: ScratchHint | None = None,
    cost: CostModel | None = None,
) -> tuple[Schedule, list[Schedule]]:
    """The cheapest schedule whose peak SRAM fits the budget, and the candidates that were weighed. Cheapest
    is the fewest instructions `cost` predicts, then the fewest MACs (without a cost model, MACs alone).

    scratch_hint(call, graph) is the scratch the target's fast variant of a portable call would need. The cheapest
    schedule that still fits with that scratch wins, so that the fast kernels run everywhere (a fast kernel
    is worth far more than a few percent of recomputed MACs); only if none does, the cheapest that fits with
    portable kernels where memory is tight (codegen/specialize.py then keeps those calls portable).
    """
    base = per_layer(graph, calls, cost)
    if base.peak_sram_bytes <= sram_budget and _fits_fast(graph, calls, base, sram_budget, scratch_hint):
        return base, [base]
    weighed = candidates(graph, calls, cost)
    fitting = sorted((s for s in weighed if s.peak_sram_bytes <= sram_budget),
                     key=lambda s: (s.predicted_instructions or 0, s.macs, s.arena_bytes))
    if not fitting:
        best = min(s.peak_sram_bytes for s in weighed)
        raise BudgetError(
            f"{graph.name} cannot run in {sram_budget:,} bytes of SRAM: the smallest peak any schedule reaches "
            f"is {best:,} bytes (arena + {RUNTIME_SRAM_BYTES:,} for the runtime and stack)"
        )
    fast = next((s for s in fitting if _fits_fast(graph, calls, s, sram_budget, scratch_hint)), None)
    return fast or fitting[0], weighed


def _fits_fast(graph: Graph, calls: list[KernelCall], schedule: Schedule, sram_budget: int,
               scratch_hint: ScratchHint | None) -> bool:
    """Whether the schedule's arena, with every call holding its fast variant's scratch, still fits."""
    if scratch_hint is None:
        return True
    return fast_arena_bytes(graph, calls, schedule, scratch_hint) + RUNTIME_SRAM_BYTES <= sram_budget


def fast_arena_bytes(graph: Graph, calls: list[KernelCall], schedule: Schedule, scratch_hint: ScratchHint) -> int:
    """The schedule's arena with every call holding the scratch its fast variant may need."""
    g, c = apply(graph, calls, schedule)
    hinted = [dataclasses.replace(x, scratch_bytes=max(x.scratch_bytes, scratch_hint(x, g))) for x in c]
    return plan_memory(g, hinted).arena_bytes


def apply(graph: Graph, calls: list[KernelCall], schedule: Schedule) -> tuple[Graph, list[KernelCall]]:
    if schedule.split is None:
        return graph, calls
    if schedule.cached:
        return expand_cached(graph, calls, schedule.split, *schedule.grid)
    return expand(graph, calls, schedule.split, schedule.grid)
