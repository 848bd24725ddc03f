"""`codegen sweep`: plan, build and measure every model x board x SRAM budget (x held or streamed input) in the
emulator, as Ray tasks (--ray) or in a local process pool, and write sweep.csv and pareto.png.

Each combination is one `codegen build` (tools.build.build, measured on the board's QEMU twin) in a temporary
folder of the worker that runs it; the model travels as bytes (through Ray's object store with --ray), so a Ray
worker needs the project installed with the toolchain and QEMU (scripts/setup.sh), not the model files. A budget
the model cannot meet is a result, not a failure: its row says why (the build's own one-line refusal). The
outputs are written once every combination is done: OUT/sweep.csv, OUT/pareto.png and OUT/reports/<row>.json
(each build's report.json).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from codegen.errors import BudgetError, CodegenError

COLUMNS = ["model", "board", "sram_budget_bytes", "stream_input", "status", "schedule", "sram_used_bytes",
           "arena_bytes", "flash_bytes", "macs", "instructions", "pareto", "reason"]
STREAM_CHOICES = {"off": (False,), "on": (True,), "both": (False, True)}


@dataclass(frozen=True)
class Combination:
    model: Path
    board: str
    budget: int
    stream_input: bool

    @property
    def name(self) -> str:
        budget = f"{self.budget // 1024}k" if self.budget % 1024 == 0 else str(self.budget)
        return f"{self.model.stem}-{self.board}-{budget}" + ("-streamed" if self.stream_input else "")


def combinations(models: list[Path], boards: list[str], budgets: list[int], stream: str) -> list[Combination]:
    """In the order of the CSV: by model, board, held before streamed input, budget."""
    return [Combination(m, b, s, streamed) for m in models for b in boards for streamed in STREAM_CHOICES[stream]
            for s in budgets]


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _reason(exc: CodegenError) -> str:
    """The error and its problems on one line (the problems name e.g. every unsupported operator)."""
    text = "; ".join(line.strip() for line in exc.lines() if line.strip()).replace(":;", ":")
    return text if len(text) <= 400 else text[:397] + "..."


def measure_combination(model_name: str, model_bytes: bytes, board: str, budget: int, stream_input: bool) -> dict:
    """Build and measure one combination in a temporary folder (a process-pool job or a Ray task): its CSV
    figures and the build's report, or its refusal (status "refused": over budget; "failed": anything else)."""
    from codegen.targets.boards import load_board
    from tools.build import build

    with tempfile.TemporaryDirectory(prefix="codegen-sweep-") as tmp:
        model = Path(tmp) / model_name  # the same file name as the user's: the firmware carries the model name
        model.write_bytes(model_bytes)
        try:
            result = build(model, load_board(board), Path(tmp) / "build", budget, stream_input=stream_input)
        except CodegenError as exc:
            status = "refused" if isinstance(exc, BudgetError) else "failed"
            return {"status": status, "reason": _reason(exc), "exit_code": exc.exit_code, "report": None}
    report = result.report()
    return {
        "status": "built",
        "schedule": result.compiled.schedule.describe(),
        "sram_used_bytes": result.sram_used,
        "arena_bytes": report["arena_bytes"],
        "flash_bytes": report["flash_bytes"],
        "macs": report["macs"],
        "instructions": report["instructions_per_inference"],
        "reason": "",
        "exit_code": 0,
        "report": report,
    }


def _failed(exc: BaseException) -> dict:
    code = exc.exit_code if isinstance(exc, CodegenError) else 1
    return {"status": "failed", "reason": _first_line(exc), "exit_code": code, "report": None}


# ---- running the combinations ------------------------------------------------------------------------------------

Done = Callable[[int, dict], None]


def run_local(combos: list[Combination], jobs: int, done: Done) -> None:
    """Every combination in a pool of `jobs` processes (spawned: no threads are forked)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(measure_combination, c.model.name, c.model.read_bytes(), c.board, c.budget,
                               c.stream_input): k for k, c in enumerate(combos)}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 -- a crashed worker fails its row, not the sweep
                    row = _failed(exc)
                done(futures[future], row)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_ray(combos: list[Combination], address: str | None, done: Done) -> None:
    """Every combination as a Ray task (one CPU each; Ray runs a task again when its worker dies)."""
    from tools.ray_eval import ray_session

    with ray_session(address) as ray:
        models = {m: ray.put(m.read_bytes()) for m in dict.fromkeys(c.model for c in combos)}
        task = ray.remote(num_cpus=1)(measure_combination)
        pending = {task.remote(c.model.name, models[c.model], c.board, c.budget, c.stream_input): k
                   for k, c in enumerate(combos)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                k = pending.pop(ready[0])
                try:
                    row = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    row = _failed(cause if isinstance(cause, BaseException) else exc)
                except ray.exceptions.RayError as exc:  # its worker died more often than Ray retries
                    row = _failed(exc)
                done(k, row)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


# ---- results --------------------------------------------------------------------------------------------------


def mark_pareto(rows: list[dict]) -> None:
    """Per model, over every board and budget: a built row is on the front when no other built row of the model
    uses no more SRAM and no more instructions, and less of one."""
    for row in rows:
        row["pareto"] = ""
    built = [r for r in rows if r["status"] == "built" and r["instructions"] is not None]
    for row in built:
        rivals = [r for r in built if r["model"] == row["model"]]
        dominated = any(r["sram_used_bytes"] <= row["sram_used_bytes"] and r["instructions"] <= row["instructions"]
                        and (r["sram_used_bytes"], r["instructions"]) != (row["sram_used_bytes"], row["instructions"])
                        for r in rivals)
        row["pareto"] = "no" if dominated else "yes"


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
    return out.getvalue()


PANEL_W, PANEL_H = 900, 380
LEFT, RIGHT, TOP, BOTTOM = 100, 180, 40, 50
BOARD_COLOURS = [(40, 110, 200), (200, 80, 60), (60, 150, 70), (150, 90, 170), (220, 150, 30), (80, 80, 80)]


def pareto_png(rows: list[dict], path: Path) -> None:
    """One panel per model: measured SRAM (x) against instructions per inference (y), a colour per board;
    the Pareto front filled and joined as a staircase, dominated builds hollow."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    boards = list(dict.fromkeys(r["board"] for r in rows))
    image = Image.new("RGB", (PANEL_W, PANEL_H * max(len(models), 1)), "white")
    draw = ImageDraw.Draw(image)
    for p, model in enumerate(models):
        _panel(draw, p * PANEL_H, model, [r for r in rows if r["model"] == model], boards)
    image.save(path, format="PNG")


def _panel(draw: ImageDraw.ImageDraw, y0: int, model: str, rows: list[dict], boards: list[str]) -> None:
    built = [r for r in rows if r["status"] == "built" and r["instructions"] is not None]
    refused = len(rows) - len(built)
    draw.text((LEFT, y0 + 12), f"{model}: instructions per inference against measured SRAM "
                               f"({len(built)} built, {refused} refused; filled: Pareto front)", fill="black")
    plot_w, plot_h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM
    x_lo, x_hi = _axis([r["sram_used_bytes"] for r in built])
    y_lo, y_hi = _axis([r["instructions"] for r in built])

    def at(sram: float, instructions: float) -> tuple[float, float]:
        return (LEFT + plot_w * (sram - x_lo) / (x_hi - x_lo),
                y0 + TOP + plot_h * (1 - (instructions - y_lo) / (y_hi - y_lo)))

    for i in range(5):
        sram, instructions = x_lo + (x_hi - x_lo) * i / 4, y_lo + (y_hi - y_lo) * i / 4
        x, y = at(sram, instructions)
        draw.line([(LEFT, y), (LEFT + plot_w, y)], fill=(230, 230, 230))
        draw.text((5, y - 6), f"{instructions:,.0f}", fill="black")
        draw.text((x - 20, y0 + TOP + plot_h + 6), f"{sram:,.0f} B", fill="black")
    draw.rectangle([LEFT, y0 + TOP, LEFT + plot_w, y0 + TOP + plot_h], outline="black")
    draw.text((LEFT + plot_w // 2 - 60, y0 + PANEL_H - 22), "measured SRAM (static + stack)", fill="black")
    front = sorted((r for r in built if r["pareto"] == "yes"), key=lambda r: (r["sram_used_bytes"], r["instructions"]))
    steps: list[tuple[float, float]] = []
    for r in front:
        x, y = at(r["sram_used_bytes"], r["instructions"])
        if steps:
            steps.append((x, steps[-1][1]))
        steps.append((x, y))
    if len(steps) > 1:
        draw.line(steps, fill=(120, 120, 120), width=2)
    for r in built:
        x, y = at(r["sram_used_bytes"], r["instructions"])
        colour = BOARD_COLOURS[boards.index(r["board"]) % len(BOARD_COLOURS)]
        radius = 6 if r["pareto"] == "yes" else 4
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=colour, width=2,
                     fill=colour if r["pareto"] == "yes" else None)
    for k, board in enumerate(boards):
        y = y0 + TOP + 10 + 18 * k
        colour = BOARD_COLOURS[k % len(BOARD_COLOURS)]
        draw.ellipse([PANEL_W - RIGHT + 15, y, PANEL_W - RIGHT + 25, y + 10], fill=colour)
        draw.text((PANEL_W - RIGHT + 32, y - 1), board[:22], fill="black")


def _axis(values: list[int]) -> tuple[float, float]:
    """An axis range around the values, 8% of their spread (or of their size, when they are all equal) beyond."""
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = 0.08 * ((hi - lo) or max(abs(hi), 1))
    return max(lo - pad, 0.0), hi + pad


def summary(rows: list[dict]) -> str:
    head = f"{'model':28} {'board':16} {'budget':>9} {'input':8} {'SRAM':>9} {'flash':>10} {'instructions':>13}  "
    lines = [head + "schedule or reason"]
    for r in rows:
        built = r["status"] == "built"
        sram = f"{r['sram_used_bytes']:,}" if built else "-"
        flash = f"{r['flash_bytes']:,}" if built else "-"
        instructions = f"{r['instructions']:,}" if built and r["instructions"] is not None else "-"
        what = (r["schedule"] + (" [Pareto]" if r["pareto"] == "yes" else "")) if built else \
            f"{r['status']}: {r['reason']}"
        held = "streamed" if r["stream_input"] else "held"
        lines.append(f"{r['model'][:28]:28} {r['board'][:16]:16} {r['sram_budget_bytes']:>9,} {held:8} {sram:>9} "
                     f"{flash:>10} {instructions:>13}  {what}")
    return "\n".join(lines)


def write_outputs(out: Path, combos: list[Combination], rows: list[dict]) -> None:
    """sweep.csv, pareto.png and reports/, staged in OUT/ and moved into place only when all are written."""
    staging = out / f".sweep.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        (staging / "reports").mkdir(parents=True)
        for combo, row in zip(combos, rows, strict=True):
            if row.get("report") is not None:
                (staging / "reports" / f"{combo.name}.json").write_text(json.dumps(row["report"], indent=2) + "\n")
        (staging / "sweep.csv").write_text(csv_text(rows))
        pareto_png(rows, staging / "pareto.png")
        shutil.rmtree(out / "reports", ignore_errors=True)
        for name in ("reports", "sweep.csv", "pareto.png"):
            (staging / name).replace(out / name)
    except OSError as exc:
        raise CodegenError(f"cannot write the sweep into {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- the command ------------------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> list[Combination]:
    from codegen.targets.boards import load_board

    for model in args.model:
        if not model.is_file():
            raise CodegenError(f"--model {model}: no such file")
        if model.suffix.lower() != ".tflite":
            raise CodegenError(f"--model {model}: sweep takes int8 .tflite models (a float model: build it once "
                               "with --calib and sweep BUILD_DIR/model.tflite)")
    if len({m.name for m in args.model}) != len(args.model):
        raise CodegenError("--model: two models share a file name; the rows would be indistinguishable")
    for name in dict.fromkeys(args.board):
        if load_board(name).emulator_layer is None:
            raise CodegenError(f"--board {name} has no QEMU twin: sweep measures every build in the emulator")
    if args.jobs is not None and args.jobs < 1:
        raise CodegenError(f"--jobs must be at least 1, not {args.jobs}")
    if args.jobs is not None and args.ray is not None:
        raise CodegenError("--jobs sizes the local process pool; with --ray the cluster's CPUs run the builds")
    if args.out.exists() and not args.out.is_dir():
        raise CodegenError(f"--out {args.out} exists and is not a folder")
    if not args.out.parent.is_dir():
        raise CodegenError(f"--out {args.out}: folder {args.out.parent} does not exist")
    return combinations(args.model, list(dict.fromkeys(args.board)), args.sram_budget, args.stream_input)


def sweep_command(args: argparse.Namespace) -> int:
    combos = _check(args)
    rows: list[dict | None] = [None] * len(combos)
    started = time.monotonic()

    def done(k: int, result: dict) -> None:
        c = combos[k]
        rows[k] = {"model": c.model.stem, "board": c.board, "sram_budget_bytes": c.budget,
                   "stream_input": c.stream_input, **result}
        finished = sum(r is not None for r in rows)
        what = (f"built, {result['sram_used_bytes']:,} B SRAM, {result['instructions'] or 0:,} instructions"
                if result["status"] == "built" else f"{result['status']}: {result['reason']}")
        print(f"sweep: {finished}/{len(combos)} {c.name}: {what} ({time.monotonic() - started:.0f} s)",
              file=sys.stderr, flush=True)

    if args.ray is not None:
        run_ray(combos, args.ray or None, done)
    else:
        run_local(combos, args.jobs or os.cpu_count() or 1, done)
    results = [r for r in rows if r is not None]
    mark_pareto(results)
    args.out.mkdir(exist_ok=True)
    write_outputs(args.out, combos, results)
    print(summary(results))
    built = sum(r["status"] == "built" for r in results)
    print(f"wrote {args.out / 'sweep.csv'}, {args.out / 'pareto.png'} and the {built} builds' reports in "
          f"{args.out / 'reports'}")
    failures = [r for r in results if r["status"] == "failed"]
    if failures:
        print(f"codegen: {len(failures)} of {len(results)} builds failed (not for the budget); first: "
              f"{failures[0]['reason']}", file=sys.stderr)
        return int(failures[0]["exit_code"]) or 1
    return 0
