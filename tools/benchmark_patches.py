"""Print the README's patch-based inference table (not a test: it takes minutes on large networks).

Per model: TFLite Micro's arena, this project's per-layer arena, and the smallest arena of patch-based
schedules with at most 10% extra MACs, recomputing halos (MCUNetV2's scheme) and with the halo cache (line
buffers: vertical halos are kept, not recomputed), with the grid and MAC overhead of each. Every arena is
planned for real by the same planner a build uses. MobileNetV2 / MCUNet networks are built from
../shared/models/mcunet_configs with random int8 weights (codegen/model_zoo.py): memory does not depend on
weight values. Usage: python -m tools.benchmark_patches [--max-overhead 0.10]
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
from codegen.pipeline import compile_file
from codegen.schedule_search import RUNTIME_SRAM_BYTES, Schedule, candidates, fast_arena_bytes
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


def _tflm_arena(graph: Graph) -> int:
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(write_tflite(graph))
        f.flush()
        return tflm_arena_bytes(Path(f.name))


def _instructions(graph: Graph, cached: Schedule | None) -> str:
    """Instructions per inference on the emulated Cortex-M7: per-layer (on the nucleo-f767zi twin, whose 512 kB
    hold every per-layer arena here) and on nucleo-f746 under the smallest budget at which the halo-cache
    schedule runs the fast kernels everywhere (its arena plus their scratch; the search may pick that schedule
    or a cheaper one that also fits). Same core, same kernels: the counts compare."""
    big, board = load_board("nucleo-f767zi"), load_board("nucleo-f746")
    fused = fuse_pads(graph)
    hint = scratch_hint(Target(board.core))
    budget = fast_arena_bytes(fused, lower_graph(fused), cached, hint) + RUNTIME_SRAM_BYTES
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / f"{graph.name}.tflite"
        model.write_bytes(write_tflite(graph))
        try:
            layered = compile_file(model, Target(big.core))
            per_layer = build(model, big, Path(tmp) / "a", compiled=layered).measurement.instructions
            patched = build(model, board, Path(tmp) / "b", sram_budget=budget).measurement
        except CodegenError as exc:
            return f"not built: {str(exc).splitlines()[0][:60]}"
    return f"{per_layer:,} -> {patched.instructions:,} (budget {budget:,})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-overhead", type=float, default=0.10)
    args = parser.parse_args(argv)
    limit = args.max_overhead
    print(f"| model | input | TFLM arena | per-layer arena | patches, recompute (<= {limit:.0%} MACs) "
          f"| patches, halo cache (<= {limit:.0%} MACs) | reduction | instructions per-layer -> halo cache |")
    print("|---|---:|---:|---:|---|---|---:|---:|")
    for name, original in networks().items():
        tflm = _tflm_arena(original)
        graph = fuse_pads(original)
        weighed = candidates(graph, lower_graph(graph))
        base = weighed[0]
        cells = []
        for cached in (False, True):
            s = _best(weighed, cached, limit)
            cells.append(f"{s.arena_bytes:,} ({s.grid[0]}x{s.grid[1]}, +{s.mac_overhead:.1%})" if s else "none")
        best = min((s for s in weighed if s.mac_overhead <= limit), key=lambda s: s.arena_bytes)
        input_bytes = graph.tensor(graph.inputs[0]).nbytes
        print(f"| {name} | {input_bytes:,} | {tflm:,} | {base.arena_bytes:,} | {cells[0]} | {cells[1]} | "
              f"{base.arena_bytes / best.arena_bytes:.1f}x | {_instructions(original, _best(weighed, True, limit))} |",
              flush=True)
    print("\nArenas in bytes, input tensor included (it must be in SRAM whole before inference starts). "
          "Grid: patches rows x cols; halo cache: row bands x column strips.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
