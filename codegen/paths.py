"""Where the project's C sources live, relative to this package (an editable install keeps them beside it).

The C runtime is one folder per kernel group, `mcu_runtime/<group>/name.c` with `name.h` beside it (shared
header-only modules in `mcu_runtime/common/`). C code includes headers by bare name, so every build adds one
`-I` per group folder; the helpers below are the only place that knows the layout.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / "mcu_runtime"
RUNTIME_COMMON = RUNTIME_DIR / "common"
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
HOST_BUILD_DIR = REPO_ROOT / "build" / "host"


def runtime_groups(runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """The runtime's group folders (activation, conv, common, ...), sorted."""
    return sorted(path for path in runtime_dir.iterdir() if path.is_dir() and not path.name.startswith("."))


def runtime_include_dirs(runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """Every folder a runtime header may live in: one `-I` each."""
    return runtime_groups(runtime_dir)


def runtime_include_flags(runtime_dir: Path = RUNTIME_DIR) -> list[str]:
    """`-I dir` for every runtime folder, ready for a compiler command line."""
    return [flag for path in runtime_include_dirs(runtime_dir) for flag in ("-I", str(path))]


def runtime_sources(runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """Every runtime C file (`mcu_runtime/*/*.c`, the same pattern as firmware/Makefile), sorted."""
    return sorted(runtime_dir.glob("*/*.c"))


def runtime_headers(runtime_dir: Path = RUNTIME_DIR) -> list[Path]:
    """Every runtime header (`mcu_runtime/*/*.h`), sorted."""
    return sorted(runtime_dir.glob("*/*.h"))


def runtime_source(name: str, runtime_dir: Path = RUNTIME_DIR) -> Path:
    """The runtime file called `name` (e.g. "pad_s8.c" or "fixedpoint_s32.h"), whatever group holds it."""
    matches = sorted(runtime_dir.glob(f"*/{name}"))
    if len(matches) != 1:
        raise FileNotFoundError(f"{len(matches)} runtime files named {name!r} under {runtime_dir}/*/ (expected one)")
    return matches[0]
