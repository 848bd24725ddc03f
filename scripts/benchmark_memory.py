"""Print the README's memory table: this project's arena, SRAM and flash beside TFLite Micro's arena.

Every figure is measured: the arena from the planner, SRAM as the firmware's .data + .bss (linker) plus the
stack high-water mark painted and read back on the emulated board, flash from the linker map, instructions
per inference as SysTick ticks x 40 in QEMU with -icount shift=0, TFLM's arena from tflite-micro's
RecordingMicroAllocator. Usage: python -m scripts.benchmark_memory [model.tflite ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from codegen.targets.boards import load_board
from tools.build import build
from tools.tflm_arena import tflm_arena_bytes

DEFAULT_MODELS = ["mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet8_int8", "tinyengine_mcunet_vww"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [SHARED / f"{m}.tflite" for m in DEFAULT_MODELS]
    board = load_board("nucleo-f746")
    print("| model | TFLM arena | our arena | arena saved | our SRAM total (static + stack) | flash: weights + code "
          "| MACs | instructions |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            r = build(path, board, Path(tmp) / "b")
        tflm = tflm_arena_bytes(path)
        rep = r.report()
        saved = 1 - rep["arena_bytes"] / tflm
        print(f"| {path.stem} | {tflm:,} | {rep['arena_bytes']:,} | {saved:.0%} | {rep['sram_used_bytes']:,} "
              f"({rep['ram_static_bytes']:,} + {rep['stack_high_water_bytes']:,}) | "
              f"{rep['flash_weights_bytes']:,} + {rep['flash_code_bytes']:,} | {rep['macs']:,} | "
              f"{rep['instructions_per_inference']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
