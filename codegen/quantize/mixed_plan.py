"""Which (patch grid, int8 sub-patches s) mixed precision runs on under an SRAM budget.

The low-bit path runs the coarse patch on packed buffers; the int8 path (outlier patches) runs its tile as s x s
sub-patches (mixed_split.py), whose smaller buffers cost recomputed halos. A pair fits when its planned arena plus
the runtime SRAM is within the budget; among fitting pairs the planner takes the fewest expected stage-1 MACs:
per patch, the calls up to its check, then the low-bit body at the calibration set's low-bit share and the int8
body at the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.errors import BudgetError
from codegen.kernels.base import KernelCall
from codegen.quantize.mixed_patches import MixedPatches

SUBPATCHES = (1, 2, 3, 4)  # s weighed by `--mp-int8-subpatches auto`
MAX_GRIDS = 4  # best-ranked eligible patch schedules weighed (each needs its own calibration search)


@dataclass(frozen=True)
class SplitChoice:
    grid: tuple[int, int]
    split: int
    s: int
    arena_bytes: int
    peak_sram_bytes: int  # arena + the schedule's runtime SRAM
    expected_macs: float  # stage 1, at the calibration set's low-bit share
    fits: bool

    def to_json(self) -> dict:
        return {"grid": list(self.grid), "split": self.split, "int8_subpatches": self.s,
                "arena_bytes": self.arena_bytes, "peak_sram_bytes": self.peak_sram_bytes,
                "expected_stage1_macs": round(self.expected_macs), "fits": self.fits}


class NoPairFits(BudgetError):
    """No (grid, s) pair weighed fits the budget; `choices` are those weighed (the smallest peak among them)."""

    def __init__(self, message: str, choices: tuple[SplitChoice, ...]) -> None:
        super().__init__(message)
        self.choices = choices


def expected_macs(calls: list[KernelCall], patches: MixedPatches, low_share: float) -> float:
    """Expected stage-1 MACs of the merged (or, with s = 1, the coarse) call list."""
    total = 0.0
    start = 0
    for b in patches.branches:
        prefix = sum(c.macs for c in calls[start : b.check + 1])
        low_calls = [b.twins.get(p, calls[p]) for p in range(b.check + 1, b.end)]
        low = sum(c.macs for c in low_calls)
        high = low if b.high is None else sum(c.macs for c in calls[b.high[0] : b.high[1]])
        total += prefix + low_share * low + (1 - low_share) * high
        start = b.end if b.high is None else b.high[1]
    return total


def best(choices: list[SplitChoice]) -> SplitChoice | None:
    fitting = [c for c in choices if c.fits]
    return min(fitting, key=lambda c: (c.expected_macs, c.peak_sram_bytes)) if fitting else None


def format_choices(choices: list[SplitChoice], chosen: SplitChoice) -> str:
    lines = ["mixed precision: (grid, int8 sub-patches s) weighed; * chosen, x over budget",
             "  grid  split  s   arena B   peak B   expected stage-1 MACs"]
    for c in choices:
        mark = "*" if c == chosen else (" " if c.fits else "x")
        grid = f"{c.grid[0]}x{c.grid[1]}"
        lines.append(f"{mark} {grid:<5} {c.split:>5}  {c.s}  {c.arena_bytes:>8,} {c.peak_sram_bytes:>8,}   "
                     f"{c.expected_macs:,.0f}")
    return "\n".join(lines)
