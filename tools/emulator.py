"""Run firmware in QEMU (the emulated twin of a board) and talk to it through a DeviceLink.

    with Emulator(Path("build/firmware.elf")) as emu:
        info = emu.link.hello()

QEMU waits (wait=on) until the link connects to its TCP serial port, so no byte is lost; it runs with
-icount shift=0, so timings in SysTick ticks are deterministic. QEMU is always killed on exit, on
exceptions, and after `wall_limit` seconds at the latest.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import serial

from codegen.errors import DeviceError, ToolchainError
from tools.device_link import DeviceLink

QEMU = "qemu-system-arm"
INSTALL_HINT = "install it with `apt-get install qemu-system-arm`"


def qemu_binary() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise ToolchainError(f"{QEMU} not found on PATH: {INSTALL_HINT}")
    return path


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent_hook() -> Callable[[], None]:
    """A preexec_fn for Popen: in the forked child, before exec, ask the kernel to SIGKILL it when its parent
    dies (Linux prctl PR_SET_PDEATHSIG), and give up if the parent is already gone. prctl is looked up here,
    in the parent: the child only calls it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError) as exc:
        raise ToolchainError(f"cannot tie QEMU's lifetime to this process (prctl unavailable: {exc})") from None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent:
            os._exit(1)

    return hook


def qemu_command(elf: Path, port: int, machine: str = "mps2-an500") -> list[str]:
    return [
        qemu_binary(),
        "-M", machine,
        "-nographic",
        "-monitor", "none",
        "-kernel", str(elf),
        "-icount", "shift=0",
        "-semihosting-config", "enable=on,target=native",  # firmware halts (faults) end QEMU
        "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
    ]  # fmt: skip


class Emulator:
    """Context manager: QEMU running `elf`, with `url` (pyserial URL) and `link` (an open DeviceLink)."""

    def __init__(
        self,
        elf: Path,
        *,
        machine: str = "mps2-an500",
        connect_timeout: float = 10.0,
        wall_limit: float | None = 600.0,
        link_options: dict[str, float | int] | None = None,
        die_with_parent: bool = False,
    ):
        """`die_with_parent`: QEMU is killed by the kernel when the process (strictly: the thread) that started
        it dies, even by SIGKILL (Linux); for hosts that may be killed, such as Ray actors."""
        self.elf = Path(elf)
        self.machine = machine
        self.connect_timeout = connect_timeout
        self.wall_limit = wall_limit
        self.link_options = link_options or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._link: DeviceLink | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the emulator; stop() closes it
        self._watchdog: threading.Timer | None = None
        self.die_with_parent = die_with_parent

    @property
    def link(self) -> DeviceLink:
        if self._link is None:
            raise DeviceError("the emulator is not running")
        return self._link

    def __enter__(self) -> Emulator:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if not self.elf.is_file():
            raise ToolchainError(f"firmware {self.elf} does not exist: build it first")
        preexec = _die_with_parent_hook() if self.die_with_parent else None
        for _ in range(3):  # the free port may be taken by someone else before QEMU binds it
            port = free_tcp_port()
            self._log.seek(0)
            self._log.truncate()
            self.process = subprocess.Popen(
                qemu_command(self.elf, port, self.machine),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,  # only prctl and getppid run between fork and exec
            )
            self.url = f"socket://127.0.0.1:{port}"
            port_obj = self._connect()
            if port_obj is not None:
                if self.wall_limit is not None:
                    self._watchdog = threading.Timer(self.wall_limit, self._kill)
                    self._watchdog.daemon = True
                    self._watchdog.start()
                self._link = DeviceLink(port_obj, name=f"QEMU {self.machine}", **self.link_options)  # type: ignore[arg-type]
                return
            self._kill()
        raise ToolchainError(f"{QEMU} could not listen on a free TCP port: {self.log_text()}")

    def _connect(self) -> serial.SerialBase | None:
        """Connect to QEMU's serial port; None if QEMU could not bind the port (try another)."""
        deadline = time.monotonic() + self.connect_timeout
        assert self.process is not None
        while True:
            code = self.process.poll()
            if code is not None:
                text = self.log_text()
                if "Address already in use" in text:
                    return None
                raise ToolchainError(f"{QEMU} exited with status {code}: {text}")
            try:
                return serial.serial_for_url(self.url, timeout=0.05)
            except (serial.SerialException, OSError):
                if time.monotonic() > deadline:
                    raise ToolchainError(
                        f"{QEMU} did not open its serial port {self.url} within {self.connect_timeout:g} s"
                    ) from None
                time.sleep(0.02)

    def log_text(self) -> str:
        """QEMU's own output so far (its messages, never the firmware's serial data), on one line."""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return " ".join(text.split())[-500:] or "(no output)"

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def stop(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._kill()
        self._log.close()


_RAM_LINE = re.compile(r"([0-9a-f]{16})-([0-9a-f]{16}) \(prio -?\d+, ram\): (.*)")


def machine_ram_regions(machine: str = "mps2-an500") -> list[tuple[int, int, str]]:
    """(first address, last address, name) of every RAM region QEMU maps on `machine` (`info mtree -f`)."""
    cmd = [qemu_binary(), "-M", machine, "-nographic", "-S", "-serial", "null", "-monitor", "stdio"]
    try:
        run = subprocess.run(cmd, input=b"info mtree -f\nquit\n", capture_output=True, timeout=20)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"{QEMU} -M {machine} did not answer `info mtree`") from exc
    regions = []
    for line in run.stdout.decode(errors="replace").splitlines():
        match = _RAM_LINE.search(line)
        if match:
            regions.append((int(match[1], 16), int(match[2], 16), match[3].strip()))
    if not regions:
        raise ToolchainError(f"{QEMU} -M {machine}: no RAM regions in `info mtree`: {run.stderr.decode()[-300:]}")
    return regions


def check_machine_memory(machine: str, origin: int, size: int) -> None:
    """Raise ToolchainError unless one RAM region of the QEMU machine covers [origin, origin + size)."""
    regions = machine_ram_regions(machine)
    for first, last, _ in regions:
        if first <= origin and origin + size - 1 <= last:
            return
    found = ", ".join(f"{name} {first:#x}..{last:#x}" for first, last, name in regions)
    raise ToolchainError(f"{QEMU} -M {machine} has no RAM covering {size} bytes at {origin:#x} (RAM: {found})")
