"""Print the README's patch-based inference table (not a test: it takes minutes on large networks).

Per model: TFLite Micro's arena, this project's per-layer arena (as built: depthwise layers in place where that
helps), and the smallest arena of patch-based schedules with at most 10% extra MACs: recomputing halos
(MCUNetV2's scheme), with the halo cache (line buffers: vertical halos are kept, not recomputed) holding the
whole input, and with the halo cache reading the input row by row (--stream-input) and the later blocks in row
bands too. Every arena is planned for real by the same planner and passes a build uses. MobileNetV2 / MCUNet
networks are built from ../shared/models/mcunet_configs with random int8 weights (codegen/frontend/model_zoo.py): memory
does not depend on weight values. Usage: python -m scripts.benchmark_patches [--max-overhead 0.10] [--only TEXT]

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
from pathlib import Path

from codegen.errors import BudgetError, CodegenError
from codegen.frontend.model_zoo import mcunet_from_json, mobilenet_v2, mobilenet_v2_se, mobilenet_v3_small, tiny_se
from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.pipeline import compile_file, compile_graph, flash_predictor
from codegen.schedule.cost_model import load_default
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


def networks() -> dict[str, Graph]:
    configs = SHARED / "mcunet_configs"
    return {
        "mlperf_vww_96_int8": read_tflite(SHARED / "mlperf_vww_96_int8.tflite"),
        "tflm_person_detect": read_tflite(SHARED / "tflm_person_detect.tflite"),
        "tinyengine_mcunet_vww": read_tflite(SHARED / "tinyengine_mcunet_vww.tflite"),
        "MobileNetV2 w0.35 r144 (random weights)": mcunet_from_json(configs / "mbv2-w0.35-r144_imagenet.json"),
        "MCUNet 320kB-1MB (random weights)": mcunet_from_json(configs / "mcunet-320kb-1mb_imagenet.json"),
        "MobileNetV2 w1.0 r224 (random weights)": mobilenet_v2(1.0, 224),
    }


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


def _planning_seconds(graph: Graph, budget: int, board_name: str) -> str:
    """CPU seconds of the search `codegen plan --stream-input` runs on `board_name` under `budget` (the same
    calls, flash check included; CPU time, since wall time on a shared machine is noise)."""
    start = time.process_time()
    board = load_board(board_name)
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    cost, target, cache = load_default(), Target(board.core), SearchCache()
    flash = FlashLimit(board.flash.size, flash_predictor(fused, calls, target, budget, cost, cache))
    try:
        choose(fused, calls, budget, scratch_hint(target), cost, True, flash=flash, cache=cache)
    except BudgetError as exc:
        return f"refused: {str(exc)[:60]}"
    return f"{time.process_time() - start:.1f}"


def _budget(graph: Graph, schedule: Schedule) -> int:
    """The smallest budget at which `schedule` runs the fast kernels everywhere (see _instructions)."""
    fused = fuse_pads(graph)
    hint = scratch_hint(Target(load_board("nucleo-f746").core))  # every board tried here has this core
    return fast_arena_bytes(fused, lower_graph(fused), schedule, hint) + RUNTIME_SRAM_BYTES


def _instructions(graph: Graph, schedule: Schedule) -> tuple[str, str]:
    """Instructions per inference on the emulated Cortex-M7: per-layer on the first of nucleo-f767zi (512 kB of
    SRAM) and mps2plus-an500 (4 + 4 MB) that holds it, and patched on the first of nucleo-f746, nucleo-f767zi and
    mps2plus-an500 whose flash holds the weights, under the smallest budget at which `schedule` runs the fast
    kernels everywhere (its arena plus their scratch plus the search's runtime estimate; the build measures the
    runtime SRAM and may pick a cheaper schedule that also fits). Same core, same kernels: the counts compare.
    Also the board the patched build ran on."""
    budget = _budget(graph, schedule)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{graph.name}.tflite"
        model.write_bytes(write_tflite(graph))
        per_layer, _ = _first_that_fits(("nucleo-f767zi", "mps2plus-an500"), model, Path(tmp) / "a", None, False)
        patched, board = _first_that_fits(("nucleo-f746", "nucleo-f767zi", "mps2plus-an500"), model,
                                          Path(tmp) / "b", budget, schedule.streamed)
    if isinstance(per_layer, str) or isinstance(patched, str):
        return f"not built: {per_layer if isinstance(per_layer, str) else patched}", board
    where = "" if board == "nucleo-f746" else f", on {board}: weights over the F746's 1 MB"
    return (f"{per_layer.measurement.instructions:,} -> {patched.measurement.instructions:,} "
            f"(budget {budget:,}{where})"), board


def _first_that_fits(boards: tuple[str, ...], model: Path, out: Path, budget: int | None,
                     stream_input: bool) -> tuple[BuildResult | str, str]:
    """The build on the first board whose memories hold the model (a BudgetError: the linker's overflow, a budget
    no schedule meets, measured SRAM over it), or the first line of the error that stopped the tries."""
    for name in boards:
        board = load_board(name)
        try:
            compiled = None if budget is not None else compile_file(model, Target(board.core))
            return build(model, board, out, sram_budget=budget, compiled=compiled, stream_input=stream_input), name
        except BudgetError as exc:
            error = str(exc).splitlines()[0][:80]
        except CodegenError as exc:
            return str(exc).splitlines()[0][:80], name
    return error, name


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
        weighed = candidates(graph, calls, cost)
        ordinary = [s for s in weighed if not s.two_pass]
        floors = sorted((s for s in ordinary if s.split is not None), key=lambda s: (s.stage1_bytes, s.macs))
        ordinary += [with_banded_blocks(graph, calls, s, cost) for s in floors[:BANDED]]
        before = min(ordinary, key=lambda s: (s.peak_sram_bytes, s.macs))
        two_pass = min((s for s in weighed if s.two_pass), key=lambda s: (s.peak_sram_bytes, s.macs))
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-overhead", type=float, default=0.10)
    parser.add_argument("--only", metavar="TEXT", help="only the models whose name contains TEXT")
    parser.add_argument("--se", action="store_true", help="the squeeze-and-excite table instead")
    args = parser.parse_args(argv)
    if args.se:
        se_table(args.only)
        return 0
    limit = args.max_overhead
    print(f"| model | input | TFLM arena | per-layer arena | patches, recompute (<= {limit:.0%} MACs) "
          "| halo cache, input held | halo cache and blocks in bands, input held "
          "| halo cache, input streamed (blocks in bands: +bands) | reduction held / streamed "
          "| instructions per-layer -> streamed | planning CPU s (`plan --stream-input`, that budget and board) |")
    print("|---|---:|---:|---:|---|---|---|---|---:|---:|---:|")
    for name, original in networks().items():
        if args.only and args.only not in name:
            continue
        tflm = _tflm_arena(original)
        per_layer = compile_graph(original, b"").plan.arena_bytes
        graph = fuse_pads(original)
        weighed = candidates(graph, lower_graph(graph))
        held = _smallest_banded(graph, limit, stream_input=False)
        streamed = _smallest_banded(graph, limit, stream_input=True)
        cells = [_cell(s) for s in (_best(weighed, False, limit), _best(weighed, True, limit), held, streamed)]
        input_bytes = graph.tensor(graph.inputs[0]).nbytes
        instructions, board = _instructions(original, streamed)
        planning = _planning_seconds(original, _budget(original, streamed), board)
        print(f"| {name} | {input_bytes:,} | {tflm:,} | {per_layer:,} | {' | '.join(cells)} | "
              f"{per_layer / held.arena_bytes:.1f}x / {per_layer / streamed.arena_bytes:.1f}x | "
              f"{instructions} | {planning} |", flush=True)
    print("\nArenas in bytes. Per-layer and the first three patch columns hold the whole input tensor in the "
          "arena; the last reads it row by row (model_read_input) as its bands need it. Grid: patches rows x cols; "
          "halo cache: row bands x column strips. Reduction: per-layer arena / the two banded columns.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
