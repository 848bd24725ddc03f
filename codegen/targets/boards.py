"""The board catalogue: one declarative boards/<name>/board.json per board a user can build for.

A real board's board.json names its board layer (boards/<layer>/: board.c, board.ld, board.mk) and, under
"emulator", the layer of its QEMU twin. Twin layers have a board.json of their own with "twin_of"; they are
layers, not boards, so `codegen boards` does not list them. A board that is itself the machine QEMU emulates
(mps2plus-an500, the MPS2+ FPGA board with the AN500 image) names its own layer there: the emulator runs the
image the board loads.
"""

from __future__ import annotations

import json
import re
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
    sram: MemoryRegion  # holds .data and .bss (the arena); also the stack unless stack_region is set
    stack_bytes: int
    board_layer: str  # boards/<layer>/ holds the real board's startup details, UART driver, linker script
    emulator_layer: str | None  # the board layer of its QEMU twin, if it has one
    qemu_machine: str | None
    tick_unit: str
    emulator_tick_unit: str | None
    mcu: str = ""
    fpu: str = ""
    float_abi: str = ""
    clock_hz: int = 0
    stack_region: MemoryRegion | None = None  # a separate memory for the stack (the STM32H7's DTCM)
    console: str = ""  # e.g. "USART3 PD8/PD9 115200 8N1"
    pyocd_target: str | None = None
    pyocd_pack: str | None = None  # `pyocd pack install <pack>` adds a target pyOCD does not know built in
    openocd_config: str | None = None  # e.g. "board/st_nucleo_f7.cfg"
    st_flash_address: int | None = None
    mass_storage: str | None = None  # how to load an image by copying files to the board's USB drive
    platformio_board: str | None = None

    @property
    def cpu_flags(self) -> str:
        """The compiler's CPU options; board.mk's CPU_FLAGS must say the same (a test checks it)."""
        flags = f"-mcpu={self.core} -mthumb"
        if self.fpu:
            flags += f" -mfpu={self.fpu}"
        return flags + f" -mfloat-abi={self.float_abi or 'soft'}"

    def summary(self) -> str:
        twin = f", emulated on QEMU {self.qemu_machine}" if self.qemu_machine else ""
        clock = f" @ {self.clock_hz // 1_000_000} MHz" if self.clock_hz else ""
        mcu = f"{self.mcu}, " if self.mcu else ""
        stack = f" + {self.stack_region.size // 1024} KB DTCM stack" if self.stack_region else ""
        return (f"{self.name:14s} {self.description}: {mcu}{self.core}{clock}, "
                f"{self.flash.size // 1024} KB flash, {self.sram.size // 1024} KB SRAM{stack}{twin}")


def _region(d: dict) -> MemoryRegion:
    return MemoryRegion(int(str(d["origin"]), 0), int(d["size"]))


def load_board(name: str) -> Board:
    """A board of the catalogue, by name only: a path (even one to a board folder) is not a board name."""
    if name not in board_names():
        raise CodegenError(f"unknown board '{name}' (supported: {', '.join(board_names())}; see `codegen boards`)")
    return _board(_read(BOARDS_DIR / name / "board.json"))


def board_names() -> list[str]:
    """The catalogue: the folders of boards/ whose board.json describes a board (not an emulated twin's layer)."""
    return [path.parent.name for path in sorted(BOARDS_DIR.glob("*/board.json")) if "twin_of" not in _read(path)]


def list_boards() -> list[Board]:
    boards = []
    for path in sorted(BOARDS_DIR.glob("*/board.json")):
        data = _read(path)
        if "twin_of" not in data:  # emulated twins are layers of a real board, not boards of their own
            boards.append(_board(data))
    return boards


def layer_sources(layer: str) -> list[str]:
    """The C files a board layer compiles (BOARD_SRCS of its board.mk, paths relative to a build tree)."""
    text = (BOARDS_DIR / layer / "board.mk").read_text()
    match = re.search(r"^BOARD_SRCS\s*:?=\s*(.*)$", text, re.MULTILINE)
    if match is None:
        raise CodegenError(f"boards/{layer}/board.mk has no BOARD_SRCS line")
    return match[1].split()


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _console(d: dict) -> str:
    c = d.get("console") or {}
    pins = f" {c['tx_pin']}/{c['rx_pin']}" if "tx_pin" in c else ""
    return f"{c.get('uart', '?')}{pins} {c.get('baud', 115200)} {c.get('format', '8N1')}" if c else ""


def _board(d: dict) -> Board:
    emu = d.get("emulator") or {}
    flashing = d.get("flashing") or {}
    pyocd = flashing.get("pyocd") or {}
    st_flash = flashing.get("st-flash") or {}
    stack = d["memory"].get("stack")
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
        mcu=d.get("mcu", ""),
        fpu=d.get("fpu", ""),
        float_abi=d.get("float_abi", ""),
        clock_hz=int(d.get("clock_hz", 0)),
        stack_region=_region(stack) if stack else None,
        console=_console(d),
        pyocd_target=pyocd.get("target"),
        pyocd_pack=pyocd.get("pack"),
        openocd_config=(flashing.get("openocd") or {}).get("config"),
        st_flash_address=int(str(st_flash["address"]), 0) if "address" in st_flash else None,
        mass_storage=flashing.get("mass_storage"),
        platformio_board=(d.get("platformio") or {}).get("board"),
    )
