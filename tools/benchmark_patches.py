"""Print the README's patch-based inference table (not a test: it takes minutes on large networks).

Per model: TFLite Micro's arena, this project's per-layer arena (as built: depthwise layers in place where that
helps), and the smallest arena of patch-based schedules with at most 10% extra MACs: recomputing halos
(MCUNetV2's scheme), with the halo cache (line buffers: vertical halos are kept, not recomputed) holding the
whole input, and with the halo cache reading the input row by row (--stream-input) and the later blocks in row
bands too. Every arena is planned for real by the same planner and passes a build uses. MobileNetV2 / MCUNet
networks are built from ../shared/models/mcunet_configs with random int8 weights (codegen/model_zoo.py): memory
does not depend on weight values. Usage: python -m tools.benchmark_patches [--max-overhead 0.10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from codegen.boards import load_board
from codegen.build import build
from codegen.errors import CodegenError
from codegen.fuse_pad import fuse_pads
from codegen.ir import Graph
from codegen.lowering import lower_graph
from codegen.model_zoo import mcunet_from_json, mobilenet_v2
from codegen.pipeline import compile_file, compile_graph
from codegen.schedule_search import (
    BANDED,
    RUNTIME_SRAM_BYTES,
    Schedule,
    candidates,
    fast_arena_bytes,
    with_banded_blocks,
)
from codegen.specialize import scratch_hint
from codegen.target import Target
from codegen.tflite_reader import read_tflite
from codegen.tflite_writer import write_tflite
from tools.tflm_arena import tflm_arena_bytes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


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


def _smallest_streamed(graph: Graph, max_overhead: float) -> Schedule:
    """The smallest arena, within the MAC limit, of cached bands reading the input row by row, with or without
    the later blocks in bands (the schedules with the lowest stage-1 peaks are banded, as the search does)."""
    calls = lower_graph(graph)
    pool = [s for s in candidates(graph, calls, stream_input=True) if s.mac_overhead <= max_overhead]
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


def _instructions(graph: Graph, schedule: Schedule) -> str:
    """Instructions per inference on the emulated Cortex-M7: per-layer (on the nucleo-f767zi twin, whose 512 kB
    hold every per-layer arena here) and on nucleo-f746 under the smallest budget at which `schedule` runs the
    fast kernels everywhere (its arena plus their scratch; the search may pick it or a cheaper schedule that
    also fits). Same core, same kernels: the counts compare."""
    big, board = load_board("nucleo-f767zi"), load_board("nucleo-f746")
    fused = fuse_pads(graph)
    hint = scratch_hint(Target(board.core))
    budget = fast_arena_bytes(fused, lower_graph(fused), schedule, hint) + RUNTIME_SRAM_BYTES
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{graph.name}.tflite"
        model.write_bytes(write_tflite(graph))
        try:
            layered = compile_file(model, Target(big.core))
            per_layer = build(model, big, Path(tmp) / "a", compiled=layered).measurement.instructions
        except CodegenError as exc:
            return f"not built: {str(exc).splitlines()[0][:60]}"
        where = ""
        for target in (board, big):  # weights over the F746's 1 MB of flash: the F767ZI's 2 MB, same core
            try:
                patched = build(model, target, Path(tmp) / "b", sram_budget=budget,
                                stream_input=schedule.streamed).measurement
                break
            except CodegenError as exc:
                if target is big or "FLASH" not in str(exc):
                    return f"not built: {str(exc).splitlines()[0][:60]}"
                where = ", on nucleo-f767zi: weights over 1 MB"
    return f"{per_layer:,} -> {patched.instructions:,} (budget {budget:,}{where})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-overhead", type=float, default=0.10)
    args = parser.parse_args(argv)
    limit = args.max_overhead
    print(f"| model | input | TFLM arena | per-layer arena | patches, recompute (<= {limit:.0%} MACs) "
          f"| halo cache, input held | halo cache, input streamed (blocks in bands: +bands) | reduction "
          "| instructions per-layer -> streamed |")
    print("|---|---:|---:|---:|---|---|---|---:|---:|")
    for name, original in networks().items():
        tflm = _tflm_arena(original)
        per_layer = compile_graph(original, b"").plan.arena_bytes
        graph = fuse_pads(original)
        weighed = candidates(graph, lower_graph(graph))
        streamed = _smallest_streamed(graph, limit)
        cells = []
        for s in (_best(weighed, False, limit), _best(weighed, True, limit), streamed):
            cells.append(_cell(s))
        input_bytes = graph.tensor(graph.inputs[0]).nbytes
        print(f"| {name} | {input_bytes:,} | {tflm:,} | {per_layer:,} | {' | '.join(cells)} | "
              f"{per_layer / streamed.arena_bytes:.1f}x | {_instructions(original, streamed)} |", flush=True)
    print("\nArenas in bytes. Per-layer and the first two patch columns hold the whole input tensor in the arena; "
          "the last reads it row by row (model_read_input) as its bands need it. Grid: patches rows x cols; "
          "halo cache: row bands x column strips. Reduction: per-layer arena / the last column.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
