"""`codegen flash BUILD_DIR [--tool pyocd|openocd|st-flash] [--probe ID]`: write a build to its board.

The board comes from BUILD_DIR/report.json (written by `codegen build`), the tool is the first installed of
pyOCD, OpenOCD and st-flash unless --tool names one, and the command runs in BUILD_DIR:

    pyocd flash -t <target> [-u <probe>] firmware.hex
    openocd -f board/<cfg> [-c "adapter serial <probe>"] -c "program firmware.elf verify reset exit"
    st-flash [--serial <probe>] --reset write firmware.bin 0x08000000

(OpenOCD's `program` initialises the adapter, so the probe's serial must be given before it.)
Errors are CodegenErrors, one line each: not a build directory (exit 1), a board that none of the tools can
write (the MPS2+: its MCC loads the image from its USB drive; exit 1, saying how), no tool (ToolchainError,
exit 4), the tool failed (DeviceError, exit 5, with the tool's own error line).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codegen.errors import CodegenError, DeviceError, ToolchainError
from codegen.targets.boards import Board, load_board

TOOLS = ("pyocd", "openocd", "st-flash")  # the order in which an installed tool is picked
INSTALL = {
    "pyocd": "pip install pyocd",
    "openocd": "apt-get install openocd",
    "st-flash": "apt-get install stlink-tools",
}
IMAGES = {"pyocd": "firmware.hex", "openocd": "firmware.elf", "st-flash": "firmware.bin"}
TIMEOUT_S = 600.0  # a 2 MB image over SWD takes well under a minute


@dataclass(frozen=True)
class FlashResult:
    tool: str
    argv: list[str]  # as run, in the build directory (argv[0] is the tool's name, not its path)
    image: Path


def add_flash_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("flash", help="flash a build to its board (pyocd, openocd or st-flash)")
    p.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="the --out directory of `codegen build`")
    p.add_argument("--tool", choices=TOOLS,
                   help="flashing tool (default: the first installed of " + ", ".join(TOOLS) + ")")
    p.add_argument("--probe", metavar="ID", help="serial number of the debug probe, if several are connected")
    return p


def flash_command(args: argparse.Namespace) -> int:
    result = flash(args.build_dir, args.tool, args.probe)
    size = result.image.stat().st_size
    probe = f", probe {args.probe}" if args.probe else ""
    print(f"flashed {result.image} ({size:,} bytes) with {result.tool}{probe}")
    return 0


def flash(build_dir: Path, tool: str | None = None, probe: str | None = None) -> FlashResult:
    board = board_of_build(build_dir)
    if not probe_tools(board):
        raise not_probe_flashed(board, build_dir / "firmware.bin")
    name, executable = choose_tool(tool)
    argv = flash_argv(name, board, probe)
    image = build_dir / IMAGES[name]
    if not image.is_file():
        raise CodegenError(f"{image} is missing: rebuild with `codegen build --board {board.name}`")
    try:
        run = subprocess.run([executable, *argv[1:]], cwd=build_dir, capture_output=True, text=True,
                             errors="replace", timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{name} did not finish within {TIMEOUT_S:g} s: {' '.join(argv)}") from None
    except OSError as exc:
        raise ToolchainError(f"{name} could not be started ({executable}): {exc.strerror or exc}") from None
    if run.returncode != 0:
        output = f"{run.stdout}\n{run.stderr}"
        message = f"{name} failed (exit status {run.returncode}): {tool_error(output)}"
        if name == "pyocd" and board.pyocd_pack and "not recognized" in output:
            message += f"; install the target once with `pyocd pack install {board.pyocd_pack}`"
        raise DeviceError(message)
    return FlashResult(name, argv, image)


def board_of_build(build_dir: Path) -> Board:
    """The board a build directory was built for, from its report.json."""
    if not build_dir.is_dir():
        raise CodegenError(f"{build_dir} is not a directory: give the --out directory of `codegen build`")
    report = build_dir / "report.json"
    if not report.is_file():
        raise CodegenError(f"{build_dir} is not a codegen build directory (no report.json): "
                           f"run `codegen build --board BOARD --model MODEL --out {build_dir}` first")
    try:
        data = json.loads(report.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodegenError(f"{report} is unreadable ({exc}): rebuild with `codegen build`") from None
    name = data.get("board") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise CodegenError(f"{report} names no board: rebuild with `codegen build`")
    return load_board(name)


def choose_tool(requested: str | None = None) -> tuple[str, str]:
    """(tool name, executable path): `requested` if given, else the first of TOOLS found on PATH."""
    if requested is not None:
        if requested not in INSTALL:
            raise CodegenError(f"unknown flashing tool '{requested}' (choose from {', '.join(TOOLS)})")
        path = shutil.which(requested)
        if path is None:
            raise ToolchainError(f"{requested} not found on PATH: {INSTALL[requested]}")
        return requested, path
    for tool in TOOLS:
        path = shutil.which(tool)
        if path is not None:
            return tool, path
    raise ToolchainError("no flashing tool found on PATH (pyocd, openocd or st-flash): install one with "
                         + " / ".join(INSTALL[t] for t in TOOLS))


def probe_tools(board: Board) -> list[str]:
    """The tools of TOOLS that board.json says can write `board` through a debug probe."""
    entries = {"pyocd": board.pyocd_target, "openocd": board.openocd_config, "st-flash": board.st_flash_address}
    return [tool for tool in TOOLS if entries[tool] is not None]


def not_probe_flashed(board: Board, image: Path | str = "firmware.bin") -> CodegenError:
    """The one-line error for a board no tool of TOOLS can write, with the way its board.json gives instead."""
    how = board.mass_storage or f"see the flashing section of boards/{board.board_layer}/board.json"
    return CodegenError(f"board {board.name} cannot be flashed with pyocd, openocd or st-flash; load {image} by "
                        f"hand: {how}")


def flash_argv(tool: str, board: Board, probe: str | None = None) -> list[str]:
    """The command that writes the firmware of a build directory (its working directory) to `board`."""
    if tool in TOOLS and not probe_tools(board):
        raise not_probe_flashed(board)
    missing = f"board {board.name} has no {{}} in its board.json; choose another --tool"
    if tool == "pyocd":
        if not board.pyocd_target:
            raise CodegenError(missing.format("pyOCD target"))
        return ["pyocd", "flash", "-t", board.pyocd_target, *(["-u", probe] if probe else []), IMAGES[tool]]
    if tool == "openocd":
        if not board.openocd_config:
            raise CodegenError(missing.format("OpenOCD config"))
        serial = ["-c", f"adapter serial {probe}"] if probe else []
        program = f"program {IMAGES[tool]} verify reset exit"
        return ["openocd", "-f", board.openocd_config, *serial, "-c", program]
    if tool == "st-flash":
        if board.st_flash_address is None:
            raise CodegenError(missing.format("st-flash address"))
        serial = ["--serial", probe] if probe else []
        return ["st-flash", *serial, "--reset", "write", IMAGES[tool], f"0x{board.st_flash_address:08x}"]
    raise CodegenError(f"unknown flashing tool '{tool}' (choose from {', '.join(TOOLS)})")


def tool_error(output: str) -> str:
    """The line of a tool's output that says what went wrong: the last one that mentions an error, else the
    last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    errors = [line for line in lines if "error" in line.lower()]
    line = (errors or lines)[-1]
    return line if len(line) <= 300 else line[:297] + "..."
