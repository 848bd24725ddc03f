"""From a model file to generated C: read, lower, plan memory, emit. Nothing is written to disk here."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codegen.emit.c_source import GeneratedSources, emit_model, model_hash
from codegen.emit.firmware_size import predict_flash
from codegen.errors import BudgetError, ModelError
from codegen.frontend.tflite_reader import parse_tflite
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.memory.planner import MemoryPlan, plan_memory
from codegen.passes.depthwise_in_place import place_depthwise_in_place
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint, specialize
from codegen.schedule import cost_model
from codegen.schedule.search import (
    RUNTIME_SRAM_BYTES,
    FlashLimit,
    NoScheduleFits,
    Schedule,
    SearchCache,
    choose,
    per_layer,
    placed,
)
from codegen.targets.core import PORTABLE, Target

if TYPE_CHECKING:
    from codegen.quantize.mixed_patches import MixedPatches
    from codegen.quantize.mixed_plan import SplitChoice
    from codegen.quantize.mixed_precision import MixedPrecisionResult, PatchStage

# stage 1 of the patch schedule -> its mixed-precision plan (the offline search, or a plan a test forces)
MixedSearch = Callable[["PatchStage"], "MixedPrecisionResult"]


@dataclass
class CompiledModel:
    graph: Graph
    calls: list[KernelCall]
    plan: MemoryPlan
    sources: GeneratedSources
    hash8: bytes
    schedule: Schedule
    candidates: list[Schedule]  # the schedules weighed against the SRAM budget (empty without a budget)
    portable_arena_bytes: int  # the same schedule's arena with the portable kernels (what speed costs in SRAM)
    mixed_precision: MixedPrecisionResult | None = None  # stage 1 branches per patch (QuantMCU)
    int8_subpatches: int = 1  # mixed precision: the int8 path's s x s sub-patches per patch (mixed_split.py)
    mixed_expected_macs: float = 0.0  # mixed precision: expected stage-1 MACs (mixed_plan.expected_macs)
    mixed_choices: tuple[SplitChoice, ...] = ()  # `--mp-int8-subpatches auto`: the pairs weighed
    mixed_choice: SplitChoice | None = None

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.calls)

    def scratch_summary(self) -> dict[str, int]:
        """Kernel scratch in the arena: calls that have a buffer of their own, the largest, and the fast
        convolutions that borrow idle bytes of their own output and dying input instead (no SRAM of their own)."""
        own = [c.scratch_bytes for pos, c in enumerate(self.calls)
               if c.scratch_bytes and pos not in self.plan.elided_calls]
        return {"calls": len(own), "largest_bytes": max(own, default=0),
                "borrowing_calls": sum(c.kernel.endswith("_borrow") for c in self.calls)}


def compile_graph(
    graph: Graph, model_bytes: bytes, target: Target = PORTABLE, sram_budget: int | None = None,
    use_cost_model: bool = True, schedule: Schedule | None = None, stream_input: bool = False,
    runtime_sram_bytes: int = RUNTIME_SRAM_BYTES, earlier: list[Schedule] | None = None,
    flash_bytes: int | None = None, flash_measured: dict[tuple, int] | None = None,
    mixed: MixedSearch | None = None, int8_subpatches: int = 1,
) -> CompiledModel:
    """Without a budget the model runs layer by layer; with one, the cheapest schedule that fits is chosen.
    The fitted cost model ranks schedules and kernel variants; without it (`use_cost_model=False`, as when
    measuring calls to fit it) schedules rank by MACs and every exact fast variant is taken. A given `schedule`
    (its split call and grid over the PAD-fused graph's calls) replaces the search: sweeps in tests.
    `stream_input` lets the search pick cached bands that read the input row by row through
    model_read_input() instead of holding it whole in SRAM (the application must then provide its rows).
    `runtime_sram_bytes` is what the firmware needs besides the arena (an estimate, or a build's measurement);
    `earlier` are the candidates an earlier search of the same model and budget weighed (see choose()).
    With `flash_bytes` (the board's flash) the search skips schedules whose predicted flash exceeds it, and
    those whose flash a build measured over it (`flash_measured`, by schedule_key).
    With `mixed` (which needs a budget) stage 1 runs mixed precision (codegen/quantize/mixed_patches.py) on the
    chosen schedule, or the best fitting one mixed precision can run (patch_schedule_of). With `int8_subpatches`
    s > 1 the int8 path of each patch runs its tile as s x s sub-patches (codegen/quantize/mixed_split.py)."""
    cost = cost_model.load_default() if use_cost_model else None
    graph = fuse_pads(graph)
    calls = lower_graph(graph)
    cache = SearchCache()  # what the search planned, for the flash predictor and the emission below
    if schedule is not None:
        weighed = []
    elif sram_budget is None:
        schedule, weighed = per_layer(graph, calls, cost), []
    else:
        flash = None if flash_bytes is None else FlashLimit(
            flash_bytes, flash_predictor(graph, calls, target, sram_budget, cost, cache), dict(flash_measured or {}))
        try:
            schedule, weighed = choose(graph, calls, sram_budget, scratch_hint(target), cost, stream_input,
                                       runtime_sram_bytes, earlier, flash, cache)
        except NoScheduleFits as exc:
            if mixed is None or int8_subpatches != 0:
                raise
            # mixed precision's packed maps and int8 sub-patches may fit where no int8 schedule does
            schedule, weighed = exc.weighed[0], list(exc.weighed)
    if mixed is None:
        return _emit(graph, calls, schedule, target, sram_budget, cost, model_bytes, weighed, cache=cache)
    return _emit_mixed(graph, calls, schedule, weighed, target, sram_budget, cost, model_bytes, mixed,
                       int8_subpatches)


def _emit_mixed(graph: Graph, calls: list[KernelCall], chosen: Schedule, weighed: list[Schedule], target: Target,
                sram_budget: int | None, cost: cost_model.CostModel | None, model_bytes: bytes,
                mixed: MixedSearch, int8_subpatches: int = 1) -> CompiledModel:
    """`int8_subpatches` s > 1: the int8 path runs s x s sub-patches; 0 (auto): the planner weighs the eligible
    schedules and s in mixed_plan.SUBPATCHES under the budget (mixed_plan.py), fitting or not in int8."""
    from codegen.quantize import mixed_plan
    from codegen.quantize import mixed_precision as mp

    if sram_budget is None:
        raise BudgetError("mixed precision runs on a patch schedule: give an SRAM budget")
    if weighed and len(weighed) == 1:  # per-layer fits: the search weighed nothing else
        from codegen.schedule.search import candidates

        weighed = [*weighed, *candidates(graph, calls, cost)[1:]]
    if int8_subpatches == 0 and weighed:
        schedules = _grids_to_weigh(graph, calls, chosen, weighed, sram_budget)
        choices, built = [], {}
        for schedule in schedules:
            for s in mixed_plan.SUBPATCHES:
                compiled = _emit_mixed_on(graph, calls, schedule, weighed, target, sram_budget, cost, model_bytes,
                                          mixed, s)
                arena = compiled.plan.arena_bytes
                peak = arena + schedule.runtime_sram_bytes
                choice = mixed_plan.SplitChoice(schedule.grid, schedule.split, s, arena, peak,
                                                compiled.mixed_expected_macs, peak <= sram_budget)
                choices.append(choice)
                built[choice] = compiled
        best = mixed_plan.best(choices)
        if best is None:
            low = min(choices, key=lambda c: c.peak_sram_bytes)
            raise mixed_plan.NoPairFits(
                f"{graph.name}: mixed precision: no (grid, int8 sub-patches) pair fits {sram_budget:,} bytes; the "
                f"smallest weighed needs {low.peak_sram_bytes:,} (grid {low.grid}, s {low.s})", tuple(choices))
        return dataclasses.replace(built[best], mixed_choices=tuple(choices), mixed_choice=best)
    schedule = mp.patch_schedule_of(graph, calls, chosen, weighed, sram_budget) if weighed else chosen
    return _emit_mixed_on(graph, calls, schedule, weighed, target, sram_budget, cost, model_bytes, mixed,
                          max(1, int8_subpatches))


def _grids_to_weigh(graph: Graph, calls: list[KernelCall], chosen: Schedule, weighed: list[Schedule],
                    sram_budget: int) -> list[Schedule]:
    """The schedule mixed precision takes today (if one fits in int8), then eligible ones that do not fit in int8
    (sub-patches and packed maps may make them fit), alternately the best-ranked and the smallest int8 arena,
    mixed_plan.MAX_GRIDS in all."""
    from codegen.quantize import mixed_plan
    from codegen.quantize import mixed_precision as mp

    found: list[Schedule] = []
    with contextlib.suppress(BudgetError):
        found.append(mp.patch_schedule_of(graph, calls, chosen, weighed, sram_budget))
    over = [s for s in weighed if mp.runs_mixed(calls, s) and s.peak_sram_bytes > sram_budget]
    ranked = sorted(over, key=lambda s: (s.predicted_instructions or 0, s.macs, s.arena_bytes))
    smallest = sorted(over, key=lambda s: (s.arena_bytes, s.predicted_instructions or 0))
    for s in [x for pair in zip(ranked, smallest, strict=True) for x in pair]:  # alternately: fast, then small
        if len(found) >= mixed_plan.MAX_GRIDS:
            break
        if all((s.split, s.grid) != (f.split, f.grid) for f in found):
            found.append(s)
    if not found:
        raise BudgetError(f"{graph.name}: mixed precision: no patch schedule with recomputed halos and two stage-1 "
                          "convolutions or more to weigh")
    return found


def _emit_mixed_on(graph: Graph, calls: list[KernelCall], schedule: Schedule, weighed: list[Schedule],
                   target: Target, sram_budget: int | None, cost: cost_model.CostModel | None, model_bytes: bytes,
                   mixed: MixedSearch, int8_subpatches: int) -> CompiledModel:
    from codegen.quantize import mixed_plan
    from codegen.quantize import mixed_precision as mp
    from codegen.quantize.mixed_patches import mixed_patches

    if not mp.runs_plain_patches(schedule):
        raise BudgetError(f"{graph.name}: mixed precision runs on patches with recomputed halos, not on "
                          f"{schedule.describe()}")
    try:
        stage = mp.patch_stage(graph, calls, schedule.split, schedule.grid)
    except ValueError as exc:
        raise BudgetError(f"{graph.name}: mixed precision: {exc}") from None
    result = mixed(stage)
    branches = mixed_patches(stage, result.plan, target.dsp)
    expanded = None
    if int8_subpatches > 1:
        from codegen.quantize.mixed_split import split_int8

        *expanded, branches = split_int8(stage, branches, result.plan.formats(stage), int8_subpatches)
    compiled = _emit(graph, calls, schedule, target, sram_budget, cost, model_bytes, weighed, branches,
                     expanded=None if expanded is None else tuple(expanded))
    macs = mixed_plan.expected_macs(compiled.calls, branches, result.low_bit_patch_share)
    return dataclasses.replace(compiled, mixed_precision=result, int8_subpatches=int8_subpatches,
                               mixed_expected_macs=macs)


def flash_predictor(graph: Graph, calls: list[KernelCall], target: Target, sram_budget: int | None,
                    cost: cost_model.CostModel | None,
                    cache: SearchCache | None = None) -> Callable[[Schedule], tuple[int, str]]:
    """Predicted flash of a schedule of the PAD-fused graph's `calls`, emitted as the build would emit it.
    `cache`, the search's, spares expanding and banding again the schedules it already did."""
    def predict(schedule: Schedule) -> tuple[int, str]:
        compiled = _emit(graph, calls, schedule, target, sram_budget, cost, b"", [], cache=cache)
        estimate = predict_flash(compiled.sources.files, list(compiled.sources.weight_arrays),
                                 {c.kernel for c in compiled.calls})
        return estimate.flash_bytes, estimate.describe()

    return predict


def _emit(graph: Graph, calls: list[KernelCall], schedule: Schedule, target: Target, sram_budget: int | None,
          cost: cost_model.CostModel | None, model_bytes: bytes, weighed: list[Schedule],
          mixed: MixedPatches | None = None, cache: SearchCache | None = None,
          expanded: tuple[Graph, list[KernelCall]] | None = None) -> CompiledModel:
    # A banded schedule's promised arena counts depthwise layers in place: the scratch limit must too.
    graph, calls = placed(graph, calls, schedule, cache) if expanded is None else expanded
    portable_arena = plan_memory(graph, calls).arena_bytes
    # Fast kernels' scratch must not break the SRAM the schedule was chosen for.
    limit = None if sram_budget is None else max(sram_budget - schedule.runtime_sram_bytes, schedule.arena_bytes)
    calls = specialize(graph, calls, target, limit, cost)
    if mixed is None:
        plan = plan_memory(graph, calls)
        graph, plan = place_depthwise_in_place(graph, calls, plan)
    else:
        graph, plan = _plan_mixed(graph, calls, mixed)
    hash8 = model_hash(model_bytes)
    try:
        sources = emit_model(graph, calls, plan, hash8, mixed)
    except ValueError as exc:  # a mixed-precision branch the emitter cannot place
        raise BudgetError(f"{graph.name}: mixed precision: {exc}") from None
    return CompiledModel(graph, calls, plan, sources, hash8, schedule, weighed, portable_arena)


def _plan_mixed(graph: Graph, calls: list[KernelCall], mixed: MixedPatches) -> tuple[Graph, MemoryPlan]:
    """Both paths of a mixed-precision stage 1 share one plan: a call's scratch is the larger of its int8 call's
    and its low-bit twin's (they never run at once); packed maps sit in their int8 buffers. In-place depthwise
    views are dropped if a twin touches one (their byte lag does not hold for packed codes)."""
    twins = {p: t for b in mixed.branches for p, t in b.twins.items()}
    planned = [dataclasses.replace(c, scratch_bytes=max(c.scratch_bytes, twins[p].scratch_bytes))
               if p in twins else c for p, c in enumerate(calls)]
    plan = plan_memory(graph, planned)
    in_place, in_place_plan = place_depthwise_in_place(graph, planned, plan)
    touched = {t for c in twins.values() for t in (*c.inputs, *c.outputs)}
    if touched & set(in_place.views):
        return graph, plan
    return in_place, in_place_plan


def compile_file(path: str | Path, target: Target = PORTABLE, sram_budget: int | None = None,
                 use_cost_model: bool = True, stream_input: bool = False, schedule: Schedule | None = None,
                 runtime_sram_bytes: int = RUNTIME_SRAM_BYTES, earlier: list[Schedule] | None = None,
                 flash_bytes: int | None = None, flash_measured: dict[tuple, int] | None = None,
                 mixed: MixedSearch | None = None, int8_subpatches: int = 1) -> CompiledModel:
    graph, data = read_model(path)
    return compile_graph(graph, data, target, sram_budget, use_cost_model, schedule, stream_input,
                         runtime_sram_bytes, earlier, flash_bytes, flash_measured, mixed, int8_subpatches)


def read_model(path: str | Path) -> tuple[Graph, bytes]:
    """The .tflite file's graph as read (unsupported or malformed models are refused here) and its bytes."""
    path = Path(path)
    if path.suffix.lower() != ".tflite":
        raise ModelError(f"{path}: unsupported model format '{path.suffix}' (expected .tflite)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return parse_tflite(data, name=path.stem), data
