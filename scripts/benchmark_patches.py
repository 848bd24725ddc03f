"""Print the README's patch-based inference table (not a test: it takes minutes on large networks).

Per model: TFLite Micro's arena, this project's per-layer arena (as built: depthwise layers in place where that
helps), and the smallest arena of patch-based schedules with at most 10% extra MACs: recomputing halos
(MCUNetV2's scheme), with the halo cache (line buffers: vertical halos are kept, not recomputed) holding the
whole input, and with the halo cache reading the input row by row (--stream-input) and the later blocks in row
bands too. Every arena is planned for real by the same planner and passes a build uses. MobileNetV2 / MCUNet
networks are built from ../shared/models/mcunet_configs with random int8 weights (codegen/frontend/model_zoo.py): memory
does not depend on weight values. Usage: python -m scripts.benchmark_patches [--max-overhead 0.10] [--only TEXT]
[--builds per-layer,held,streamed,two-pass] [--plan-only]

After the arena table, a table of built firmware, one row per model and schedule (per-layer; the halo cache
holding the input, blocks in bands; the halo cache reading it row by row): the budget it was built under, the
schedule the build picked, the peak SRAM measured on the emulated board (static RAM from the linker + painted
stack high-water), flash from the linker map (weights + code), MACs over per-layer, instructions per inference
(QEMU -icount shift=0) and the planning CPU seconds of the search at that budget on that board. SE networks get
a two-pass firmware too, at a budget only two-pass SE schedules meet (two_pass_budget). With --plan-only, only
the planning CPU seconds of the patched rows (held, streamed, two-pass), no firmware built.

With --se, the squeeze-and-excite table instead: per SE network (model zoo, random weights), the peak SRAM
per layer, the smallest peak of schedules whose stage 1 ends before the first SE block (blocks in bands
included), the smallest two-pass schedule's (stage 1 holding the block: codegen/schedule/se_two_pass.py), and what
the search chooses a byte under the former, with its extra MACs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codegen.errors import BudgetError, CodegenError
from codegen.frontend.converted_form import as_converted
from codegen.frontend.model_zoo import mcunet_from_json, mobilenet_v2, mobilenet_v2_se, mobilenet_v3_small, tiny_se
from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.pipeline import compile_file, compile_graph, flash_predictor
from codegen.schedule.cost_model import CostModel, load_default
from codegen.schedule.search import (
    RUNTIME_SRAM_BYTES,
    FlashLimit,
    Schedule,
    SearchCache,
    candidates,
    choose,
    fast_arena_bytes,
    with_banded_blocks,
)
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tools.build import BuildResult, build
from tools.tflm_arena import tflm_arena_bytes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
BANDED = 12  # the table's banded column: the schedules with the lowest stage-1 peaks, with their blocks banded


@dataclass(frozen=True)
class Row:
    """One model of the table: its name, how to build its graph, and the board its patched firmware is built and
    planned on (the first of nucleo-f746, nucleo-f767zi and mps2plus-an500 whose flash holds its weights)."""

    name: str
    graph: Callable[[], Graph]
    board: str = "nucleo-f746"


def _shared(file: str) -> Callable[[], Graph]:
    return lambda: read_tflite(SHARED / file)


def _config(file: str) -> Callable[[], Graph]:
    return lambda: mcunet_from_json(SHARED / "mcunet_configs" / file)


# Adding a model is one line here.
ROWS = (
    Row("mlperf_vww_96_int8", _shared("mlperf_vww_96_int8.tflite")),
    Row("tflm_person_detect", _shared("tflm_person_detect.tflite")),
    Row("tinyengine_mcunet_vww", _shared("tinyengine_mcunet_vww.tflite")),
    Row("MobileNetV2 w0.35 r144 (random weights)", _config("mbv2-w0.35-r144_imagenet.json")),
    Row("MCUNet 320kB-1MB (random weights)", _config("mcunet-320kb-1mb_imagenet.json"), "nucleo-f767zi"),
    Row("MobileNetV2 w1.0 r224 (random weights)", lambda: mobilenet_v2(1.0, 224), "mps2plus-an500"),
    Row("MobileNetV2 w0.35 r144 converted (NCHW input, TRANSPOSE, explicit PADs; random weights)",
        lambda: as_converted(mobilenet_v2(0.35, 144)), "nucleo-f767zi"),
    Row("MobileNetV2 w0.35 r144 zoo (NHWC input, SAME convolutions; random weights)", lambda: mobilenet_v2(0.35, 144),
        "nucleo-f767zi"),
    Row("MobileNetV2 w1.0 r224 converted (NCHW input, TRANSPOSE, explicit PADs; random weights)",
        lambda: as_converted(mobilenet_v2(1.0, 224)), "mps2plus-an500"),
    Row("tiny SE r32 (test net, SE in block 1; random weights)", lambda: tiny_se(32)),
    Row("MobileNetV2-SE w0.35 r144 (SE in blocks 1-3; random weights)",
        lambda: mobilenet_v2_se(0.35, 144, se_blocks=(1, 2, 3)), "nucleo-f767zi"),
    Row("MobileNetV3-small a1.0 r96 (Keras layout, SE in blocks 0 and 3-10; random weights)",
        lambda: mobilenet_v3_small(1.0, 96), "nucleo-f767zi"),
)
BUILDS = ("per-layer", "held", "streamed", "two-pass")  # two-pass: only rows whose search weighs two-pass SE


def _best(schedules: list[Schedule], cached: bool, max_overhead: float) -> Schedule | None:
    pool = [s for s in schedules if s.split is not None and s.cached == cached and s.mac_overhead <= max_overhead]
    return min(pool, key=lambda s: (s.arena_bytes, s.macs)) if pool else None


def _smallest_banded(graph: Graph, max_overhead: float, stream_input: bool) -> Schedule:
    """The smallest arena, within the MAC limit, of cached bands (reading the input row by row with
    `stream_input`), with or without the later blocks in bands (the schedules with the lowest stage-1 peaks are
    banded)."""
    calls = lower_graph(graph)
    pool = [s for s in candidates(graph, calls, stream_input=stream_input) if s.mac_overhead <= max_overhead]
    floors = sorted(pool, key=lambda s: (s.stage1_bytes, s.macs))[:BANDED]
    banded = [with_banded_blocks(graph, calls, s) for s in floors]
    return min([*pool, *banded], key=lambda s: (s.arena_bytes, s.macs))


def _cell(s: Schedule | None) -> str:
    if s is None:
        return "none"
    grid = "per-layer" if s.grid is None else f"{s.grid[0]}x{s.grid[1]}"
    return f"{s.arena_bytes:,} ({grid}, +{s.mac_overhead:.1%}{', +bands' if s.banded else ''})"


def _tflm_arena(graph: Graph) -> int:
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(write_tflite(graph))
        f.flush()
        return tflm_arena_bytes(Path(f.name))


def _planning_seconds(graph: Graph, budget: int, board_name: str, stream_input: bool) -> str:
    """CPU seconds of the search `codegen plan` (with `stream_input`: `--stream-input`) runs on `board_name` under
    `budget` (the same calls, flash check included; CPU time, since wall time on a shared machine is noise)."""
    start = time.process_time()
    board = load_board(board_name)
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    cost, target, cache = load_default(), Target(board.core), SearchCache()
    flash = FlashLimit(board.flash.size, flash_predictor(fused, calls, target, budget, cost, cache))
    try:
        choose(fused, calls, budget, scratch_hint(target), cost, stream_input, flash=flash, cache=cache)
    except BudgetError as exc:
        return f"refused: {str(exc)[:60]}"
    return f"{time.process_time() - start:.1f}"


def _budget(graph: Graph, schedule: Schedule) -> int:
    """The smallest budget at which `schedule` runs the fast kernels everywhere: its arena plus their scratch plus
    the search's runtime estimate (the build measures the runtime SRAM and may pick a cheaper schedule that also
    fits)."""
    fused = fuse_pads(graph)
    hint = scratch_hint(Target(load_board("nucleo-f746").core))  # every board tried here has this core
    return fast_arena_bytes(fused, lower_graph(fused), schedule, hint) + RUNTIME_SRAM_BYTES


@dataclass(frozen=True)
class Built:
    """One firmware of the built table: what was asked (kind, board, budget) and what the build measured."""

    kind: str  # one of BUILDS
    board: str
    budget: int | None  # None: per-layer, no budget (the board's SRAM)
    result: BuildResult | str  # the build, or why there is none
    planning: str  # CPU seconds of the search at this budget on this board, or why not measured

    def cells(self) -> list[str]:
        budget = "board SRAM" if self.budget is None else f"{self.budget:,}"
        if isinstance(self.result, str):
            return [self.kind, self.board, budget, f"not built: {self.result}", "", "", "", "", self.planning]
        r = self.result
        s = r.compiled.schedule
        m = r.measurement
        return [self.kind, self.board, budget, s.describe(), f"{r.sram_used:,}",
                f"{r.size.flash_bytes:,} ({r.size.flash_weights_bytes:,} + {r.size.flash_code_bytes:,})",
                f"+{s.mac_overhead:.1%}", f"{m.instructions:,}" if m else "not measured", self.planning]


BUILT_HEADER = ("| model | firmware | board | budget | schedule built | peak SRAM, measured | flash (weights + code) "
                "| MACs over per-layer | instructions | planning CPU s |\n"
                "|---|---|---|---:|---|---:|---:|---:|---:|---:|")
PLAN_HEADER = "| model | firmware | board | budget | planning CPU s |\n|---|---|---|---:|---:|"


def _build_one(model: Path, out: Path, boards: tuple[str, ...], budget: int | None,
               stream_input: bool) -> tuple[BuildResult | str, str]:
    """The build on the first of `boards` whose memories hold the model (a BudgetError: the linker's overflow, a
    budget no schedule meets, measured SRAM over it), or the first line of the error that stopped the tries."""
    error = ""
    for name in boards:
        board = load_board(name)
        try:
            compiled = None if budget is not None else compile_file(model, Target(board.core))
            return build(model, board, out, sram_budget=budget, compiled=compiled, stream_input=stream_input), name
        except BudgetError as exc:
            error = str(exc).splitlines()[0][:80]
        except CodegenError as exc:
            return str(exc).splitlines()[0][:80], name
    return error, boards[-1]


def _builds(row: Row, graph: Graph, budgets: dict[str, int], kinds: tuple[str, ...]) -> list[Built]:
    """Per kind, one firmware: per-layer on the first of nucleo-f767zi (512 kB of SRAM) and mps2plus-an500 that
    holds it; held, streamed and two-pass (where `budgets` has one) on the row's board under their budgets.
    Same Cortex-M7, same kernels: the instruction counts compare."""
    built = []
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{graph.name}.tflite"
        model.write_bytes(write_tflite(graph))
        for kind in kinds:
            if kind not in budgets and kind != "per-layer":
                continue  # two-pass on a network whose search weighs none below the other schedules
            out = Path(tmp) / kind
            if kind == "per-layer":
                result, board = _build_one(model, out, ("nucleo-f767zi", "mps2plus-an500"), None, False)
                planning = _planning_seconds(graph, load_board(board).sram.size, board, False)
                built.append(Built(kind, board, None, result, planning))
                continue
            streamed = kind == "streamed"  # two-pass holds the input: the family takes no streamed input
            result, board = _build_one(model, out, (row.board,), budgets[kind], streamed)
            built.append(Built(kind, board, budgets[kind], result,
                               _planning_seconds(graph, budgets[kind], board, streamed)))
    return built


def _instructions(built: list[Built]) -> str:
    """The arena table's instructions cell: per-layer -> streamed, with the streamed budget and board."""
    by_kind = {b.kind: b for b in built}
    per_layer, streamed = by_kind.get("per-layer"), by_kind.get("streamed")
    if per_layer is None or streamed is None:
        return "not built"
    for b in (per_layer, streamed):
        if isinstance(b.result, str):
            return f"not built: {b.result}"
        if b.result.measurement is None:
            return "not measured"
    where = "" if streamed.board == "nucleo-f746" else f", on {streamed.board}"
    return (f"{per_layer.result.measurement.instructions:,} -> {streamed.result.measurement.instructions:,} "
            f"(budget {streamed.budget:,}{where})")


def se_floors(graph: Graph, calls: list, cost: CostModel) -> tuple[list[Schedule], Schedule, Schedule | None]:
    """Of a pad-fused graph: every schedule weighed (with `cost`), the smallest peak of those that end stage 1
    before the first SE block (every family, the BANDED with the lowest stage-1 peaks also with blocks in bands)
    and the smallest two-pass peak (None: no SE in reach of stage 1)."""
    weighed = candidates(graph, calls, cost)
    ordinary = [s for s in weighed if not s.two_pass]
    floors = sorted((s for s in ordinary if s.split is not None), key=lambda s: (s.stage1_bytes, s.macs))
    ordinary += [with_banded_blocks(graph, calls, s, cost) for s in floors[:BANDED]]
    before = min(ordinary, key=lambda s: (s.peak_sram_bytes, s.macs))
    two_pass = [s for s in weighed if s.two_pass]
    lowest = min(two_pass, key=lambda s: (s.peak_sram_bytes, s.macs)) if two_pass else None
    return weighed, before, lowest


def two_pass_budget(graph: Graph) -> int | None:
    """The budget of the two-pass firmware: halfway between the smallest two-pass peak and the smallest peak of
    the other schedules (the search's estimates), so that only two-pass schedules fit even when the build
    measures a runtime SRAM below the search's 4,096 B estimate; None when no two-pass schedule is below the
    others (the build kind is skipped)."""
    fused = fuse_pads(graph)
    _, before, lowest = se_floors(fused, lower_graph(fused), load_default())
    if lowest is None or lowest.peak_sram_bytes >= before.peak_sram_bytes:
        return None
    return (lowest.peak_sram_bytes + before.peak_sram_bytes) // 2


def se_networks() -> dict[str, Graph]:
    return {
        "tiny SE r32 (test net, SE in block 1)": tiny_se(32),
        "MobileNetV2-SE w0.35 r144 (SE in blocks 1-3)": mobilenet_v2_se(0.35, 144, se_blocks=(1, 2, 3)),
        "MobileNetV3Small a1.0 r96 (Keras layout, SE in block 0)": mobilenet_v3_small(1.0, 96),
        "MobileNetV3Small a1.0 r224 (Keras layout, SE in block 0)": mobilenet_v3_small(1.0, 224),
    }


def se_table(only: str | None) -> None:
    """Per SE network: per-layer peak, the smallest peak ending stage 1 before the SE, the smallest two-pass peak,
    and the schedule the search (fitted cost model, nucleo-f746's fast-kernel scratch) picks a byte under the
    former. Peaks = arena + the search's 4,096 B runtime estimate."""
    print("| model | per-layer peak | smallest peak, stage 1 ends before the SE | smallest peak, two-pass SE "
          "| chosen a byte under the former: schedule, peak, MACs over per-layer |")
    print("|---|---:|---|---|---|")
    cost = load_default()
    hint = scratch_hint(Target(load_board("nucleo-f746").core))
    for name, original in se_networks().items():
        if only and only not in name:
            continue
        graph = fuse_pads(original)
        calls = lower_graph(graph)
        weighed, before, two_pass = se_floors(graph, calls, cost)
        if two_pass is None:
            print(f"| {name} | {weighed[0].peak_sram_bytes:,} | no SE within stage 1's reach | | |", flush=True)
            continue
        budget = before.peak_sram_bytes - 1
        try:
            chosen, _ = choose(graph, calls, budget, hint, cost, earlier=weighed)
            picked = (f"{chosen.describe()}, {chosen.peak_sram_bytes:,}, +{chosen.mac_overhead:.1%} "
                      f"(budget {budget:,})")
        except BudgetError as exc:
            picked = str(exc).splitlines()[0][:100]
        per_layer = weighed[0].peak_sram_bytes

        def cell(s: Schedule) -> str:
            return f"{s.peak_sram_bytes:,} ({s.describe()}, +{s.mac_overhead:.1%})"

        print(f"| {name} | {per_layer:,} | {cell(before)} | {cell(two_pass)} | {picked} |", flush=True)


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in BUILDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown firmware {', '.join(unknown)}: choose from {', '.join(BUILDS)}")
    return kinds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-overhead", type=float, default=0.10)
    parser.add_argument("--only", metavar="TEXT", help="only the models whose name contains TEXT")
    parser.add_argument("--se", action="store_true", help="the squeeze-and-excite table instead")
    parser.add_argument("--builds", type=_kinds, default=BUILDS, metavar="KINDS",
                        help=f"the firmware built per model, comma-separated (default {','.join(BUILDS)})")
    parser.add_argument("--plan-only", action="store_true",
                        help="only the planning CPU seconds of the held, streamed and two-pass rows: no firmware "
                        "built")
    args = parser.parse_args(argv)
    if args.se:
        se_table(args.only)
        return 0
    rows = [row for row in ROWS if not args.only or args.only in row.name]
    if args.plan_only:
        plan_only(rows, args.max_overhead)
        return 0
    limit = args.max_overhead
    print(f"| model | input | TFLM arena | per-layer arena | patches, recompute (<= {limit:.0%} MACs) "
          "| halo cache, input held | halo cache and blocks in bands, input held "
          "| halo cache, input streamed (blocks in bands: +bands) | reduction held / streamed "
          "| instructions per-layer -> streamed |")
    print("|---|---:|---:|---:|---|---|---|---|---:|---:|")
    built: list[tuple[str, Built]] = []
    for row in rows:
        original = row.graph()
        tflm = _tflm_arena(original)
        per_layer = compile_graph(original, b"").plan.arena_bytes
        graph = fuse_pads(original)
        weighed = candidates(graph, lower_graph(graph))
        held = _smallest_banded(graph, limit, stream_input=False)
        streamed = _smallest_banded(graph, limit, stream_input=True)
        cells = [_cell(s) for s in (_best(weighed, False, limit), _best(weighed, True, limit), held, streamed)]
        input_bytes = graph.tensor(graph.inputs[0]).nbytes
        budgets = {"held": _budget(original, held), "streamed": _budget(original, streamed)}
        if "two-pass" in args.builds and (two := two_pass_budget(original)) is not None:
            budgets["two-pass"] = two
        firmware = _builds(row, original, budgets, args.builds)
        built += [(row.name, b) for b in firmware]
        print(f"| {row.name} | {input_bytes:,} | {tflm:,} | {per_layer:,} | {' | '.join(cells)} | "
              f"{per_layer / held.arena_bytes:.1f}x / {per_layer / streamed.arena_bytes:.1f}x | "
              f"{_instructions(firmware)} |", flush=True)
    print("\nArenas in bytes. Per-layer and the first three patch columns hold the whole input tensor in the "
          "arena; the last reads it row by row (model_read_input) as its bands need it. Grid: patches rows x cols; "
          "halo cache: row bands x column strips. Reduction: per-layer arena / the two banded columns.\n")
    print(BUILT_HEADER)
    for name, b in built:
        print(f"| {name} | {' | '.join(b.cells())} |")
    print("\nBudgets: held and streamed, the smallest at which the table's schedule keeps the fast kernels "
          "(arena + their scratch + the search's 4,096 B runtime estimate); the build measures the runtime SRAM and "
          "may pick another schedule that fits. Two-pass (SE networks): halfway between the smallest two-pass "
          "peak and the smallest peak of the other schedules (the search's estimates). Peak SRAM: static RAM "
          "(linker) + painted stack high-water. "
          "Instructions: QEMU -icount shift=0, SysTick ticks x 40. Planning: CPU seconds of the search "
          "(codegen plan, with --stream-input for streamed) at that budget on that board.")
    return 0


def plan_only(rows: list[Row], limit: float) -> None:
    """The planning CPU seconds of each row's held, streamed and two-pass (SE networks) firmware, at the budgets
    the full run builds them under (found by planning the table's schedules, not timed), without building
    anything."""
    print(PLAN_HEADER)
    for row in rows:
        original = row.graph()
        graph = fuse_pads(original)
        budgets = {kind: _budget(original, _smallest_banded(graph, limit, stream_input=streamed))
                   for kind, streamed in (("held", False), ("streamed", True))}
        if (two := two_pass_budget(original)) is not None:
            budgets["two-pass"] = two
        for kind, budget in budgets.items():
            seconds = _planning_seconds(original, budget, row.board, kind == "streamed")
            print(f"| {row.name} | {kind} | {row.board} | {budget:,} | {seconds} |", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
