"""Choose how to execute a model within an SRAM budget: per layer, or stage 1 patch by patch.

Every candidate is planned for real (same planner as the build), so its peak is the arena the firmware
would get. Among the candidates that fit, the one with the fewest predicted instructions wins (the fitted cost
model of codegen/schedule/cost_model.py on the portable calls: patches recompute halos and copy windows, so per-layer
wins whenever it fits), then the fewest MACs; without a cost model, the fewest MACs. An infeasible budget is
refused with the smallest peak any schedule reaches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from codegen.errors import BudgetError
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.memory.planner import plan_memory
from codegen.passes.depthwise_in_place import place_depthwise_in_place
from codegen.schedule.band_segments import band_blocks
from codegen.schedule.cost_model import CostModel
from codegen.schedule.patch_schedule import can_stream_input, expand, expand_cached, split_points
from codegen.schedule.se_two_pass import expand_two_pass, feature_tensor, two_pass_split_points

GRIDS: tuple[tuple[int, int], ...] = tuple((r, c) for r in range(1, 5) for c in range(1, 5) if (r, c) != (1, 1))
# SRAM besides the arena: the firmware's static state (UART frame buffers, ~2.2 kB) and the stack (~0.5 kB
# high-water on the emulated board). The search starts from this estimate; `codegen build` then measures the
# real figure on the emulated board and searches again with it (tools/build.py).
RUNTIME_SRAM_BYTES = 4096

ScratchHint = Callable[[KernelCall, Graph], int]  # a portable call -> the scratch its fast variant needs
# A schedule -> (its predicted flash bytes, how they divide), e.g. codegen.pipeline.flash_predictor
FlashPredictor = Callable[["Schedule"], tuple[int, str]]


# At most this many schedules are checked against the flash (each is emitted as C to predict it), in the
# search's order of preference: they differ by code (tens of kB at most), so past a few the weights decide.
FLASH_CHECKS = 12


@dataclass(frozen=True)
class FlashLimit:
    """The board's flash and a predictor: the search skips schedules whose predicted flash exceeds it. `measured`
    holds the flash a build measured for schedules (by schedule_key) whose firmware linked over the board's: that
    figure replaces the prediction, so the search skips them (tools/build.py searches again with it)."""

    flash_bytes: int
    predict: FlashPredictor
    measured: dict[tuple, int] = field(default_factory=dict)
Expansion = tuple[Graph, list[KernelCall]]


@dataclass(frozen=True)
class Schedule:
    split: int | None  # last call position of stage 1; None for per-layer execution
    grid: tuple[int, int] | None  # (rows, cols) of patches; with `cached`, (row bands, column strips)
    split_tensor: str
    arena_bytes: int
    macs: int
    per_layer_macs: int
    cached: bool = False  # line buffers keep the rows later bands need: no vertical halo is recomputed
    streamed: bool = False  # cached bands read the model input row by row (never held whole in SRAM)
    banded: bool = False  # later blocks run in row bands too, where that lowers the arena (band_segments.py)
    two_pass: bool = False  # stage 1 holds a squeeze-and-excite, run in two passes of patches (se_two_pass.py)
    predicted_instructions: int | None = None  # by the cost model, for the portable calls; None without one
    stage1_bytes: int = 0  # peak live bytes while stage 1 runs: a floor for banding the later blocks
    runtime_sram_bytes: int = RUNTIME_SRAM_BYTES  # SRAM besides the arena: estimated, or measured by a build
    flash_bytes: int | None = None  # predicted flash, when the search checked it against the board's flash
    flash: str = ""  # how the predicted flash divides (weights + code)
    over_flash: bool = False  # skipped: its predicted flash exceeds the board's
    flash_measured: bool = False  # flash_bytes is what a build of it measured (it linked over the board's flash)

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.per_layer_macs - 1 if self.per_layer_macs else 0.0

    @property
    def peak_sram_bytes(self) -> int:
        return self.arena_bytes + self.runtime_sram_bytes

    def describe(self) -> str:
        return self._stage1() + (", blocks in bands" if self.banded else "")

    def _stage1(self) -> str:
        if self.split is None:
            return "per-layer"
        if self.cached:
            streamed = ", input streamed" if self.streamed else ""
            return f"{self.grid[1]} strips x {self.grid[0]} cached bands up to {self.split_tensor}{streamed}"
        if self.two_pass:
            return f"two-pass SE, patches {self.grid[0]}x{self.grid[1]} up to {self.split_tensor}"
        return f"patches {self.grid[0]}x{self.grid[1]} up to {self.split_tensor}"

    def to_json(self) -> dict:
        kind = "per-layer" if self.split is None else ("cached-bands" if self.cached else "patches")
        # "two_pass" only where set, so that the figures recorded before the family existed stay valid.
        extra = {"two_pass": True} if self.two_pass else {}
        return {"kind": kind, **extra, "split_call": self.split,
                "split_tensor": self.split_tensor or None, "grid": list(self.grid) if self.grid else None,
                "input_streamed": self.streamed, "blocks_banded": self.banded,
                "arena_bytes": self.arena_bytes, "macs": self.macs, "mac_overhead": round(self.mac_overhead, 4),
                "predicted_instructions": self.predicted_instructions,
                "runtime_sram_bytes": self.runtime_sram_bytes, "predicted_flash_bytes": self.flash_bytes}


def _planned(graph: Graph, calls: list[KernelCall], cost: CostModel | None,
             stage2_calls: int | None = None) -> tuple[int, int | None, int]:
    """Arena bytes, predicted instructions (None without a cost model) and stage 1's peak live bytes (what
    banding later blocks cannot lower; 0 for per-layer execution) of one schedule's calls."""
    plan = plan_memory(graph, calls)
    predicted = cost.predict(graph, calls, plan.elided_calls) if cost is not None else None
    stage1 = plan.live_bytes[: len(calls) - stage2_calls] if stage2_calls is not None else []
    return plan.arena_bytes, predicted, max(stage1, default=0)


def per_layer(graph: Graph, calls: list[KernelCall], cost: CostModel | None = None) -> Schedule:
    macs = sum(c.macs for c in calls)
    arena, predicted, _ = _planned(graph, calls, cost)
    return Schedule(None, None, "", arena, macs, macs, predicted_instructions=predicted)


def candidates(graph: Graph, calls: list[KernelCall], cost: CostModel | None = None,
               stream_input: bool = False, sram_budget: int | None = None,
               splits: list[int] | None = None, two_pass_splits: list[int] | None = None) -> list[Schedule]:
    """Per-layer execution and every split point x grid, each with its planned arena, MACs and (with a cost
    model) predicted instructions. With `stream_input`, cached bands read the input row by row where they can.
    Split points past a squeeze-and-excite block get two-pass patch schedules (se_two_pass.py: recomputed
    patches, the input held).

    With `sram_budget`, split points whose floor (see split_floor) exceeds it are not planned: no schedule
    there can fit, banded or not. `splits` and `two_pass_splits` limit the split points weighed (default: all;
    with `splits` given, two-pass ones only if `two_pass_splits` names them)."""
    base = per_layer(graph, calls, cost)
    found = [base]
    for split in split_points(graph, calls) if splits is None else splits:
        streamed = stream_input and can_stream_input(graph, calls, split)
        if sram_budget is not None and split_floor(graph, calls, split, streamed) > sram_budget:
            continue
        t = graph.tensor(calls[split].outputs[0])
        name = f"t{t.index} {'x'.join(map(str, t.shape[1:]))}"
        for grid in GRIDS:
            if grid[0] > t.shape[1] or grid[1] > t.shape[2]:
                continue
            g, c = expand(graph, calls, split, grid)
            arena, predicted, stage1 = _planned(g, c, cost, len(calls) - split - 1)
            found.append(Schedule(split, grid, name, arena, sum(x.macs for x in c), base.macs,
                                  predicted_instructions=predicted, stage1_bytes=stage1))
        for bands in sorted({t.shape[1], -(-t.shape[1] // 2), -(-t.shape[1] // 4)} - {1}):
            for strips in range(1, min(4, t.shape[2]) + 1):
                g, c = expand_cached(graph, calls, split, bands, strips, streamed)
                arena, predicted, stage1 = _planned(g, c, cost, len(calls) - split - 1)
                found.append(Schedule(split, (bands, strips), name, arena, sum(x.macs for x in c), base.macs,
                                      cached=True, streamed=streamed, predicted_instructions=predicted,
                                      stage1_bytes=stage1))
    if two_pass_splits is None:
        two_pass_splits = two_pass_split_points(graph, calls) if splits is None else []
    for split in two_pass_splits:
        found.extend(_two_pass(graph, calls, split, cost, base, sram_budget))
    return found


def _two_pass(graph: Graph, calls: list[KernelCall], split: int, cost: CostModel | None, base: Schedule,
              sram_budget: int | None) -> list[Schedule]:
    """The two-pass schedules split at `split` (after a squeeze-and-excite), one per grid that fits both the
    split tensor and the SE's input map."""
    if sram_budget is not None and split_floor(graph, calls, split, False) > sram_budget:
        return []
    t, x = graph.tensor(calls[split].outputs[0]), feature_tensor(graph, calls, split)
    name = f"t{t.index} {'x'.join(map(str, t.shape[1:]))}"
    found = []
    for grid in GRIDS:
        if grid[0] > min(t.shape[1], x.shape[1]) or grid[1] > min(t.shape[2], x.shape[2]):
            continue
        g, c = expand_two_pass(graph, calls, split, grid)
        arena, predicted, stage1 = _planned(g, c, cost, len(calls) - split - 1)
        found.append(Schedule(split, grid, name, arena, sum(x.macs for x in c), base.macs,
                              predicted_instructions=predicted, stage1_bytes=stage1, two_pass=True))
    return found


def split_floor(graph: Graph, calls: list[KernelCall], split: int, streamed: bool) -> int:
    """Bytes every schedule split at `split` holds at once, whatever its grid and banding: the split tensor
    (written tile by tile or band by band, so allocated whole from its first write) and, unless streamed, the
    model input (read until stage 1's last patch or band, which writes the split tensor's last rows)."""
    held = 0 if streamed else sum(graph.tensor(i).nbytes for i in graph.inputs)
    return graph.tensor(calls[split].outputs[0]).nbytes + held


class NoScheduleFitsFlash(BudgetError):
    """Schedules fit the SRAM budget, but every one's predicted flash exceeds the board's."""

    def __init__(self, model: str, flash_bytes: int, smallest: Schedule, weighed: list[Schedule], checked: int):
        self.model, self.flash_bytes, self.smallest, self.weighed = model, flash_bytes, smallest, weighed
        how = "measured by a build" if smallest.flash_measured else "predicted"
        super().__init__(
            f"{model} does not fit: FLASH by {(smallest.flash_bytes or 0) - flash_bytes:,} bytes, {how} (the "
            f"{checked} schedule(s) checked that fit the SRAM budget all need more than the {flash_bytes:,} bytes "
            f"of flash; the smallest, {smallest.describe()}, needs {smallest.flash})")
@dataclass
class SearchCache:
    """What one search computes more than once for the same schedule, kept for that search only: a schedule's
    expanded calls (blocks in bands are the costliest to find), and its arena with fast-kernel scratch. Keyed by
    what determines them (split, grid, family, banding), so a hit returns exactly what planning again would."""

    expansions: dict[tuple, Expansion] = field(default_factory=dict)
    placed: dict[tuple, Graph] = field(default_factory=dict)  # banded schedules' graphs, depthwise in place
    fast_arenas: dict[tuple, int] = field(default_factory=dict)


def schedule_key(schedule: Schedule) -> tuple:
    """What identifies a schedule's calls (split, grid, family, banding), whatever figures it carries."""
    return (schedule.split, schedule.grid, schedule.cached, schedule.streamed, schedule.banded, schedule.two_pass)


class NoScheduleFits(BudgetError):
    """No schedule's peak SRAM meets the budget; `smallest` is the schedule with the lowest peak, and
    `streamed_arena` the lowest arena with the input streamed, where the search did not stream it but could."""

    def __init__(self, model: str, sram_budget: int, smallest: Schedule, weighed: list[Schedule],
                 measured: bool = False, streamed_arena: int | None = None):
        self.model, self.sram_budget, self.smallest, self.weighed = model, sram_budget, smallest, weighed
        self.streamed_arena = streamed_arena
        how = "measured on the emulated board" if measured else "estimated"
        runtime = smallest.runtime_sram_bytes
        streamed = (f"; with --stream-input {streamed_arena + runtime:,} bytes"
                    if streamed_arena is not None and streamed_arena < smallest.arena_bytes else "")
        super().__init__(
            f"{model} cannot run in {sram_budget:,} bytes of SRAM: the smallest peak any schedule reaches is "
            f"{smallest.peak_sram_bytes:,} bytes (arena {smallest.arena_bytes:,} + {runtime:,} "
            f"for the runtime and stack, {how}){streamed}")

    def measured(self) -> NoScheduleFits:
        """The same refusal, its runtime SRAM measured by a build."""
        return NoScheduleFits(self.model, self.sram_budget, self.smallest, self.weighed, measured=True,
                              streamed_arena=self.streamed_arena)


def choose(
    graph: Graph, calls: list[KernelCall], sram_budget: int, scratch_hint: ScratchHint | None = None,
    cost: CostModel | None = None, stream_input: bool = False, runtime_sram_bytes: int = RUNTIME_SRAM_BYTES,
    earlier: list[Schedule] | None = None, flash: FlashLimit | None = None, cache: SearchCache | None = None,
) -> tuple[Schedule, list[Schedule]]:
    """The cheapest schedule whose peak SRAM fits the budget, and the candidates that were weighed. Cheapest
    is the fewest instructions `cost` predicts, then the fewest MACs (without a cost model, MACs alone).

    Every family is weighed at every budget: per-layer, recompute patches and cached bands at every split
    point (streamed input when allowed), each also with its later blocks in bands. Work is pruned by bounds
    only: split points whose floor (split_floor) exceeds the budget are not planned, and a schedule is banded
    only while banding could still win, i.e. its stage-1 peak fits and its unbanded prediction (which banding
    only raises: more, smaller calls and row shifts, no fewer MACs) is below the best fit found so far.

    scratch_hint(call, graph) is the scratch the target's fast variant of a portable call would need. The cheapest
    schedule that still fits with that scratch wins, so that the fast kernels run everywhere (a fast kernel
    is worth far more than a few percent of recomputed MACs); only if none does, the cheapest that fits with
    portable kernels where memory is tight (codegen/passes/specialize.py then keeps those calls portable).

    runtime_sram_bytes is the SRAM the firmware needs besides the arena (static state and stack). `earlier`, the
    candidates an earlier search of the same model and budget weighed, spares planning them again (a build
    searches again once it has measured the runtime SRAM); the pruning above never depends on it.

    With `flash`, the schedule found is checked against the board's flash (its predicted weights and code);
    one over it is marked `over_flash` and skipped for the next in the same order (NoScheduleFitsFlash when
    none is left).

    `cache` (of this graph and calls) keeps what the search planned for whoever emits its schedules afterwards
    (the flash predictor, the build); a new one is used without it.
    """
    cache = SearchCache() if cache is None else cache
    chosen, weighed = _choose_sram(graph, calls, sram_budget, scratch_hint, cost, stream_input, runtime_sram_bytes,
                                   earlier, cache)
    return (chosen, weighed) if flash is None else _within_flash(graph, chosen, weighed, sram_budget, flash,
                                                                 lambda s: _fits_fast(graph, calls, s, sram_budget,
                                                                                      scratch_hint, cache))


def _within_flash(graph: Graph, chosen: Schedule, weighed: list[Schedule], sram_budget: int, flash: FlashLimit,
                  fits_fast: Callable[[Schedule], bool]) -> tuple[Schedule, list[Schedule]]:
    """The first schedule, in the search's order of preference from `chosen` on, whose predicted flash fits."""
    def rank(s: Schedule) -> tuple[int, int, int]:
        return (s.predicted_instructions or 0, s.macs, s.arena_bytes)

    fitting = sorted((s for s in weighed if s.peak_sram_bytes <= sram_budget), key=rank)
    fast = [s for s in fitting if fits_fast(s)] if chosen in fitting and fits_fast(chosen) else []
    order = [chosen, *(s for s in fast + fitting if s is not chosen)]
    checked: dict[int, Schedule] = {}
    for s in order:
        if id(s) in checked:
            continue
        if len(checked) == FLASH_CHECKS:
            break
        measured = flash.measured.get(schedule_key(s))
        if measured is not None:
            needed, how = measured, f"{measured:,} B measured (its firmware did not link)"
        else:
            needed, how = flash.predict(s)
        checked[id(s)] = dataclasses.replace(s, flash_bytes=needed, flash=how, over_flash=needed > flash.flash_bytes,
                                             flash_measured=measured is not None)
        if not checked[id(s)].over_flash:
            break
    listed = any(s is chosen for s in weighed)  # not when per-layer fits (the search then lists nothing else)
    weighed = [checked.get(id(s), s) for s in weighed]
    if not listed:
        weighed = [checked.get(id(chosen), chosen), *weighed]
    found = next((s for s in checked.values() if not s.over_flash), None)
    if found is None:
        smallest = min(checked.values(), key=lambda s: s.flash_bytes or 0)
        raise NoScheduleFitsFlash(graph.name, flash.flash_bytes, smallest, weighed, len(checked))
    return found, weighed


def _choose_sram(
    graph: Graph, calls: list[KernelCall], sram_budget: int, scratch_hint: ScratchHint | None,
    cost: CostModel | None, stream_input: bool, runtime_sram_bytes: int, earlier: list[Schedule] | None,
    cache: SearchCache,
) -> tuple[Schedule, list[Schedule]]:
    def runtime(found: list[Schedule]) -> list[Schedule]:
        return [dataclasses.replace(s, runtime_sram_bytes=runtime_sram_bytes) for s in found]

    [base] = runtime([per_layer(graph, calls, cost)])
    if base.peak_sram_bytes <= sram_budget and _fits_fast(graph, calls, base, sram_budget, scratch_hint, cache):
        return base, [base]
    reuse = earlier is not None and len(earlier) > 1  # [per-layer] alone: that search stopped early
    weighed = runtime(earlier if reuse else candidates(graph, calls, cost, stream_input, sram_budget))

    def rank(s: Schedule) -> tuple[int, int, int]:
        return (s.predicted_instructions or 0, s.macs, s.arena_bytes)

    def best_fast() -> Schedule | None:
        fitting = sorted((s for s in weighed if s.peak_sram_bytes <= sram_budget), key=rank)
        return next((s for s in fitting if _fits_fast(graph, calls, s, sram_budget, scratch_hint, cache)), None)

    banded_already = {(s.split, s.grid, s.cached, s.streamed, s.two_pass) for s in weighed if s.banded}
    fast = best_fast()
    for s in sorted((s for s in weighed if not s.banded), key=rank):
        if fast is not None and rank(s)[:2] > rank(fast)[:2]:
            break  # banding s would cost more than the best fit already does
        if (s.split, s.grid, s.cached, s.streamed, s.two_pass) in banded_already or s.stage1_bytes > sram_budget:
            continue
        if s.peak_sram_bytes <= sram_budget and _fits_fast(graph, calls, s, sram_budget, scratch_hint, cache):
            continue  # fits as it is: banding would only add work
        banded = with_banded_blocks(graph, calls, s, cost, cache)  # keeps runtime_sram_bytes
        weighed.append(banded)
        if banded.peak_sram_bytes <= sram_budget and (fast is None or rank(banded) < rank(fast)):
            fast = best_fast()
    fitting = sorted((s for s in weighed if s.peak_sram_bytes <= sram_budget), key=rank)
    if not fitting:
        streamed = None
        if not stream_input and any(can_stream_input(graph, calls, k) for k in split_points(graph, calls)):
            streamed = smallest_streamed_arena(graph, calls, cost)
        raise NoScheduleFits(graph.name, sram_budget, _smallest(graph, calls, weighed, cost, stream_input), weighed,
                             streamed_arena=streamed)
    return fast or fitting[0], weighed


def _smallest(graph: Graph, calls: list[KernelCall], weighed: list[Schedule], cost: CostModel | None,
              stream_input: bool) -> Schedule:
    """The schedule with the lowest peak, planning what the budget's pruning skipped where it could win:
    split points not weighed yet are taken by rising floor until the floor reaches the smallest arena found;
    banding lowers an arena down to the stage-1 peak at best, so only schedules whose stage-1 peak is below
    the smallest arena found are banded. Appends what it plans to `weighed`."""
    def peak(s: Schedule) -> tuple[int, int]:
        return (s.peak_sram_bytes, s.macs)

    best = min(weighed, key=peak)
    seen = {(s.split, s.two_pass) for s in weighed}
    floors = {(k, False): split_floor(graph, calls, k, stream_input and can_stream_input(graph, calls, k))
              for k in split_points(graph, calls) if (k, False) not in seen}
    floors.update({(k, True): split_floor(graph, calls, k, False)
                   for k in two_pass_split_points(graph, calls) if (k, True) not in seen})
    for split, two_pass in sorted(floors, key=floors.get):
        if floors[split, two_pass] >= best.arena_bytes:
            break
        found = [dataclasses.replace(s, runtime_sram_bytes=best.runtime_sram_bytes)
                 for s in candidates(graph, calls, cost, stream_input, splits=[] if two_pass else [split],
                                     two_pass_splits=[split] if two_pass else [])[1:]]
        weighed.extend(found)
        best = min([best, *found], key=peak)
    banded_already = {(s.split, s.grid, s.cached, s.streamed, s.two_pass) for s in weighed if s.banded}
    for s in sorted((s for s in weighed if not s.banded and s.split is not None), key=lambda s: s.stage1_bytes):
        if s.stage1_bytes >= best.arena_bytes:
            break
        if (s.split, s.grid, s.cached, s.streamed, s.two_pass) in banded_already:
            continue
        banded = with_banded_blocks(graph, calls, s, cost)
        weighed.append(banded)
        best = min(best, banded, key=peak)
    return best

def smallest_streamed_arena(graph: Graph, calls: list[KernelCall], cost: CostModel | None = None) -> int:
    """The lowest arena any schedule reaches with the input streamed (for a refusal to say what
    --stream-input would give)."""
    return _smallest(graph, calls, [per_layer(graph, calls, cost)], cost, stream_input=True).arena_bytes


def with_banded_blocks(graph: Graph, calls: list[KernelCall], schedule: Schedule,
                       cost: CostModel | None = None, cache: SearchCache | None = None) -> Schedule:
    """The schedule with its later blocks in row bands, planned with depthwise layers in place (as built)."""
    banded = dataclasses.replace(schedule, banded=True)
    g, c = apply(graph, calls, banded, cache)
    plan = plan_memory(g, c)
    g, plan = place_depthwise_in_place(g, c, plan)
    predicted = cost.predict(g, c, plan.elided_calls) if cost is not None else None
    return dataclasses.replace(banded, arena_bytes=plan.arena_bytes, macs=sum(x.macs for x in c),
                               predicted_instructions=predicted)


def _fits_fast(graph: Graph, calls: list[KernelCall], schedule: Schedule, sram_budget: int,
               scratch_hint: ScratchHint | None, cache: SearchCache | None = None) -> bool:
    """Whether the schedule's arena, with every call holding its fast variant's scratch, still fits."""
    if scratch_hint is None:
        return True
    return fast_arena_bytes(graph, calls, schedule, scratch_hint, cache) + schedule.runtime_sram_bytes <= sram_budget


def fast_arena_bytes(graph: Graph, calls: list[KernelCall], schedule: Schedule, scratch_hint: ScratchHint,
                     cache: SearchCache | None = None) -> int:
    """The schedule's arena with every call holding the scratch its fast variant may need."""
    key = schedule_key(schedule)
    if cache is not None and key in cache.fast_arenas:
        return cache.fast_arenas[key]
    g, c = placed(graph, calls, schedule, cache)
    hinted = [dataclasses.replace(x, scratch_bytes=max(x.scratch_bytes, scratch_hint(x, g))) for x in c]
    arena = plan_memory(g, hinted).arena_bytes
    if cache is not None:
        cache.fast_arenas[key] = arena
    return arena


def placed(graph: Graph, calls: list[KernelCall], schedule: Schedule,
           cache: SearchCache | None = None) -> tuple[Graph, list[KernelCall]]:
    """The schedule's calls on its graph as the build chooses kernels for them: a banded schedule's depthwise
    layers in place (its arena was promised with them)."""
    g, c = apply(graph, calls, schedule, cache)
    if not schedule.banded:
        return g, c
    key = schedule_key(schedule)
    if cache is None or key not in cache.placed:
        g = place_depthwise_in_place(g, c, plan_memory(g, c))[0]
        if cache is None:
            return g, c
        cache.placed[key] = g
    return cache.placed[key], c


def apply(graph: Graph, calls: list[KernelCall], schedule: Schedule,
          cache: SearchCache | None = None) -> tuple[Graph, list[KernelCall]]:
    if cache is not None:
        key = schedule_key(schedule)
        if key not in cache.expansions:
            cache.expansions[key] = apply(graph, calls, schedule)
        return cache.expansions[key]
    if schedule.split is None:
        expanded = graph, calls
    elif schedule.cached:
        expanded = expand_cached(graph, calls, schedule.split, *schedule.grid, stream_input=schedule.streamed)
    elif schedule.two_pass:
        expanded = expand_two_pass(graph, calls, schedule.split, schedule.grid)
    else:
        expanded = expand(graph, calls, schedule.split, schedule.grid)
    return band_blocks(*expanded) if schedule.banded else expanded
