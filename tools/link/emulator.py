"""Run firmware in QEMU (the emulated twin of a board) and talk to it through a DeviceLink.

    with Emulator(Path("build/firmware.elf")) as emu:
        info = emu.link.hello()

QEMU waits (wait=on) until the link connects to its TCP serial port, so no byte is lost; it runs with
-icount shift=0, so timings in SysTick ticks are deterministic. QEMU is always killed on exit, on
exceptions, and after `wall_limit` seconds at the latest. It never outlives this process: it runs in a process
group of its own (a terminal's Ctrl-C reaches only us, and we stop it), with the kernel's parent-death signal
(SIGKILL when the thread that started it ends, even if we are SIGKILLed: so start emulators from a thread that
lives as long as they do) and, with a wall limit, a CPU-time limit the kernel enforces too.

A firmware file that is no ARM ELF executable is refused before QEMU starts; when QEMU ends during a
session (a firmware that locks the core up, a kill), the link's error carries QEMU's own message.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import serial

from codegen.errors import CodegenError, DeviceError, ToolchainError
from tools.link.device_link import DeviceLink

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


# Runs between fork and QEMU's exec, in a Python of its own (no preexec_fn: that is unsafe with threads):
# SIGKILL when the parent thread ends, unless it already has; a CPU-time limit when asked (the kernel sends
# SIGKILL at the hard limit even if QEMU ignores SIGXCPU); then exec QEMU, which keeps both.
_GUARD = """
import ctypes, os, resource, signal, sys
parent, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
if ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_PDEATHSIG) failed")
if os.getppid() != parent:
    os._exit(1)
if cpu_seconds > 0:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 2))
os.execvp(sys.argv[3], sys.argv[3:])
"""


def guarded(command: list[str], cpu_seconds: int = 0) -> list[str]:
    """`command` run so that it dies with this process (Linux parent-death signal) and, if `cpu_seconds` > 0,
    after that much CPU time; start it with process_group=0 to keep terminal signals away from it."""
    return [sys.executable, "-I", "-S", "-c", _GUARD, str(os.getpid()), str(cpu_seconds), *command]


_ELF_HEADER = struct.Struct("<4sBBBBB7sHHIIIIIHHHHHH")
EM_ARM, ET_EXEC, PT_LOAD = 40, 2, 1


def check_firmware(elf: Path) -> None:
    """Raise CodegenError (naming the file and what is wrong) unless `elf` is a complete 32-bit little-endian
    ARM ELF executable with something to load: QEMU would "run" anything else as raw bytes (a lockup, or
    garbage executing at full speed)."""
    rebuild = "rebuild it with `codegen build`"
    if not elf.is_file():
        raise CodegenError(f"firmware {elf} is missing: {rebuild}")
    data = elf.read_bytes()
    if not data:
        raise CodegenError(f"firmware {elf} is empty (0 bytes): {rebuild}")
    if len(data) < _ELF_HEADER.size or data[:4] != b"\x7fELF":
        raise CodegenError(f"firmware {elf} is not an ELF file ({len(data):,} bytes, no ELF header): {rebuild}")
    fields = _ELF_HEADER.unpack_from(data)
    elf_class, encoding, e_type, machine, phoff, phentsize, phnum = (fields[1], fields[2], fields[7], fields[8],
                                                                       fields[11], fields[15], fields[16])
    if (elf_class, encoding, machine, e_type) != (1, 1, EM_ARM, ET_EXEC):
        raise CodegenError(f"firmware {elf} is not a 32-bit little-endian ARM executable (class {elf_class}, "
                           f"encoding {encoding}, machine {machine}, type {e_type}): {rebuild}")
    if phnum == 0 or phentsize < 32 or phoff + phnum * phentsize > len(data):
        raise CodegenError(f"firmware {elf} is truncated ({len(data):,} bytes; its program headers end at "
                           f"{phoff + phnum * phentsize:,}): {rebuild}")
    for k in range(phnum):
        p_type, offset, _, _, filesz = struct.unpack_from("<IIIII", data, phoff + k * phentsize)
        if p_type == PT_LOAD and offset + filesz > len(data):
            raise CodegenError(f"firmware {elf} is truncated ({len(data):,} bytes; segment {k} ends at "
                               f"{offset + filesz:,}): {rebuild}")


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
    ):
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
        self._expired = False  # the watchdog stopped QEMU at its wall limit

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
        qemu_binary()  # a missing QEMU first: ToolchainError with the command that installs it
        check_firmware(self.elf)
        cpu_seconds = 0 if self.wall_limit is None else int(self.wall_limit) + 5
        for _ in range(3):  # the free port may be taken by someone else before QEMU binds it
            port = free_tcp_port()
            self._log.seek(0)
            self._log.truncate()
            self.process = subprocess.Popen(
                guarded(qemu_command(self.elf, port, self.machine), cpu_seconds),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
            self.url = f"socket://127.0.0.1:{port}"
            port_obj = self._connect()
            if port_obj is not None:
                if self.wall_limit is not None:
                    self._watchdog = threading.Timer(self.wall_limit, self._expire)
                    self._watchdog.daemon = True
                    self._watchdog.start()
                self._link = DeviceLink(port_obj, name=f"QEMU {self.machine}", peer_ended=self.ended,
                                        **self.link_options)  # type: ignore[arg-type]
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

    def qemu_message(self) -> str:
        """QEMU's own complaint (e.g. `qemu: fatal: Lockup: ...`): its first message line besides the notice
        that it waits for the serial connection; else its last line."""
        self._log.flush()
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().decode(errors="replace").splitlines() if line.strip()]
        for line in lines:
            if line.startswith("qemu") and "waiting for connection" not in line:
                return line
        return lines[-1] if lines else "(no output)"

    def ended(self, wait: float = 0.0) -> str | None:
        """Why QEMU is no longer running, with its own message; None while it runs (after waiting `wait` s for
        it to end: a lost connection comes just before the exit status)."""
        if self.process is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=wait)
        code = self.process.poll()
        if code is None:
            return None
        if self._expired:
            return f"QEMU {self.machine} was stopped at its wall-clock limit of {self.wall_limit:g} s"
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        return f"QEMU {self.machine} {how}: {self.qemu_message()}"

    def log_text(self) -> str:
        """QEMU's own output so far (its messages, never the firmware's serial data), on one line."""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return " ".join(text.split())[-500:] or "(no output)"

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def _expire(self) -> None:
        self._expired = True
        self._kill()

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
