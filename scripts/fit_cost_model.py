"""Fit codegen/schedule/cost_model.json to per-call instruction counts measured on a board's emulated twin.

Each model is built with profiling (make PROFILE=1) for the board's core (DSP kernels) and for the portable
kernels, plus patched schedules so that window copies are measured; one inference on QEMU -icount shift=0
gives the ticks after every kernel call, and instructions = tick differences x 40. The measured calls are
saved (--samples) so a re-fit needs no rebuild (--from-samples). Prints predicted vs measured totals.

Usage: python -m scripts.fit_cost_model [--board nucleo-f746] [--out codegen/schedule/cost_model.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from codegen.pipeline import compile_file
from codegen.schedule.cost_model import DEFAULT_PATH, CostModel, Sample, features, fit, kernel_key
from codegen.targets.boards import Board, load_board
from codegen.targets.core import PORTABLE, Target
from tools.build import build, per_call

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
MODELS = ["mlperf_vww_96_int8", "tflm_person_detect", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8",
          "tinyengine_mcunet_vww"]
# (model, SRAM budget): schedules that run stage 1 in patches, so copy_window calls are measured.
PATCHED = [("mlperf_vww_96_int8", 48 * 1024), ("tflm_person_detect", 40 * 1024)]


@dataclass(frozen=True)
class Run:
    """One profiled inference: which build, its measured calls and its INVOKE total."""

    name: str
    samples: list[Sample]
    measured: int  # instructions of the whole INVOKE


def profile_run(path: Path, board: Board, portable: bool, budget: int | None, work: Path) -> Run:
    target = PORTABLE if portable else Target(board.core)
    compiled = compile_file(path, target, budget if budget is not None else board.sram.size, use_cost_model=False)
    result = build(path, board, work, sram_budget=budget, compiled=compiled, profile=True)
    m = result.measurement
    assert m is not None and m.profile_ticks is not None
    unit = int(m.tick_unit.split("/", 1)[1])
    samples = []
    for pos, ticks in zip(compiled.sources.profile_positions, per_call(m.profile_ticks), strict=True):
        call = compiled.calls[pos]
        samples.append(Sample(kernel_key(call.kernel), features(compiled.graph, call), ticks * unit))
    name = f"{path.stem}{' portable' if portable else ''}{f' @{budget // 1024}k' if budget else ''}"
    return Run(name, samples, m.instructions)


def measure_all(board: Board, models: Path) -> list[Run]:
    plan = [(m, portable, None) for m in MODELS for portable in (False, True)]
    plan += [(m, portable, budget) for m, budget in PATCHED for portable in (False, True)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="fit-cost-") as tmp:
        for i, (model, portable, budget) in enumerate(plan):
            run = profile_run(models / f"{model}.tflite", board, portable, budget, Path(tmp) / f"b{i}")
            print(f"measured {run.name}: {run.measured:,} instructions, {len(run.samples)} calls", file=sys.stderr)
            runs.append(run)
    return runs


def format_table(model: CostModel, runs: list[Run]) -> str:
    lines = ["| build | measured | predicted | error |", "|---|---:|---:|---:|"]
    for run in runs:
        predicted = sum(float(sum(c * f for c, f in zip(model.coefficients.get(s.key, model.fallback), s.features,
                                                           strict=True))) for s in run.samples)
        lines.append(f"| {run.name} | {run.measured:,} | {predicted:,.0f} | {predicted / run.measured - 1:+.1%} |")
    return "\n".join(lines)


def save_runs(runs: list[Run], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in runs]) + "\n")


def load_runs(path: Path) -> list[Run]:
    return [Run(r["name"], [Sample(s["key"], tuple(s["features"]), s["instructions"]) for s in r["samples"]],
                r["measured"]) for r in json.loads(path.read_text())]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fit_cost_model", description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="nucleo-f746", help="board whose emulated twin is measured")
    parser.add_argument("--models", type=Path, default=SHARED, help="folder with the shared .tflite models")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help="cost model JSON to write")
    parser.add_argument("--samples", type=Path, help="also save the measured calls here")
    parser.add_argument("--from-samples", type=Path, help="fit on calls saved by --samples instead of measuring")
    args = parser.parse_args(argv)
    board = load_board(args.board)
    if board.qemu_machine is None:
        parser.error(f"board {board.name} has no QEMU twin to measure on")
    runs = load_runs(args.from_samples) if args.from_samples else measure_all(board, args.models)
    if args.samples:
        save_runs(runs, args.samples)
    model = fit([s for r in runs for s in r.samples], board=board.name, core=board.core)
    model.save(args.out)
    print(f"cost model for {board.name} ({board.core}, measured on {board.qemu_machine}) written to {args.out}")
    print(format_table(model, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
