"""Choose how to execute a model within an SRAM budget: per layer, or stage 1 patch by patch.

Every candidate is planned for real (same planner as the build), so its peak is the arena the firmware
would get. Among the candidates that fit, the one with the fewest MACs wins (patches recompute halos, so
per-layer wins whenever it fits); an infeasible budget is refused with the smallest peak any schedule reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Schedule:
    split: int | None  # last call position of stage 1; None for per-layer execution
    grid: tuple[int, int] | None  # (rows, cols) of patches; with `cached`, (row bands, column strips)
    split_tensor: str
    arena_bytes: int
    macs: int
    per_layer_macs: int
    cached: bool = False  # line buffers keep the rows later bands need: no vertical halo is recomputed

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
                "arena_bytes": self.arena_bytes, "macs": self.macs, "mac_overhead": round(self.mac_overhead, 4)}


def per_layer(graph: Graph, calls: list[KernelCall]) -> Schedule:
    macs = sum(c.macs for c in calls)
    return Schedule(None, None, "", plan_memory(graph, calls).arena_bytes, macs, macs)


def candidates(graph: Graph, calls: list[KernelCall]) -> list[Schedule]:
    """Per-layer execution and every split point x grid, each with its planned arena and MACs."""
    base = per_layer(graph, calls)
    found = [base]
    for split in split_points(graph, calls):
        t = graph.tensor(calls[split].outputs[0])
        name = f"t{t.index} {'x'.join(map(str, t.shape[1:]))}"
        for grid in GRIDS:
            if grid[0] > t.shape[1] or grid[1] > t.shape[2]:
                continue
            g, c = expand(graph, calls, split, grid)
            found.append(Schedule(split, grid, name, plan_memory(g, c).arena_bytes, sum(x.macs for x in c),
                                  base.macs))
        for bands in sorted({t.shape[1], -(-t.shape[1] // 2), -(-t.shape[1] // 4)} - {1}):
            for strips in range(1, min(4, t.shape[2]) + 1):
                g, c = expand_cached(graph, calls, split, bands, strips)
                found.append(Schedule(split, (bands, strips), name, plan_memory(g, c).arena_bytes,
                                      sum(x.macs for x in c), base.macs, cached=True))
    return found


def choose(graph: Graph, calls: list[KernelCall], sram_budget: int) -> tuple[Schedule, list[Schedule]]:
    """The cheapest schedule whose peak SRAM fits the budget, and the candidates that were weighed."""
    base = per_layer(graph, calls)
    if base.peak_sram_bytes <= sram_budget:
        return base, [base]
    weighed = candidates(graph, calls)
    fitting = [s for s in weighed if s.peak_sram_bytes <= sram_budget]
    if not fitting:
        best = min(s.peak_sram_bytes for s in weighed)
        raise BudgetError(
            f"{graph.name} cannot run in {sram_budget:,} bytes of SRAM: the smallest peak any schedule reaches "
            f"is {best:,} bytes (arena + {RUNTIME_SRAM_BYTES:,} for the runtime and stack)"
        )
    return min(fitting, key=lambda s: (s.macs, s.arena_bytes)), weighed


def apply(graph: Graph, calls: list[KernelCall], schedule: Schedule) -> tuple[Graph, list[KernelCall]]:
    if schedule.split is None:
        return graph, calls
    if schedule.cached:
        return expand_cached(graph, calls, schedule.split, *schedule.grid)
    return expand(graph, calls, schedule.split, schedule.grid)
