"""SIGTERM, SIGHUP and SIGKILL sent to real `codegen` processes (eval --emulate, monitor --emulate, run, build)
while QEMU or make runs: the process exits 128 + signal with one line, and nothing survives it: no QEMU, no
make or compiler, no /tmp/codegen-run-* or .OUT.partial-PID folder. (SIGKILL runs no cleanup at all, but QEMU
still dies with its parent.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.tools.link.test_link_abuse import argmax_model, needs_toolchain, tiny_build  # noqa: F401 -- a fixture
from tests.tools.test_monitor import read_until
from tools.link.emulator import guarded

REPO = Path(__file__).resolve().parents[2]


def start_codegen(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tools.cli", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(find: Callable[[], list[int]], seconds: float = 120.0, interval: float = 0.002) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with_children = find()
        if with_children:
            return with_children
        time.sleep(interval)
    raise AssertionError("the expected child process never appeared")


def qemu_children(proc: subprocess.Popen[bytes]) -> Callable[[], list[int]]:
    return lambda: [c for c in children(proc.pid) if b"qemu-system-arm" in cmdline(c)]


def assert_gone(pids: list[int], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if alive(p)]}"
        time.sleep(0.05)


def finish(proc: subprocess.Popen[bytes], signo: int) -> str:
    """Collect a codegen process that got `signo`: exit 128 + signo, one line naming the signal."""
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 128 + signo, text
    assert "Traceback" not in text, text
    assert text.splitlines()[-1] == f"codegen: terminated by {signal.Signals(signo).name}", text
    return text


@pytest.fixture
def many_samples(tmp_path: Path) -> Path:
    path = tmp_path / "many.npz"
    np.savez(path, x=np.zeros((20000, 4), np.int8))
    return path


@pytest.mark.emulator
@needs_toolchain
def test_sigterm_stops_eval_and_its_emulators(tiny_build: Path, many_samples: Path) -> None:  # noqa: F811
    proc = start_codegen("eval", tiny_build, "--emulate", "--jobs", "2", "--data", many_samples)
    try:
        read_until(proc.stderr.fileno(), b"eval: 1/20000 samples", 120)
        qemus = wait_for(qemu_children(proc))
        assert len(qemus) == 2
        proc.send_signal(signal.SIGTERM)
        finish(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(qemus)


@pytest.mark.emulator
@needs_toolchain
def test_sighup_stops_monitor_and_its_emulator(tiny_build: Path) -> None:  # noqa: F811
    proc = start_codegen("monitor", "--emulate", tiny_build)
    try:
        read_until(proc.stderr.fileno(), b"Ctrl-C stops", 120)
        qemus = wait_for(qemu_children(proc))
        proc.send_signal(signal.SIGHUP)
        finish(proc, signal.SIGHUP)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(qemus)


@pytest.mark.emulator
@needs_toolchain
def test_sigkill_of_eval_takes_its_emulator_along(tiny_build: Path, many_samples: Path) -> None:  # noqa: F811
    """No handler runs on SIGKILL: QEMU ends through its parent-death signal."""
    proc = start_codegen("eval", tiny_build, "--emulate", "--data", many_samples)
    try:
        read_until(proc.stderr.fileno(), b"eval: 1/20000 samples", 120)
        qemus = wait_for(qemu_children(proc))
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(qemus)


@pytest.mark.emulator
@needs_toolchain
def test_sigterm_during_run_leaves_no_emulator_and_no_temporary_folder(tmp_path: Path) -> None:
    model, x = tmp_path / "argmax4.tflite", tmp_path / "x.npy"
    model.write_bytes(argmax_model(64 * np.eye(4)))
    np.save(x, np.arange(4, dtype=np.int8).reshape(1, 4))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = start_codegen("run", "--board", "nucleo-f746", "--emulate", "--model", model, "--input", x,
                         env={**os.environ, "TMPDIR": str(tmp)})
    try:
        qemus = wait_for(qemu_children(proc))
        for pid in qemus:  # hold the emulator where it is, so that the signal surely finds it running
            os.kill(pid, signal.SIGSTOP)
        assert [p.name for p in tmp.iterdir()][0].startswith("codegen-run-")
        proc.send_signal(signal.SIGTERM)
        finish(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(qemus)
    assert list(tmp.iterdir()) == []


@pytest.mark.emulator
@needs_toolchain
@pytest.mark.parametrize("phase", ["make", "measuring run"])
def test_termination_during_build_leaves_no_partial_folder(tmp_path: Path, phase: str) -> None:
    model = tmp_path / "argmax4.tflite"
    model.write_bytes(argmax_model(64 * np.eye(4)))
    out = tmp_path / "out" / "fw"
    out.parent.mkdir()  # made here, so the build leaves it (it removes only parents it created itself)
    proc = start_codegen("build", "--board", "nucleo-f746", "--model", model, "--out", out)
    signo = signal.SIGHUP if phase == "make" else signal.SIGTERM
    try:
        if phase == "make":
            makes = wait_for(lambda: [c for c in children(proc.pid) if cmdline(c).startswith(b"make\0")])
            time.sleep(0.3)  # let it start its compilers
            proc.send_signal(signo)
            finish(proc, signo)
            deadline = time.monotonic() + 10
            while group_exists(makes[0]):  # make and every compiler of its process group are gone (reaped)
                assert time.monotonic() < deadline, "make's process group outlived codegen"
                time.sleep(0.05)
        else:
            qemus = wait_for(qemu_children(proc))
            for pid in qemus:
                os.kill(pid, signal.SIGSTOP)
            proc.send_signal(signo)
            finish(proc, signo)
            assert_gone(qemus)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list((tmp_path / "out").iterdir()) == []  # neither fw nor .fw.partial-PID


def test_guarded_command_dies_at_its_cpu_limit() -> None:
    """The kernel enforces the emulator's limit even if codegen hangs: here a busy loop gets 1 s of CPU."""
    started = time.monotonic()
    proc = subprocess.Popen(guarded(["sh", "-c", "while :; do :; done"], cpu_seconds=1), process_group=0)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    assert time.monotonic() - started < 30
