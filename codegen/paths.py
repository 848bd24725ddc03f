"""Where the project's C sources live, relative to this package (an editable install keeps them beside it)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / "mcu_runtime"
RUNTIME_INCLUDE = RUNTIME_DIR / "include"
RUNTIME_SRC = RUNTIME_DIR / "src"
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
HOST_BUILD_DIR = REPO_ROOT / "build" / "host"
