"""`codegen monitor`: copies what the board sends to stdout byte for byte; ends cleanly on Ctrl-C and when the
port goes away; refuses a port it cannot open. Run as a real process against a pty peer, and on the emulator."""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from tools.monitor import Console

REPO = Path(__file__).resolve().parents[2]


def start_monitor(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tools.cli", "monitor", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_until(fd: int, wanted: bytes, seconds: float = 30.0) -> bytes:
    """Read from a pipe until `wanted` appeared (or fail after `seconds`)."""
    data = b""
    deadline = time.monotonic() + seconds
    while wanted not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"did not see {wanted!r}; got {data!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"pipe closed before {wanted!r}; got {data!r}"
            data += chunk
    return data


def test_pty_text_is_printed_as_it_comes_then_a_closed_port_ends_cleanly() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    proc = start_monitor("--port", path)
    try:
        started = read_until(proc.stderr.fileno(), b"Ctrl-C stops")  # the port is open (and raw) from here on
        os.write(master, b"boot ok\r\n")
        assert read_until(proc.stdout.fileno(), b"boot ok\r\n") == b"boot ok\r\n"  # no buffering until exit
        os.write(master, b"score: 113\n\xffraw bytes, no newline")
        time.sleep(0.3)
        os.close(master)  # the board goes away
        os.close(slave)
        out, rest = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = started + rest
    assert proc.returncode == 0
    assert out == b"score: 113\n\xffraw bytes, no newline"  # byte for byte, nothing added
    lines = err.decode().splitlines()
    assert lines[0] == f"codegen: monitoring {path} at 115200 baud; Ctrl-C stops"
    assert lines[-1].startswith(f"codegen: monitor: {path} closed (")
    assert lines[-2] == ""  # the board's unfinished line was ended before the message
    assert "Traceback" not in err.decode()


def test_ctrl_c_stops_the_monitor_cleanly() -> None:
    master, slave = os.openpty()
    proc = start_monitor("--port", os.ttyname(slave), "--baud", "9600")
    try:
        read_until(proc.stderr.fileno(), b"at 9600 baud; Ctrl-C stops")
        os.write(master, b"tick\n")
        read_until(proc.stdout.fileno(), b"tick\n")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0
    assert err.decode().splitlines()[-1] == "codegen: monitor: stopped (Ctrl-C)"
    assert "Traceback" not in err.decode()


def test_unopenable_port_is_a_one_line_device_error() -> None:
    proc = start_monitor("--port", "/dev/does-not-exist")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 5
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("codegen: cannot open /dev/does-not-exist")


class _ScriptedPort:
    """Reads return the scripted chunks, then raise as a port that was unplugged."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = list(chunks)
        self.timeout: float | None = None

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, n: int) -> bytes:
        if not self.chunks:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.chunks.pop(0)


def test_console_copies_every_byte_and_tracks_line_ends(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.BytesIO()
    console = Console(_ScriptedPort([b"a", b"", b"bc\n"]), out, "fake")  # type: ignore[arg-type]
    why = console.run(stop_after=5)
    assert out.getvalue() == b"abc\n" and console.at_line_start
    assert why == "fake closed (device reports readiness to read but returned no data)"
    console.finish(why)
    assert capsys.readouterr().err == f"codegen: monitor: {why}\n"
    console = Console(_ScriptedPort([b"x"] * 3), io.BytesIO(), "fake")  # type: ignore[arg-type]
    console.run(stop_after=5)
    assert not console.at_line_start


@pytest.mark.emulator
def test_monitor_on_the_emulated_board(tmp_path: Path) -> None:
    """The emulated firmware boots under the monitor (it prints no text of its own) and Ctrl-C ends both.
    The build directory holds what monitor reads: report.json (the board) and the emulated firmware (the
    protocol stub of tests/firmware/runtime/test_firmware_stub.py, cheap to build and independent of the kernels)."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    from tests.firmware.runtime.test_firmware_stub import build_stub_firmware

    build_dir = tmp_path / "b"
    elf = build_stub_firmware(tmp_path / "stub")
    (build_dir / "emulated").mkdir(parents=True)
    shutil.copy(elf, build_dir / "emulated" / "firmware.elf")
    (build_dir / "report.json").write_text(json.dumps({"model": "stub", "board": "nucleo-f746"}))
    proc = start_monitor("--emulate", str(build_dir))
    try:
        err = read_until(proc.stderr.fileno(), b"Ctrl-C stops")
        assert b"codegen: monitoring QEMU mps2-an500 running" in err
        qemu_pids = _children_named(proc.pid, "qemu-system-arm")
        assert len(qemu_pids) == 1
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and out == b""
    assert rest.decode().splitlines()[-1] == "codegen: monitor: stopped (Ctrl-C)"
    assert not Path(f"/proc/{qemu_pids[0]}").exists() or _is_zombie(qemu_pids[0])  # QEMU was stopped too

    (build_dir / "emulated" / "firmware.elf").unlink()
    proc = start_monitor("--emulate", str(build_dir))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and err.decode().startswith("codegen: ") and b"firmware.elf is missing" in err


def _children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm.startswith(name[:15]):
            found.append(int(entry.name))
    return found


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"
