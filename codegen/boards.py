"""The board catalogue: one declarative boards/<name>/board.json per board a user can build for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codegen.errors import CodegenError
from codegen.paths import BOARDS_DIR


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    size: int


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str
    flash: MemoryRegion
    sram: MemoryRegion
    stack_bytes: int
    board_layer: str  # boards/<layer>/ holds the real board's startup details, UART driver, linker script
    emulator_layer: str | None  # the board layer of its QEMU twin, if it has one
    qemu_machine: str | None
    tick_unit: str
    emulator_tick_unit: str | None

    def summary(self) -> str:
        twin = f", emulated on QEMU {self.qemu_machine}" if self.qemu_machine else ""
        return (f"{self.name:14s} {self.description}: {self.core}, {self.flash.size // 1024} KB flash, "
                f"{self.sram.size // 1024} KB SRAM{twin}")


def _region(d: dict) -> MemoryRegion:
    return MemoryRegion(int(str(d["origin"]), 0), int(d["size"]))


def load_board(name: str) -> Board:
    path = BOARDS_DIR / name / "board.json"
    if not path.is_file() or "twin_of" in _read(path):
        known = ", ".join(b.name for b in list_boards())
        raise CodegenError(f"unknown board '{name}' (supported: {known})")
    return _board(_read(path))


def list_boards() -> list[Board]:
    boards = []
    for path in sorted(BOARDS_DIR.glob("*/board.json")):
        data = _read(path)
        if "twin_of" not in data:  # emulated twins are layers of a real board, not boards of their own
            boards.append(_board(data))
    return boards


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _board(d: dict) -> Board:
    emu = d.get("emulator") or {}
    return Board(
        name=d["name"],
        description=d.get("description", ""),
        core=d["core"],
        flash=_region(d["memory"]["flash"]),
        sram=_region(d["memory"]["sram"]),
        stack_bytes=int(d.get("stack_bytes", 16384)),
        board_layer=d.get("board_layer", d["name"]),
        emulator_layer=emu.get("board_layer"),
        qemu_machine=emu.get("qemu_machine"),
        tick_unit=d.get("timer", {}).get("tick_unit", "cycles"),
        emulator_tick_unit=emu.get("tick_unit"),
    )
