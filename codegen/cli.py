"""The `codegen` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.errors import CodegenError


def _size(text: str) -> int:
    """Parse a byte count: 98304, 96k, 96K, 1m."""
    units = {"k": 1024, "m": 1024 * 1024}
    t = text.strip().lower().removesuffix("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 98304, 96k, 1m)") from None


def _sizes(text: str) -> list[int]:
    """Parse comma-separated byte counts: 32k,48k,64k (each once)."""
    sizes = [_size(part) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"no sizes in {text!r} (e.g. 32k,48k,64k)")
    if len(set(sizes)) != len(sizes) or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive and distinct: {text!r}")
    return sizes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codegen", description="Compile TFLite models into Cortex-M firmware.")
    sub = p.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="compile a model into firmware and report RAM, flash and speed")
    build.add_argument("--board", required=True, help="board name (see `codegen boards`)")
    build.add_argument("--model", required=True, type=Path,
                       help="int8 .tflite model, or a float model (PyTorch, Keras, float .tflite) with --calib")
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
    run.add_argument("--model", required=True, type=Path)
    run.add_argument("--emulate", action="store_true", required=True,
                     help="run on the board's emulated twin in QEMU (the only mode of `run`)")
    run.add_argument("--input", action="append", type=Path, default=[], required=True,
                     help=".npy input, one per model input, in order")
    run.add_argument("--output", action="append", type=Path, default=[], help=".npy file to save each output")
    run.add_argument("--out", type=Path, help="keep the build in this directory (default: a temporary one)")
    run.add_argument("--profile", action="store_true",
                     help="build with per-call profiling and print each kernel call's instructions")
    from codegen.quantize.command import add_calibration_arguments

    add_calibration_arguments(build)
    add_calibration_arguments(run)

    plan = sub.add_parser("plan", help="show the execution schedules weighed under an SRAM budget, without building")
    plan.add_argument("--model", required=True, type=Path)
    plan.add_argument("--board", default="nucleo-f746", help="whose SRAM (the default budget) and core")
    plan.add_argument("--sram-budget", type=_size, help="SRAM the firmware may use (default: the board's SRAM)")
    plan.add_argument("--stream-input", action="store_true",
                      help="let the schedule read the input row by row while it runs instead of holding it whole "
                           "in SRAM (the firmware then asks the host, or your code, for rows: model_read_input)")
    plan.add_argument("--all", action="store_true", help="list every candidate, not the 12 smallest")

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
    from codegen.evaluate import add_eval_parser
    from codegen.flash import add_flash_parser
    from codegen.monitor import add_monitor_parser

    add_eval_parser(sub)
    add_flash_parser(sub)
    add_monitor_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            from codegen.build import build_command
            from codegen.quantize.command import with_quantized_model

            return with_quantized_model(args, build_command)
        if args.command == "run":
            from codegen.quantize.command import with_quantized_model
            from codegen.run import run_command

            return with_quantized_model(args, run_command)
        if args.command == "flash":
            from codegen.flash import flash_command

            return flash_command(args)
        if args.command == "eval":
            from codegen.evaluate import eval_command

            return eval_command(args)
        if args.command == "monitor":
            from codegen.monitor import monitor_command

            return monitor_command(args)
        if args.command == "sweep":
            from tools.sweep import sweep_command

            return sweep_command(args)
        if args.command == "plan":
            from codegen.plan_command import plan_command

            return plan_command(args)
        if args.command == "boards":
            from codegen.boards import list_boards

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
    return 2


if __name__ == "__main__":
    sys.exit(main())
