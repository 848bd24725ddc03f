"""The host side under abuse (issue 18): a device that breaks the protocol's rules (a real socket peer), the
real firmware in QEMU given requests it must refuse, and broken build folders, each through the real
`codegen` command where the user would meet it: one line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import DeviceError
from scripts.fuzz_link import Peer, PeerClosed, PeerModel, fuzz
from tests.firmware.runtime.test_firmware_stub import build_stub_firmware
from tests.tools.test_eval import argmax_model
from tools.link import protocol as proto
from tools.link.device_link import DeviceLink, model_hash
from tools.link.emulator import Emulator
from tools.link.protocol import MsgType

REPO = Path(__file__).resolve().parents[3]

needs_toolchain = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


def run_codegen(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    """The one `codegen:` line of a failed run; checks the exit code, the phrases and that nothing else leaked."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("codegen: ")]
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# ---- the real firmware refuses a HELLO, INVOKE or RESET with more than a model index (PROTOCOL.md) -----------


@pytest.fixture(scope="module")
def stub_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    return build_stub_firmware(tmp_path_factory.mktemp("fw") / "mps2")


@pytest.mark.emulator
def test_firmware_refuses_a_payload_other_than_a_model_index(stub_elf: Path) -> None:
    with Emulator(stub_elf, link_options={"timeout": 3.0}) as emu:
        link = emu.link
        for msg_type, what in ((MsgType.HELLO, "HELLO"), (MsgType.INVOKE, "INVOKE"), (MsgType.RESET, "RESET")):
            with pytest.raises(DeviceError, match=f"refused {what} .*: BAD_PAYLOAD: {what} takes a model index "
                                                  "or nothing"):
                link.request(msg_type, b"\x00\x00")
            with pytest.raises(DeviceError, match=f"refused {what} .*: BAD_INDEX: no such model"):
                link.request(msg_type, b"\x01")  # the stub firmware carries one model
        assert link.request(MsgType.HELLO, b"\x00").type == MsgType.INFO  # model 0 named explicitly
        assert link.hello().model_name == "stub"  # a HELLO without payload is still answered
        assert (link.info.model_index, link.info.model_count) == (0, 1)
        link.reset_state()  # a model without variable tensors: RESET is acknowledged and does nothing
        with pytest.raises(DeviceError, match="refused HELLO .*: BAD_INDEX: no such model"):
            link.hello(model_index=3)


# ---- a misbehaving device on a real socket, driven by a real `codegen eval --port` process ------------------


class IdentityModel(PeerModel):
    """The argmax4 test model's function: output = input."""

    def compute(self, inputs: list[bytes]) -> list[bytes]:
        return list(inputs)


@pytest.fixture(scope="module")
def port_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `eval --port` reads of a build (report.json and model.tflite): no toolchain needed."""
    out = tmp_path_factory.mktemp("port_build")
    model = argmax_model(64 * np.eye(4))
    (out / "model.tflite").write_bytes(model)
    report = {"model": "argmax4", "model_hash": model_hash(model).hex(), "board": "nucleo-f746",
              "emulator": "mps2-an500", "instructions_per_inference": 160}
    (out / "report.json").write_text(json.dumps(report))
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "d.npz"
    np.savez(path, x=np.arange(-12, 12, dtype=np.int8).reshape(6, 4))
    return path


@contextlib.contextmanager
def socket_peer(model: PeerModel, info_override: Callable[[bytes], bytes] | None = None,
                drop: Callable[[bytes], bool] = lambda frame: False,
                rewrite: Callable[[bytes], bytes] = lambda frame: frame) -> Iterator[str]:
    """A device on a TCP port speaking the protocol (scripts.fuzz_link.Peer), whose INFO payload can be
    rewritten and whose frames can be dropped or rewritten; yields its pyserial URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:

                def send(frame: bytes) -> None:
                    if not drop(frame):
                        conn.sendall(rewrite(frame))

                with contextlib.suppress(PeerClosed, OSError):
                    Peer(conn, model, send, info_override=info_override).serve()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(5)


def lying_info(model: PeerModel, **fields: object) -> Callable[[bytes], bytes]:
    return lambda payload: proto.encode_info(replace(model.info(), **fields))


def test_eval_against_an_honest_socket_peer_succeeds(port_build: Path, dataset: Path) -> None:
    """The control case: the same peer without lies gives a bit-exact run (exit 0)."""
    model = IdentityModel(model_hash=model_hash((port_build / "model.tflite").read_bytes()), input_bytes=(4,),
                          streamed=(False,))
    with socket_peer(model) as url:
        result = run_codegen("eval", port_build, "--port", url, "--data", dataset, "--timeout", "0.5")
    assert result.returncode == 0, result.stderr
    assert "6/6 bit-exact with the host reference" in result.stdout


@pytest.mark.parametrize(("fields", "phrases"), [
    ({"max_payload": 0}, ("protocol error:", "sent INFO: max payload 0 is outside 64..1024")),
    ({"max_payload": 5}, ("protocol error:", "sent INFO: max payload 5 is outside 64..1024")),
    ({"output_bytes": (5,)}, ("protocol error:", "reports output sizes [5] bytes, the model's are [4]")),
    ({"input_bytes": (4, 4)}, ("protocol error:", "reports input sizes [4, 4] bytes, the model's are [4]")),
    ({"tick_unit": "instructions/0"}, ("protocol error:", "tick unit 'instructions/0' is neither")),
])
def test_eval_refuses_a_device_whose_info_breaks_the_protocol(port_build: Path, dataset: Path, fields: dict,
                                                              phrases: tuple[str, ...]) -> None:
    """Before: max payload 0 looped forever on 0-byte reads, 5 raised ValueError in range(), a wrong output size
    ValueError in reshape. Now each is one line and exit 5, within the request's timeout."""
    model = IdentityModel(model_hash=model_hash((port_build / "model.tflite").read_bytes()), input_bytes=(4,),
                          streamed=(False,))
    with socket_peer(model, lying_info(model, **fields)) as url:
        result = run_codegen("eval", port_build, "--port", url, "--data", dataset, "--timeout", "0.5", timeout=60)
    one_line_error(result, 5, *phrases)


def test_a_device_silent_during_invoke_is_given_up_after_the_models_time_plus_timeout(port_build: Path,
                                                                                     dataset: Path) -> None:
    """Before: 3 attempts of 60 s whatever --timeout said. argmax4 runs 160 instructions (report.json): at the
    board's 216 MHz / 4 that is nothing, so each INVOKE attempt waits --timeout."""
    model = IdentityModel(model_hash=model_hash((port_build / "model.tflite").read_bytes()), input_bytes=(4,),
                          streamed=(False,))
    with socket_peer(model, drop=lambda frame: frame[2] == MsgType.RESULT) as url:
        started = time.monotonic()
        result = run_codegen("eval", port_build, "--port", url, "--data", dataset, "--timeout", "0.4", timeout=60)
        elapsed = time.monotonic() - started
    one_line_error(result, 5, "did not answer INVOKE (seq 2): 3 attempts of 0.4 s each, no reply")
    assert elapsed < 15  # interpreter start-up and imports included; the wait itself is 1.2 s


def _rewrite(msg_type: int, payload: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Frames of `msg_type` get another payload, under a valid CRC; others pass unchanged."""
    def rewrite(frame: bytes) -> bytes:
        if frame[2] != msg_type:
            return frame
        return proto.encode_frame(msg_type, frame[3], payload(frame[6:-4]))
    return rewrite


@pytest.mark.parametrize(("msg_type", "payload", "phrase"), [
    (MsgType.RESULT, lambda p: bytes([7]) + p[1:], "sent RESULT status 7 is not one of [0, 1, 2]"),
    (MsgType.RESULT, lambda p: p[:9] + (20000).to_bytes(4, "little") + p[13:],
     "sent RESULT stack high-water 20000 bytes exceeds the 16384-byte stack of its INFO"),
    (MsgType.RESULT, lambda p: p[:5], "sent malformed RESULT payload (5 bytes, expected 13 or 21)"),
    (MsgType.ACK, lambda p: b"\x00", "sent ACK to WRITE_INPUT (seq 1) with a 1-byte payload (it has none)"),
    (MsgType.INFO, lambda p: p + b"\x02", "sent malformed INFO payload"),
])
def test_replies_breaking_the_protocol_are_protocol_errors(msg_type: int, payload: Callable[[bytes], bytes],
                                                           phrase: str) -> None:
    model = PeerModel()
    with (socket_peer(model, rewrite=_rewrite(msg_type, payload)) as url,
          DeviceLink.open(url, timeout=0.5, invoke_timeout=1.0) as link,
          pytest.raises(DeviceError, match=r"^protocol error: ") as caught):
        link.expect_model(model.model_hash, "fuzz", model.input_bytes, model.output_bytes)
        link.infer([bytes(n) for n in model.input_bytes])
    assert phrase in str(caught.value)


def test_invoke_wait_is_the_models_expected_time_plus_timeout() -> None:
    from tools.evaluate import QEMU_INSTRUCTIONS_PER_SECOND, UNKNOWN_INVOKE_SECONDS, invoke_wait

    report = {"board": "nucleo-f746", "instructions_per_inference": 54_000_000}
    assert invoke_wait(report, 2.0, emulated=False) == pytest.approx(1.0 + 2.0)  # 216 MHz, 4 cycles each
    assert invoke_wait(report, 2.0, emulated=True) == pytest.approx(54e6 / QEMU_INSTRUCTIONS_PER_SECOND + 2.0)
    unmeasured = {"board": "nucleo-f746", "instructions_per_inference": None,
                  "schedule": {"predicted_instructions": 27_000_000}}
    assert invoke_wait(unmeasured, 0.5, emulated=False) == pytest.approx(1.0 + 0.5)  # twice the prediction
    assert invoke_wait({"board": "nucleo-f746"}, 0.5, emulated=True) == UNKNOWN_INVOKE_SECONDS + 0.5


# ---- the link fuzz harness, short run ----------------------------------------------------------------------------


def test_link_fuzz_short_run_has_no_crash_and_no_hang() -> None:
    """scripts/fuzz_link.py: mutated frames from a real socket peer; every session ends in success or a clean
    DeviceError within its bound. (The long run: python -m scripts.fuzz_link --sessions 10000.)"""
    started = time.monotonic()
    tally = fuzz(1000, seed=18)
    assert tally.crashes == 0 and tally.hangs == 0, tally.failures[:3]
    assert tally.cases > 1500 and tally.successes > 0 and tally.clean_errors > 0, tally.line()
    assert time.monotonic() - started < 120, tally.line()  # about 50 s here, with the machine shared


# ---- broken build folders: say what is wrong --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `codegen build` of the argmax4 model for nucleo-f746 (its emulated twin included), not measured."""
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    from codegen.targets.boards import load_board
    from tools.build import build

    root = tmp_path_factory.mktemp("tiny")
    (root / "argmax4.tflite").write_bytes(argmax_model(64 * np.eye(4)))
    build(root / "argmax4.tflite", load_board("nucleo-f746"), root / "build", measure_run=False)
    return root / "build"


def broken_copy(build: Path, where: Path, damage: Callable[[Path], None]) -> Path:
    copy = where / "broken"
    shutil.copytree(build, copy, symlinks=True)
    damage(copy / "emulated" / "firmware.elf")
    return copy


def zero_vector_table(elf: Path) -> None:
    """Keep a well-formed ELF but zero the Cortex-M vector table (loaded at address 0): the core locks up."""
    data = bytearray(elf.read_bytes())
    phoff, phentsize, phnum = int.from_bytes(data[28:32], "little"), data[42] | data[43] << 8, data[44]
    for k in range(phnum):
        p_type, offset, vaddr = np.frombuffer(bytes(data[phoff + k * phentsize:][:12]), "<u4")
        if p_type == 1 and vaddr == 0:
            data[offset : offset + 64] = bytes(64)
            elf.write_bytes(bytes(data))
            return
    raise AssertionError("no segment at address 0")


@pytest.mark.emulator
@pytest.mark.parametrize(("damage", "phrase"), [
    (lambda elf: elf.unlink(), "firmware.elf is missing (the build directory is incomplete): rebuild it with"),
    (lambda elf: elf.write_bytes(b""), "firmware.elf is empty (0 bytes): rebuild it with `codegen build`"),
    (lambda elf: elf.write_bytes(elf.read_bytes()[:2000]), "firmware.elf is truncated (2,000 bytes;"),
    (lambda elf: elf.write_bytes(bytes(range(256)) * 8), "firmware.elf is not an ELF file (2,048 bytes"),
], ids=["missing", "empty", "truncated", "garbage"])
def test_a_damaged_firmware_file_is_named_with_a_rebuild_hint(tiny_build: Path, dataset: Path, tmp_path: Path,
                                                              damage: Callable[[Path], None], phrase: str) -> None:
    """Before: a missing file said the board "has no QEMU twin" (exit 4), an empty one "connection lost"."""
    broken = broken_copy(tiny_build, tmp_path, damage)
    one_line_error(run_codegen("eval", broken, "--emulate", "--data", dataset), 1, phrase)
    one_line_error(run_codegen("monitor", "--emulate", broken), 1, phrase)


@pytest.mark.emulator
def test_qemu_dying_is_reported_in_its_own_words(tiny_build: Path, dataset: Path, tmp_path: Path) -> None:
    """A well-formed ELF whose vector table is zero: QEMU aborts with "Lockup"; eval says so (exit 5) instead of
    "connection lost: Connection reset by peer", and monitor ends with that line."""
    broken = broken_copy(tiny_build, tmp_path, zero_vector_table)
    lockup = "qemu: fatal: Lockup: can't escalate 3 to HardFault"
    one_line_error(run_codegen("eval", broken, "--emulate", "--data", dataset), 5,
                   "codegen: QEMU mps2-an500 was killed by SIGABRT: " + lockup)
    result = run_codegen("monitor", "--emulate", broken)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("codegen: monitor: QEMU mps2-an500 was killed by SIGABRT: "
                                                     + lockup)


def test_profile_pages_are_checked() -> None:
    """A pty peer (tests/tools/link/test_protocol.py's fake device) with a profile that decreases, or has another count
    than the model's profile points."""
    from tests.tools.link.test_protocol import FakeDevice

    for ticks, expected, phrase in (([10, 5, 20], None, "profile ticks are cumulative, but they decrease"),
                                    ([1, 2, 3], 4, "profile of 3 points, the model has 4")):
        device = FakeDevice(profile=ticks)
        try:
            with DeviceLink.open(device.path, timeout=0.5) as link, pytest.raises(DeviceError, match=phrase):
                link.read_profile(expected)
        finally:
            device.close()
