"""Assemble a self-contained firmware source tree (see firmware/Makefile) and build it with make."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from codegen.errors import RegionOverflow, ToolchainError
from codegen.paths import BOARDS_DIR, FIRMWARE_DIR, runtime_groups

_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
INSTALL_HINT = "run scripts/setup.sh, or: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi make"


def require_toolchain() -> None:
    for tool in ("arm-none-eabi-gcc", "make"):
        if shutil.which(tool) is None:
            raise ToolchainError(f"{tool} not found: {INSTALL_HINT}")


def write_tree(root: Path, model_files: dict[str, str], board_layer: str, shared_from: Path | None = None) -> None:
    """Lay out OUT/{Makefile,model,mcu_runtime,firmware,board}.

    With `shared_from`, model/, mcu_runtime/ and firmware/ are relative symlinks into that tree, so a second
    board layer (the emulated twin) builds the very same sources without copying the weights again.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(FIRMWARE_DIR / "Makefile", root / "Makefile")
    if shared_from is None:
        (root / "model").mkdir()
        for name, text in model_files.items():
            (root / "model" / name).write_text(text)
        for group in runtime_groups():
            shutil.copytree(group, root / "mcu_runtime" / group.name, ignore=shutil.ignore_patterns("*.md"))
        shutil.copytree(FIRMWARE_DIR, root / "firmware", ignore=shutil.ignore_patterns("Makefile", "*.md"))
    else:
        for name in ("model", "mcu_runtime", "firmware"):
            os.symlink(os.path.relpath(shared_from / name, root), root / name)
    board = root / "board"
    board.mkdir()
    for layer in ("common", board_layer):
        for path in sorted((BOARDS_DIR / layer).iterdir()):
            if path.is_file() and path.name != "board.json":
                shutil.copy2(path, board / path.name)


def make(root: Path, stack_bytes: int, what: str, profile: bool = False) -> None:
    """Run make in `root`; turn a region overflow into a BudgetError (RegionOverflow) that says by how much.
    With `profile` the firmware records the timer after every kernel call (make PROFILE=1)."""
    require_toolchain()
    jobs = str(os.cpu_count() or 2)
    command = ["make", "-s", "-j", jobs, f"STACK_SIZE={stack_bytes}"] + (["PROFILE=1"] if profile else [])
    result = _run_as_group(command, root)
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    overflows = _OVERFLOW.findall(output)
    if overflows:
        parts = [f"{region} by {int(n):,} bytes" for region, n in overflows]
        raise RegionOverflow(f"{what} does not fit: {', '.join(parts)} (the linker's region check)",
                             {region: int(n) for region, n in overflows})
    tail = "\n".join(output.strip().splitlines()[-15:])
    raise ToolchainError(f"building {what} failed:\n{tail}")


def _run_as_group(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `command` in a process group of its own and, if we are interrupted or terminated meanwhile, kill the
    whole group (make and every compiler it started) before the caller removes the folder they write into."""
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          process_group=0) as process:
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
