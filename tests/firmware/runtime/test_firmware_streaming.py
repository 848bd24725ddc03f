"""Streamed model inputs: the firmware asks the host for input bytes while model_invoke() runs (INPUT_REQUEST),
the host link answers from the bytes write_input() kept (INPUT_DATA); see firmware/PROTOCOL.md.

- payload codecs, including what older firmware sends;
- DeviceLink against a scripted fake device on a pty (tests/tools/link/test_protocol.py's FakeDevice);
- the real firmware around a hand-written streamed stub model (tests/firmware/runtime/fixtures/stub_streamed_model),
  in QEMU: its function is recomputed here (see its model.h).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import DeviceError
from tests.firmware.runtime.test_firmware_stub import assemble_tree, build, build_stub_firmware, symbols
from tests.tools.link.test_protocol import FakeDevice, collect, honest
from tools.link import protocol as proto
from tools.link.device_link import DeviceLink, model_hash
from tools.link.emulator import Emulator
from tools.link.protocol import DeviceInfo, ErrorCode, Frame, MsgType

STREAMED_DIR = Path(__file__).resolve().parent / "fixtures" / "stub_streamed_model"
ROWS, ROW_BYTES = 40, 224 * 3
IN0_BYTES, IN1_BYTES = ROWS * ROW_BYTES, 64
SEGMENTS = (IN0_BYTES - 700, 13000, 1000, 13000)
SEGMENT_BYTES = 700
STREAM_ATTEMPTS = 4  # firmware/main.c


def expected_requests() -> list[tuple[int, int, int]]:
    """(index, offset, length) of every INPUT_REQUEST of one inference of the streamed stub, in order."""
    chunk = proto.INPUT_CHUNK_MAX
    out = []
    for r in range(0, ROWS, 2):
        offset, left = r * ROW_BYTES, 2 * ROW_BYTES  # 1,344 bytes: more than one INPUT_DATA holds
        while left:
            out.append((0, offset, min(chunk, left)))
            offset, left = offset + min(chunk, left), left - min(chunk, left)
    out += [(0, offset, SEGMENT_BYTES) for offset in SEGMENTS]
    out.append((0, IN0_BYTES - 1, 1))
    return out


def streamed_function(in0: np.ndarray, in1: np.ndarray) -> list[bytes]:
    rows = in0.reshape(ROWS, ROW_BYTES).astype(np.uint64)
    weighted = int((np.arange(1, IN0_BYTES + 1, dtype=np.uint64) * in0.astype(np.uint64)).sum()) & 0xFFFFFFFF
    out0 = np.array([*rows.sum(axis=1), weighted, in0[-1]], dtype="<u4")
    i = np.arange(SEGMENT_BYTES)
    out1 = [in0[off : off + SEGMENT_BYTES] ^ in1[(i + j) % IN1_BYTES] for j, off in enumerate(SEGMENTS)]
    return [out0.tobytes(), np.concatenate(out1).astype(np.uint8).tobytes()]


def random_inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, IN0_BYTES, dtype=np.uint8), rng.integers(0, 256, IN1_BYTES, dtype=np.uint8)


def build_streamed_firmware(out: Path, board_layer: str = "mps2-an500", *make_args: str) -> Path:
    tree = assemble_tree(out, board_layer)
    for name in ("model.h", "model.c"):
        shutil.copy(STREAMED_DIR / name, tree / "model" / name)
    return build(tree, *make_args)


# ---- payload codecs and older firmware -------------------------------------------------------------------


def test_result_decoder_accepts_old_and_new_lengths() -> None:
    new = proto.InvokeResult(proto.Status.INPUT_STREAM_FAILED, 2**40 + 5, 777, 123456789)
    payload = proto.encode_result(new)
    assert len(payload) == 21 and proto.decode_result(payload) == new
    old = proto.decode_result(payload[:13])  # firmware before streaming, or a model without streamed inputs
    assert old == proto.InvokeResult(proto.Status.INPUT_STREAM_FAILED, 2**40 + 5, 777) and old.input_ticks == 0
    for n in (12, 14, 20, 22):
        with pytest.raises(ValueError, match="malformed RESULT payload"):
            proto.decode_result(payload[:n] if n < 21 else payload + bytes(n - 21))


def test_info_decoder_treats_missing_flags_as_not_streamed() -> None:
    info = DeviceInfo(1, 1024, 5000, 16384, bytes(range(8)), (3, 70000, 9), (4,), "1.0", "b", "m", "cycles",
                      (False, True, False))  # fmt: skip
    payload = proto.encode_info(info)
    assert payload.endswith(b"cycles\x00\x01\x00") and proto.decode_info(payload) == info
    old = proto.decode_info(payload[:-3])  # INFO without flags: older firmware
    assert old.input_streamed == (False, False, False) and old.model_name == "m"
    # Constructed without flags (as older callers do): none streamed.
    assert DeviceInfo(1, 1024, 0, 0, bytes(8), (1, 2), (3,), "", "", "", "").input_streamed == (False, False)
    with pytest.raises(ValueError, match="malformed INFO"):
        proto.decode_info(payload[:-5])


def test_input_request_and_data_codecs() -> None:
    assert proto.decode_input_request(proto.encode_input_request(7, 2**32 - 1, 1019)) == (7, 2**32 - 1, 1019)
    with pytest.raises(ValueError, match="malformed INPUT_REQUEST"):
        proto.decode_input_request(b"\x00" * 6)
    assert proto.decode_input_data(proto.encode_input_data(1, 1000, b"abc")) == (1, 1000, b"abc")
    assert proto.INPUT_CHUNK_MAX == proto.MAX_PAYLOAD - 5


# ---- DeviceLink against a scripted fake device -----------------------------------------------------------

FAKE_STREAM_BYTES = 5000
FAKE_IN1 = 10


class FakeStreamingDevice(FakeDevice):
    """Input 0 streamed (5,000 bytes), input 1 ordinary (10). On INVOKE it sends `script`'s INPUT_REQUESTs one
    at a time, each after the previous one's INPUT_DATA; then RESULT. out0 = the bytes received, in order, then
    zeros;
    out1 = u32 sum of in1. A retransmitted INVOKE while waiting repeats the outstanding request (what the
    firmware's own re-request achieves)."""

    def __init__(self, script: list[tuple[int, int, int]], policy: Callable = honest):
        self.script = script
        self.step = 0
        self.invoke_seq = -1
        self.received = bytearray()
        self.in1 = bytearray(FAKE_IN1)
        super().__init__(policy)

    def _request(self) -> tuple[int, int, bytes]:
        if self.step == len(self.script):
            result = proto.InvokeResult(proto.Status.OK, 1234, 512, 99)
            out0 = bytes(self.received).ljust(FAKE_STREAM_BYTES, b"\0")
            self.outputs = [out0, sum(self.in1).to_bytes(4, "little")]
            return MsgType.RESULT, self.invoke_seq, proto.encode_result(result)
        return MsgType.INPUT_REQUEST, self.invoke_seq, proto.encode_input_request(*self.script[self.step])

    def _serve(self, request: Frame) -> tuple[int, int, bytes]:
        seq, payload = request.seq, request.payload
        if request.type == MsgType.HELLO:
            info = DeviceInfo(proto.VERSION, proto.MAX_PAYLOAD, 4096, 8192, model_hash(b"streamed"),
                              (FAKE_STREAM_BYTES, FAKE_IN1), (FAKE_STREAM_BYTES, 4), "fake-2", "pty", "fake_streamed",
                              "cycles", (True, False))  # fmt: skip
            return MsgType.INFO, seq, proto.encode_info(info)
        if request.type == MsgType.WRITE_INPUT:
            index, offset, data = proto.decode_write_input(payload)
            if index != 1:
                return MsgType.ERROR, seq, proto.encode_error(ErrorCode.BAD_INDEX, f"input {index} is streamed")
            self.in1[offset : offset + len(data)] = data
            return MsgType.ACK, seq, b""
        if request.type == MsgType.INVOKE:
            if seq != self.invoke_seq:
                self.invoke_seq, self.step, self.received = seq, 0, bytearray()
            return self._request()
        if request.type == MsgType.INPUT_DATA:
            index, offset, data = proto.decode_input_data(payload)
            assert (index, offset, len(data)) == self.script[self.step] and seq == self.invoke_seq
            self.received += data
            self.step += 1
            return self._request()
        if request.type == MsgType.READ_OUTPUT:
            index, offset, length = proto.decode_read_output(payload)
            return MsgType.DATA, seq, self.outputs[index][offset : offset + length]
        return MsgType.ERROR, seq, proto.encode_error(ErrorCode.UNKNOWN_TYPE, "unknown request type")


@pytest.fixture
def streaming_fakes() -> Iterator[list[tuple[FakeDevice, DeviceLink]]]:
    made: list[tuple[FakeDevice, DeviceLink]] = []
    yield made
    for device, link in made:
        link.close()
        device.close()


def make_streaming_fake(made: list, script: list[tuple[int, int, int]], policy: Callable = honest,
                        **options: float) -> tuple[FakeStreamingDevice, DeviceLink]:  # fmt: skip
    device = FakeStreamingDevice(script, policy)
    link = DeviceLink.open(device.path, **{"timeout": 0.5, "invoke_timeout": 2.0, **options})  # type: ignore[arg-type]
    made.append((device, link))
    return device, link


FAKE_SCRIPT = [(0, 0, 1019), (0, 1019, 1019), (0, 4000, 1000), (0, 0, 10), (0, 4999, 1), (0, 2038, 1962 - 1000)]


def fake_out0(in0: bytes) -> bytes:
    return b"".join(in0[off : off + n] for _, off, n in FAKE_SCRIPT).ljust(FAKE_STREAM_BYTES, b"\0")


def fake_in0() -> bytes:
    return np.random.default_rng(3).integers(0, 256, FAKE_STREAM_BYTES, dtype=np.uint8).tobytes()


def test_link_answers_input_requests_from_the_written_bytes(streaming_fakes: list) -> None:
    device, link = make_streaming_fake(streaming_fakes, FAKE_SCRIPT)
    in0, in1 = fake_in0(), bytes(range(FAKE_IN1))
    outputs, stats = link.infer([in0, in1])
    assert outputs[0] == fake_out0(in0)
    assert outputs[1] == sum(in1).to_bytes(4, "little")
    assert (stats.ticks, stats.input_ticks) == (1234, 99)
    assert link.counters.input_requests == len(FAKE_SCRIPT) and link.counters.retransmissions == 0
    # The streamed input never went to the device: only input 1 was written.
    writes = [proto.decode_write_input(r.payload)[0] for r in device.requests if r.type == MsgType.WRITE_INPUT]
    assert writes == [1]


def test_every_input_request_restarts_the_invoke_deadline(streaming_fakes: list) -> None:
    def slow(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        if request.type in (MsgType.INVOKE, MsgType.INPUT_DATA):
            time.sleep(0.25)
        return [reply]

    # 7 replies 0.25 s apart: 1.75 s in all, far beyond the 0.6 s invoke timeout, yet never 0.6 s of silence.
    device, link = make_streaming_fake(streaming_fakes, FAKE_SCRIPT, slow, invoke_timeout=0.6, retries=0)
    outputs, _ = link.infer([fake_in0(), bytes(FAKE_IN1)])
    assert outputs[0] == fake_out0(fake_in0())
    assert sum(r.type == MsgType.INVOKE for r in device.requests) == 1


def test_garbled_input_request_does_not_use_up_invoke_attempts(streaming_fakes: list) -> None:
    def corrupt_second(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        if request.type == MsgType.INPUT_DATA and proto.decode_input_data(request.payload)[1] == 0 and attempt == 1:
            return [reply[:-1] + bytes([reply[-1] ^ 1])]
        return [reply]

    # retries=0: a resend that counted as an attempt would fail the INVOKE.
    device, link = make_streaming_fake(streaming_fakes, FAKE_SCRIPT, corrupt_second, retries=0)
    outputs, _ = link.infer([fake_in0(), bytes(FAKE_IN1)])
    assert outputs[0] == fake_out0(fake_in0())
    assert sum(r.type == MsgType.INVOKE for r in device.requests) == 2 and link.counters.retransmissions == 1


def test_stale_input_request_is_dropped(streaming_fakes: list) -> None:
    def with_stale(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        stale = proto.encode_frame(MsgType.INPUT_REQUEST, (request.seq - 1) & 0xFF, proto.encode_input_request(0, 7, 9))
        return [stale, reply] if request.type == MsgType.INVOKE else [reply]

    device, link = make_streaming_fake(streaming_fakes, FAKE_SCRIPT, with_stale)
    link.infer([fake_in0(), bytes(FAKE_IN1)])
    assert link.counters.stale_frames == 1 and link.counters.input_requests == len(FAKE_SCRIPT)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ((0, 4990, 11), r"asked for bytes 4990..5001 of input 0, which has 5000 bytes"),
        ((0, 0, 1020), r"asked for bytes 0..1020 of input 0.*at most 1019 fit one INPUT_DATA"),
        ((1, 0, 4), r"asked for bytes of input 1 during INVOKE, but its model has no streamed input 1"),
        ((2, 0, 4), r"no streamed input 2"),
    ],
)
def test_bad_input_request_is_a_clear_error(streaming_fakes: list, request_: tuple, message: str) -> None:
    _, link = make_streaming_fake(streaming_fakes, [request_])
    with pytest.raises(DeviceError, match=message):
        link.infer([fake_in0(), bytes(FAKE_IN1)])


def test_streamed_input_must_be_written_before_invoke(streaming_fakes: list) -> None:
    device, link = make_streaming_fake(streaming_fakes, FAKE_SCRIPT)
    link.write_input(1, bytes(FAKE_IN1))
    with pytest.raises(DeviceError, match="input 0 was not written before INVOKE"):
        link.invoke()
    assert not [r for r in device.requests if r.type == MsgType.INVOKE]  # refused before sending anything
    with pytest.raises(DeviceError, match="runs past the end of input 0 .5000 bytes"):
        link.write_input(0, b"xy", offset=FAKE_STREAM_BYTES - 1)
    link.write_input(0, b"\x07" * 10, offset=4990)  # a partial write counts as written; the rest reads zeros
    link.invoke()
    stored = bytes(4990) + b"\x07" * 10
    assert link.read_output(0) == fake_out0(stored)


# ---- the real firmware, emulated --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def streamed_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    return build_streamed_firmware(tmp_path_factory.mktemp("fw") / "streamed")


def record_requests(link: DeviceLink, answer: Callable[[Frame], bool] | None = None) -> list[tuple[int, int, int]]:
    """Log every INPUT_REQUEST the link receives; `answer(frame)` False: drop it without an answer."""
    log: list[tuple[int, int, int]] = []
    serve = link._answer_input_request

    def wrapped(frame: Frame) -> None:
        log.append(proto.decode_input_request(frame.payload))
        if answer is None or answer(frame):
            serve(frame)

    link._answer_input_request = wrapped  # type: ignore[method-assign]
    return log


@pytest.mark.emulator
def test_streamed_model_runs_end_to_end(streamed_elf: Path) -> None:
    in0, in1 = random_inputs(11)
    with Emulator(streamed_elf) as emu:
        link = emu.link
        info = link.hello()
        assert info.model_name == "stub_streamed" and info.input_bytes == (IN0_BYTES, IN1_BYTES)
        assert info.input_streamed == (True, False) and info.arena_bytes == 4376  # the image never fits
        log = record_requests(link)
        outputs, stats = link.infer([in0, in1])
        assert outputs == streamed_function(in0, in1)
        assert log == expected_requests()  # row pairs in two pieces, segments out of order, a re-read
        assert stats.input_ticks > 0 and stats.retransmissions == 0
        # ~8 instructions per image byte; waiting for the host (tens of ms per request) is not in it.
        assert 3 * IN0_BYTES / 40 < stats.ticks < 20 * IN0_BYTES / 40 < stats.input_ticks

        # A slower host (random delays before answering): the model's ticks are identical, icount being
        # deterministic and the wait excluded; only the input ticks grow.
        rnd = random.Random(4)
        log.clear()
        record_requests(link, lambda frame: time.sleep(rnd.choice([0, 0, 0.02, 0.1])) is None)
        outputs2, stats2 = link.infer([in0, in1])
        assert outputs2 == outputs and stats2.ticks == stats.ticks
        assert stats2.input_ticks > stats.input_ticks

        # New input bytes are used by the next INVOKE.
        in0b, in1b = random_inputs(12)
        assert link.infer([in0b, in1b])[0] == streamed_function(in0b, in1b)


@pytest.mark.emulator
def test_profile_points_exclude_the_wait(tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    elf = build_streamed_firmware(tmp_path / "profiled", "mps2-an500", "PROFILE=1")
    in0, in1 = random_inputs(16)
    with Emulator(elf) as emu:
        link = emu.link
        _, stats = link.infer([in0, in1])
        points = link.read_profile()
        assert len(points) == 25 and points == sorted(points) and points[-1] <= stats.ticks < points[-1] + 50
        record_requests(link, lambda frame: time.sleep(0.05) is None)  # a slower host: the same points
        _, stats2 = link.infer([in0, in1])
        assert link.read_profile() == points and stats2.ticks == stats.ticks


@pytest.mark.emulator
def test_unanswered_stream_fails_cleanly(streamed_elf: Path) -> None:
    in0, in1 = random_inputs(13)
    with Emulator(streamed_elf) as emu:
        link = emu.link
        _, clean = link.infer([in0, in1])
        log = record_requests(link, lambda frame: False)
        started = time.monotonic()
        with pytest.raises(DeviceError, match=r"input stream failed: the device gave up waiting for INPUT_DATA "
                                              r"during INVOKE \(its last request: input 0 bytes 0..1019\)"):
            link.infer([in0, in1])
        # 4 requests ~3 s apart under QEMU (more on a loaded machine), then RESULT at once; a device that hung
        # would keep the link waiting its 60 s INVOKE timeout, so the bound sits just under that.
        assert time.monotonic() - started < 55
        # The first piece was asked for STREAM_ATTEMPTS times; after that the model read zeros without asking.
        assert log == [(0, 0, 1019)] * STREAM_ATTEMPTS
        assert link.hello().model_name == "stub_streamed"
        del link._answer_input_request  # answer again
        outputs, stats = link.infer([in0, in1])
        assert outputs == streamed_function(in0, in1) and stats.ticks == clean.ticks


@pytest.mark.emulator
def test_dropped_input_data_is_requested_again(streamed_elf: Path) -> None:
    in0, in1 = random_inputs(14)
    with Emulator(streamed_elf) as emu:
        link = emu.link
        _, clean = link.infer([in0, in1])
        dropped = []

        def drop_third_once(frame: Frame) -> bool:
            if len(log) == 3 and not dropped:
                dropped.append(frame)
                return False
            return True

        log = record_requests(link, drop_third_once)
        outputs, stats = link.infer([in0, in1])
        assert outputs == streamed_function(in0, in1)
        expected = expected_requests()
        assert log == expected[:3] + expected[2:]  # the device asked for the third piece again
        assert stats.ticks == clean.ticks and stats.input_ticks > clean.input_ticks


@pytest.mark.emulator
def test_stale_and_mismatched_input_data_is_ignored(streamed_elf: Path) -> None:
    in0, in1 = random_inputs(15)
    with Emulator(streamed_elf) as emu:
        link = emu.link
        _, clean = link.infer([in0, in1])

        def decoys_first(frame: Frame) -> bool:
            if 6 < len(log) < len(expected_requests()):  # decoys before the first pieces and the last one
                return True
            index, offset, n = proto.decode_input_request(frame.payload)
            seq, data = frame.seq, in0.tobytes()

            def answer(i: int, off: int, chunk: bytes, s: int = seq) -> bytes:
                return proto.encode_frame(MsgType.INPUT_DATA, s, proto.encode_input_data(i, off, chunk))

            piece = data[offset : offset + n]
            good = answer(index, offset, piece)
            decoys = [
                answer(index, offset + 1, piece),  # another offset
                answer(index, offset, piece[:-1] if n > 1 else piece + b"\0"),  # another length
                answer(1, offset, piece),  # another input
                answer(index, offset, piece, (seq + 1) & 0xFF),  # another INVOKE's answer
                good[:-1] + bytes([good[-1] ^ 0x10]),  # corrupted
                proto.encode_frame(MsgType.INVOKE, seq),  # a retransmitted INVOKE
                proto.encode_frame(MsgType.HELLO, (seq + 1) & 0xFF),  # any other request
            ]
            link.port.write(b"".join(decoys))
            return True

        log = record_requests(link, decoys_first)
        outputs, stats = link.infer([in0, in1])
        assert outputs == streamed_function(in0, in1)
        assert log == expected_requests()  # nothing was asked twice: every decoy was dropped
        assert stats.ticks == clean.ticks
        assert link.hello().model_name == "stub_streamed"


@pytest.mark.emulator
def test_write_input_to_a_streamed_input(streamed_elf: Path) -> None:
    with Emulator(streamed_elf) as emu:
        link = emu.link
        link.hello()
        with pytest.raises(DeviceError, match=r"refused WRITE_INPUT \(seq \d+\): BAD_INDEX: input 0 is streamed"):
            link.request(MsgType.WRITE_INPUT, proto.encode_write_input(0, 0, b"abc"))
        requests = link.counters.requests
        link.write_input(0, bytes(IN0_BYTES))  # kept by the host: no traffic
        link.write_input(1, bytes(IN1_BYTES))
        assert link.counters.requests == requests + 1
        assert link.invoke().status == proto.Status.OK
        assert link.read_output(0) == bytes(4 * (ROWS + 2))


@pytest.mark.emulator
def test_streamed_firmware_rejects_invoke_with_unwritten_input(streamed_elf: Path) -> None:
    with Emulator(streamed_elf) as emu:
        link = emu.link
        link.write_input(1, bytes(IN1_BYTES))
        requests = link.counters.requests
        with pytest.raises(DeviceError, match="input 0 was not written before INVOKE"):
            link.invoke()
        assert link.counters.requests == requests  # refused host-side: the device never waits for it
        assert link.hello().model_name == "stub_streamed"


# ---- firmware without streamed inputs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    return build_stub_firmware(tmp_path_factory.mktemp("fw") / "plain")


def test_firmware_without_streamed_inputs_has_no_streaming_code(plain_elf: Path, tmp_path: Path) -> None:
    plain = symbols(plain_elf)
    assert not {"model_read_input", "input_ticks", "stream_seq"} & plain.keys()
    streamed = symbols(build_streamed_firmware(tmp_path / "streamed"))
    assert {"model_read_input", "input_ticks", "stream_seq"} <= streamed.keys()


def test_streamed_firmware_builds_for_the_real_board(tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    elf = build_streamed_firmware(tmp_path / "nucleo", "nucleo-f746")
    size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True)
    assert "firmware.elf" in size.stdout


@pytest.mark.emulator
def test_firmware_without_streamed_inputs_speaks_the_old_format(plain_elf: Path) -> None:
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm missing")
    with Emulator(plain_elf) as emu:
        emu.link.port.write(proto.encode_frame(MsgType.HELLO, 0x30) + proto.encode_frame(MsgType.INVOKE, 0x31))
        info, result = collect(emu.link, 2, seconds=10.0)
        assert proto.decode_info(info.payload).input_streamed == (False, False)
        assert info.payload.endswith(b"instructions/40")  # no flags after the strings
        assert len(result.payload) == 13 and proto.decode_result(result.payload).input_ticks == 0
