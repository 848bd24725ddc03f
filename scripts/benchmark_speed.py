"""Print the speed table: instructions per inference of the generated firmware, beside TFLite Micro + CMSIS-NN
and beside this project's own portable kernels.

Every figure is measured the same way: the firmware for a board (nucleo-f746 by default, a Cortex-M7) runs one
inference on its QEMU twin with -icount shift=0, where SysTick advances once per 40 executed instructions, so
instructions = ticks x 40, deterministic run after run. Builds use arm-none-eabi-gcc -O2. The portable column
is the same model built without the DSP-extension kernels (target PORTABLE). The TFLM + CMSIS-NN baselines
are the issue's figures for TFLite Micro with CMSIS-NN kernels, measured the same way.

Usage: python -m scripts.benchmark_speed [--board NAME] [--no-portable] [model.tflite ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from codegen.pipeline import compile_file
from codegen.targets.boards import Board, load_board
from codegen.targets.core import PORTABLE
from tools.build import build

DEFAULT_MODELS = ["mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"

# TFLite Micro + CMSIS-NN, instructions per inference on QEMU mps2-an500 (Cortex-M7), from the issue.
CMSIS_NN_BASELINE = {
    "mlperf_vww_96_int8": 24_025_560,
    "tflm_person_detect": 22_715_880,
    "mlperf_ic_resnet8_int8": 30_023_400,
    "mlperf_ad01_int8": 583_280,
}


@dataclass(frozen=True)
class SpeedRow:
    model: str
    macs: int
    instructions: int
    portable_instructions: int | None
    baseline: int | None
    sram_used: int
    arena: int
    flash_code: int
    flash_weights: int

    @property
    def per_mac(self) -> float:
        return self.instructions / self.macs if self.macs else float("nan")


def measure(path: Path, board: Board, portable: bool = True) -> SpeedRow:
    """Build `path` for `board` (and, if asked, again with portable kernels) and measure one inference."""
    with tempfile.TemporaryDirectory() as tmp:
        fast = build(path, board, Path(tmp) / "fast")
        slow = build(path, board, Path(tmp) / "portable", compiled=compile_file(path, PORTABLE)) if portable else None
    rep = fast.report()
    return SpeedRow(
        model=path.stem,
        macs=rep["macs"],
        instructions=rep["instructions_per_inference"],
        portable_instructions=slow.report()["instructions_per_inference"] if slow else None,
        baseline=CMSIS_NN_BASELINE.get(path.stem),
        sram_used=rep["sram_used_bytes"],
        arena=rep["arena_bytes"],
        flash_code=rep["flash_code_bytes"],
        flash_weights=rep["flash_weights_bytes"],
    )


def _times(reference: int | None, ours: int) -> str:
    return f"{reference / ours:.2f}x" if reference else "n/a"


def format_table(rows: list[SpeedRow], board: Board) -> str:
    lines = [
        f"Instructions per inference on {board.name} ({board.core}), measured on its QEMU twin "
        f"{board.qemu_machine} with -icount shift=0: SysTick ticks x 40; arm-none-eabi-gcc 12.2 -O2.",
        "Speedups are reference instructions / ours. SRAM is .data + .bss + the painted stack high-water mark.",
        "",
        "| model | MACs | instructions | instructions/MAC | TFLM + CMSIS-NN | vs CMSIS-NN | portable kernels "
        "| vs portable | peak SRAM (arena) | flash code / weights |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        baseline = f"{r.baseline:,}" if r.baseline else "n/a"
        portable = f"{r.portable_instructions:,}" if r.portable_instructions else "not built"
        lines.append(
            f"| {r.model} | {r.macs:,} | {r.instructions:,} | {r.per_mac:.2f} | {baseline} "
            f"| {_times(r.baseline, r.instructions)} | {portable} | {_times(r.portable_instructions, r.instructions)} "
            f"| {r.sram_used:,} ({r.arena:,}) | {r.flash_code:,} / {r.flash_weights:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.benchmark_speed", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="model files (default: the four MLPerf-class models)")
    parser.add_argument("--board", default="nucleo-f746", help="board to build for (needs a QEMU twin)")
    parser.add_argument("--no-portable", action="store_true", help="skip the portable-kernel builds")
    args = parser.parse_args(argv)
    board = load_board(args.board)
    if board.qemu_machine is None:
        parser.error(f"board {board.name} has no QEMU twin to measure on")
    paths = args.models or [SHARED / f"{m}.tflite" for m in DEFAULT_MODELS]
    rows = [measure(path, board, portable=not args.no_portable) for path in paths]
    print(format_table(rows, board))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
