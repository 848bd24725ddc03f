"""`codegen monitor`: a plain serial console that copies what the board sends to stdout, byte for byte, until
Ctrl-C or until the port goes away (board unplugged, emulator ended).

The project's firmware speaks the binary protocol of firmware/PROTOCOL.md and prints no text of its own;
the monitor is for firmware that does (your own application, a debug build), on a board or in QEMU.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import serial

from codegen.errors import DeviceError


def add_monitor_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("monitor", help="print what the board sends on its serial port, until Ctrl-C")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port (e.g. /dev/ttyACM0, or a pyserial URL such as socket://host:port)")
    target.add_argument("--emulate", type=Path, metavar="BUILD_DIR",
                        help="boot BUILD_DIR/emulated/firmware.elf in QEMU and show its console")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    return p


@dataclass
class Console:
    """Copies bytes from a port to `out` as they arrive; remembers whether the last one ended a line."""

    port: serial.SerialBase
    out: BinaryIO
    name: str
    at_line_start: bool = True

    def run(self, stop_after: float | None = None) -> str:
        """Returns why it stopped: the port closed, or `stop_after` seconds (for tests) passed. Ctrl-C
        propagates as KeyboardInterrupt."""
        deadline = None if stop_after is None else time.monotonic() + stop_after
        self.port.timeout = 0.1  # wake up regularly, so that Ctrl-C and the deadline are noticed
        while deadline is None or time.monotonic() < deadline:
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                return f"{self.name} closed ({_reason(exc)})"
            if data:
                self.out.write(data)
                self.out.flush()
                self.at_line_start = data.endswith(b"\n")
        return "time limit reached"

    def finish(self, why: str) -> None:
        # The board's last line may lack its newline: end it, so that our message starts a line of its own.
        print(("" if self.at_line_start else "\n") + f"codegen: monitor: {why}", file=sys.stderr)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def monitor_command(args: argparse.Namespace, out: BinaryIO | None = None, stop_after: float | None = None) -> int:
    """Exit 0 on Ctrl-C and when the port closes (one line on stderr says which); 5 if it cannot be opened."""
    sink = out if out is not None else sys.stdout.buffer
    if args.emulate is not None:
        return _monitor_emulator(args.emulate, sink, stop_after)
    try:
        port = serial.serial_for_url(args.port, baudrate=args.baud, timeout=0.1)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot open {args.port}: {_reason(exc)}") from None
    print(f"codegen: monitoring {args.port} at {args.baud} baud; Ctrl-C stops", file=sys.stderr)
    console = Console(port, sink, args.port)
    try:
        why = console.run(stop_after)
    except KeyboardInterrupt:
        why = "stopped (Ctrl-C)"
    finally:
        port.close()
    console.finish(why)
    return 0


def _monitor_emulator(build_dir: Path, sink: BinaryIO, stop_after: float | None) -> int:
    from tools.evaluate import emulated_firmware, read_build_report
    from tools.link.emulator import Emulator

    elf, machine = emulated_firmware(build_dir, read_build_report(build_dir))
    with Emulator(elf, machine=machine, wall_limit=None) as emu:
        print(f"codegen: monitoring QEMU {machine} running {elf}; Ctrl-C stops", file=sys.stderr)
        console = Console(emu.link.port, sink, f"QEMU {machine}")
        try:
            why = console.run(stop_after)
        except KeyboardInterrupt:
            why = "stopped (Ctrl-C)"
        if why.startswith(f"{console.name} closed"):  # QEMU ended: say how, in its own words
            why = emu.ended(1.0) or why
    console.finish(why)
    return 0
