"""The `codegen` command line."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from codegen.errors import CodegenError

_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([km]?)b?", re.IGNORECASE)
MAX_SIZE = 1 << 32  # what a Cortex-M's 32-bit address space can hold


def _size(text: str) -> int:
    """Parse a byte count: 98304, 96k, 96K, 1.5m, 96kB; from 1 byte to 4 GiB (no inf, nan, signs, exponents)."""
    match = _SIZE.fullmatch(text.strip())
    text = text if len(text) <= 40 else text[:37] + "..."
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 98304, 96k, 1m)")
    value = float(match[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[match[2].lower()]
    if not math.isfinite(value) or value > MAX_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r} is more than the 4 GiB a Cortex-M can address")
    if int(value) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of bytes")
    return int(value)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one `codegen: ...` line (exit code 2) instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"codegen: {message} (see `{self.prog} --help`)\n")


def _sizes(text: str) -> list[int]:
    """Parse comma-separated byte counts: 32k,48k,64k (each once)."""
    sizes = [_size(part) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"no sizes in {text!r} (e.g. 32k,48k,64k)")
    if len(set(sizes)) != len(sizes) or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive and distinct: {text!r}")
    return sizes


def _percent(text: str) -> float:
    """A percentile in [0, 100]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a percentile in [0, 100]")
    return value


def _unit(text: str) -> float:
    """A weight in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not in [0, 1]")
    return value


def _subpatches(text: str) -> int:
    """`--mp-int8-subpatches`: 1 to 8, or auto (0: the planner weighs them)."""
    if text == "auto":
        return 0
    if not text.isdigit() or not 1 <= int(text) <= 8:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not 1 to 8 or auto")
    return int(text)


def _fraction(text: str) -> float:
    """A fraction in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a fraction in (0, 1]")
    return value


def _add_mixed_precision_arguments(parser: argparse.ArgumentParser, calib: bool) -> None:
    group = parser.add_argument_group(
        "mixed precision (QuantMCU)", "patches without outliers compute stage 1 in fewer bits (README: "
        "\"Mixed precision (QuantMCU)\"); thresholds and bit-widths are calibrated on --calib")
    group.add_argument("--mixed-precision", action="store_true",
                       help="search per-feature-map bit-widths (8/4/2) for stage 1's low-bit patches")
    if calib:
        group.add_argument("--calib", type=Path, metavar="CALIB.npz",
                           help="calibration inputs: array x = N samples in the model's input layout")
    group.add_argument("--outlier-percentile", type=_percent, default=None, metavar="P",
                       help="thresholds: the P-th percentile of per-patch maxima (default 90)")
    group.add_argument("--mp-lambda", type=_unit, default=None, metavar="L",
                       help="search weight of entropy loss against bit operations saved (default 0.3)")
    group.add_argument("--mp-bitops-target", type=_fraction, default=None, metavar="F",
                       help="lower bit-widths until the low-bit path's stage-1 bit operations reach F x int8, "
                            "whatever the score (default: stop when no step scores above 0)")
    group.add_argument("--mp-clip", choices=("threshold", "percentile", "mse"), default=None,
                       help="top of each low-bit range: the map's threshold qT (default), the "
                            "--mp-clip-percentile-th percentile of its values, or the least squared error")
    group.add_argument("--mp-clip-percentile", type=_percent, default=None, metavar="P",
                       help="for --mp-clip percentile (default 99.9)")
    group.add_argument("--mp-per-channel", action="store_true", default=None,
                       help="each channel of a low-bit map gets its own step and range (default: one per map)")
    group.add_argument("--mp-int8-subpatches", type=_subpatches, default=None, metavar="S|auto",
                       help="the int8 path (outlier patches) runs each patch's tile as S x S sub-patches, the "
                            "low-bit path the whole patch on packed maps (default 1); auto: weigh patch grids and "
                            "S under the budget for the fewest expected stage-1 MACs")
    if calib:
        group.add_argument("--mp-report", type=Path, metavar="REPORT.json",
                           help="write the mixed_precision block (with the model and schedule) to this file")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="codegen", description="Compile TFLite models into Cortex-M firmware.")
    sub = p.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="compile a model into firmware and report RAM, flash and speed")
    build.add_argument("--board", required=True, help="board name (see `codegen boards`)")
    build.add_argument("--model", required=True, type=Path, action="append", dest="models",
                       help="int8 .tflite model, or a float model (PyTorch, Keras, float .tflite) with --calib; "
                            "repeat it for one firmware carrying several int8 .tflite models (index = order)")
    build.add_argument("--out", type=Path, default=Path("build"), help="output directory (default: build)")
    build.add_argument("--sram-budget", type=_size, help="SRAM the firmware may use (default: the board's SRAM)")
    build.add_argument("--no-measure", action="store_true",
                       help="skip the emulator run that measures stack and instructions")
    build.add_argument("--stream-input", action="store_true",
                       help="let the schedule read the input row by row while it runs instead of holding it whole "
                            "in SRAM (the firmware then asks the host, or your code, for rows: model_read_input)")
    build.add_argument("--plot", type=Path, help="write a PNG of activation memory per layer (per-layer vs schedule)")

    run = sub.add_parser("run", help="build, run one inference on the emulated board, print the outputs")
    run.add_argument("--board", required=True)
    run.add_argument("--model", required=True, type=Path, action="append", dest="models",
                     help="the model; repeat it to build one firmware carrying several (int8 .tflite)")
    run.add_argument("--model-index", type=int, default=0,
                     help="with several --model: the model to run, by its position (default 0)")
    run.add_argument("--emulate", action="store_true", required=True,
                     help="run on the board's emulated twin in QEMU (the only mode of `run`)")
    run.add_argument("--input", action="append", type=Path, default=[], required=True,
                     help=".npy input, one per model input, in order")
    run.add_argument("--output", action="append", type=Path, default=[], help=".npy file to save each output")
    run.add_argument("--out", type=Path, help="keep the build in this directory (default: a temporary one)")
    run.add_argument("--profile", action="store_true",
                     help="build with per-call profiling and print each kernel call's instructions")
    run.add_argument("--sequence", action="store_true",
                     help="each --input holds N steps, shaped (N, *input shape): invoke N times in order with the "
                          "model's state (e.g. SVDF) carried, reset before the first; outputs are (N, *output shape)")
    from codegen.quantize.command import add_calibration_arguments

    add_calibration_arguments(build)
    add_calibration_arguments(run)
    _add_mixed_precision_arguments(build, calib=False)

    plan = sub.add_parser("plan", help="show the execution schedules weighed under an SRAM budget, without building")
    plan.add_argument("--model", required=True, type=Path)
    plan.add_argument("--board", default="nucleo-f746", help="whose SRAM (the default budget) and core")
    plan.add_argument("--sram-budget", type=_size, help="SRAM the firmware may use (default: the board's SRAM)")
    plan.add_argument("--stream-input", action="store_true",
                      help="let the schedule read the input row by row while it runs instead of holding it whole "
                           "in SRAM (the firmware then asks the host, or your code, for rows: model_read_input)")
    plan.add_argument("--all", action="store_true", help="list every candidate, not the 12 smallest")
    _add_mixed_precision_arguments(plan, calib=True)

    sweep = sub.add_parser("sweep", help="build and measure every model x board x SRAM budget in the emulator "
                                         "(locally or on Ray): sweep.csv and pareto.png")
    sweep.add_argument("--model", action="append", required=True, type=Path, help="int8 .tflite model (repeatable)")
    sweep.add_argument("--board", action="append", required=True, help="board with a QEMU twin (repeatable)")
    sweep.add_argument("--sram-budget", required=True, type=_sizes, metavar="SIZE,SIZE,...",
                       help="comma-separated SRAM budgets, e.g. 32k,48k,64k")
    sweep.add_argument("--stream-input", choices=["off", "on", "both"], default="off", nargs="?", const="on",
                       help="hold the input whole (off, the default), stream it (on), or sweep both")
    sweep.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run every build as a Ray task on the cluster at ADDRESS, or on a local Ray instance "
                            "without it (needs the cluster extra: pip install '.[cluster]')")
    sweep.add_argument("--jobs", type=int, help="without --ray: builds at once (default: the CPU count)")
    sweep.add_argument("--out", required=True, type=Path, help="folder for sweep.csv, pareto.png and reports/")

    sub.add_parser("boards", help="list the supported boards")
    from tools.evaluate import add_eval_parser
    from tools.flash import add_flash_parser
    from tools.monitor import add_monitor_parser

    add_eval_parser(sub)
    add_flash_parser(sub)
    add_monitor_parser(sub)
    return p


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (every `finally` and context manager runs: emulators are
    stopped, staging and temporary folders removed), then exit with 128 + the signal number."""

    def __init__(self, signo: int):
        super().__init__(signo)
        self.signo = signo


TERMINATING = (signal.SIGTERM, signal.SIGHUP)


def _terminate(signo: int, _frame: object) -> None:
    # Once: a second signal must not cut the cleanup short (emulators die with us anyway: see tools/link/emulator.py).
    for sig in (*TERMINATING, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signo)


@contextlib.contextmanager
def _termination_unwinds() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated in the main thread while the command runs; the handlers before
    are restored afterwards (main() may run inside another program, e.g. the tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _terminate) for sig in TERMINATING}
    saved[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with _termination_unwinds():
        try:
            return _main(args)
        except Terminated as exc:  # arrived between _main's own handlers and its return
            print(f"codegen: terminated by {signal.Signals(exc.signo).name}", file=sys.stderr)
            return 128 + exc.signo


def _main(args: argparse.Namespace) -> int:
    try:
        models = getattr(args, "models", None)
        if models is not None:
            args.model = models[0]
            if len(models) > 1 and getattr(args, "mixed_precision", False):
                raise CodegenError("--mixed-precision takes one --model")
            if len(models) > 1 and getattr(args, "calib", None) is not None:
                raise CodegenError("several --model take int8 .tflite models: quantize each one first (--calib "
                                   "takes one model)")
        if args.command == "build":
            from codegen.quantize.command import with_quantized_model
            from tools.build import build_command, check_build_args

            check_build_args(args)  # before the (slow) quantization and compilation
            return with_quantized_model(args, build_command)
        if args.command == "run":
            from codegen.quantize.command import with_quantized_model
            from tools.run import check_run_args, run_command

            check_run_args(args)
            return with_quantized_model(args, run_command)
        if args.command == "flash":
            from tools.flash import flash_command

            return flash_command(args)
        if args.command == "eval":
            from tools.evaluate import eval_command

            return eval_command(args)
        if args.command == "monitor":
            from tools.monitor import monitor_command

            return monitor_command(args)
        if args.command == "sweep":
            from tools.sweep import sweep_command

            return sweep_command(args)
        if args.command == "plan":
            from tools.plan_command import plan_command

            return plan_command(args)
        if args.command == "boards":
            from codegen.targets.boards import list_boards

            for board in list_boards():
                print(board.summary())
            return 0
    except CodegenError as exc:
        for line in exc.lines():
            print(f"codegen: {line}" if not line.startswith("  ") else line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codegen: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"codegen: terminated by {signal.Signals(exc.signo).name}", file=sys.stderr)
        return 128 + exc.signo
    return 2


if __name__ == "__main__":
    sys.exit(main())
