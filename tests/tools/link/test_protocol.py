"""Protocol robustness, three ways:
- the device's C frame parser (firmware/protocol.c, compiled for the host) and the host's Python decoder
  must both recover every valid frame from streams full of garbage, truncated and corrupted frames;
- the host DeviceLink against a scripted fake device on a pty (injected faults: garbage, truncated replies,
  bad CRCs, silence, stale and duplicate replies, refusals, crashes, hang-ups);
- the real firmware in QEMU fed garbage, truncated frames, bad CRCs and lengths, and frozen mid-session.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.errors import DeviceError, ToolchainError
from codegen.paths import FIRMWARE_DIR
from tests.firmware.runtime.test_firmware_stub import build_stub_firmware
from tools.link import protocol as proto
from tools.link.device_link import DeviceLink, model_hash
from tools.link.emulator import Emulator
from tools.link.protocol import DeviceInfo, ErrorCode, Frame, MsgType

# ---- the C parser, compiled for the host ----------------------------------------------------------------


class RxBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_uint8 * proto.FRAME_MAX), ("len", ctypes.c_uint32)]


class RxFrame(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint8),
        ("seq", ctypes.c_uint8),
        ("length", ctypes.c_uint16),
        ("payload", ctypes.POINTER(ctypes.c_uint8)),
        ("crc", ctypes.c_uint32),
    ]


RX_MORE, RX_FRAME, RX_BAD_LENGTH, RX_BAD_CRC = range(4)


@pytest.fixture(scope="module")
def c_protocol(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    lib = tmp_path_factory.mktemp("proto") / "libprotocol.so"
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
           str(FIRMWARE_DIR / "protocol.c"), "-o", str(lib)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    dll = ctypes.CDLL(str(lib))
    dll.proto_rx_scan.restype = ctypes.c_int
    dll.proto_crc32.restype = ctypes.c_uint32
    dll.proto_build_frame.restype = ctypes.c_uint32
    return dll


def c_device_parse(dll: ctypes.CDLL, stream: bytes) -> tuple[list[Frame], Counter[int]]:
    """Feed the stream byte by byte like firmware/main.c does; at the end, time out what is left."""
    rx, frame = RxBuffer(), RxFrame()
    dll.proto_rx_init(ctypes.byref(rx))
    frames: list[Frame] = []
    errors: Counter[int] = Counter()

    def scan() -> None:
        while (status := dll.proto_rx_scan(ctypes.byref(rx), ctypes.byref(frame))) != RX_MORE:
            if status == RX_FRAME:
                frames.append(Frame(frame.type, frame.seq, bytes(frame.payload[: frame.length])))
                dll.proto_rx_consume_frame(ctypes.byref(rx), ctypes.byref(frame))
            else:
                errors[status] += 1
                dll.proto_rx_skip(ctypes.byref(rx))
            assert rx.len <= proto.FRAME_MAX

    for byte in stream:
        dll.proto_rx_push(ctypes.byref(rx), ctypes.c_uint8(byte))
        scan()
    while rx.len:  # the receive timeout
        dll.proto_rx_skip(ctypes.byref(rx))
        scan()
    return frames, errors


def python_parse(stream: bytes, chunks: list[int]) -> list[Frame]:
    decoder = proto.FrameDecoder()
    frames, pos = [], 0
    for n in chunks:
        frames += decoder.feed(stream[pos : pos + n])
        pos += n
    frames += decoder.feed(stream[pos:])
    while decoder.buffer:
        frames += decoder.expire()
    return frames


frames_st = st.builds(
    Frame,
    st.integers(0, 255),
    st.integers(0, 255),
    st.one_of(st.binary(max_size=40), st.binary(min_size=1000, max_size=proto.MAX_PAYLOAD)),
)


@st.composite
def garbage_st(draw: st.DrawFn) -> bytes:
    """Noise that tempts a parser: sync bytes, plausible headers, cut and corrupted frames."""
    pieces = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["random", "sync", "header", "truncated", "bad_crc"]))
        if kind == "random":
            pieces.append(draw(st.binary(max_size=30)))
        elif kind == "sync":
            pieces.append(proto.SYNC[: draw(st.integers(1, 2))])
        elif kind == "header":
            pieces.append(proto.SYNC + bytes([1, 2]) + draw(st.integers(0, 0xFFFF)).to_bytes(2, "little"))
        else:
            f = draw(frames_st)
            raw = bytearray(proto.encode_frame(f.type, f.seq, f.payload))
            if kind == "truncated":
                raw = raw[: draw(st.integers(1, len(raw) - 1))]
            else:
                raw[draw(st.integers(2, len(raw) - 1))] ^= draw(st.integers(1, 255))
            pieces.append(bytes(raw))
    return b"".join(pieces)


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.tuples(garbage_st(), frames_st), max_size=4),
    tail=garbage_st(),
    chunks=st.lists(st.integers(1, 700), max_size=10),
)
def test_both_parsers_recover_every_frame_from_noise(
    c_protocol: ctypes.CDLL, parts: list[tuple[bytes, Frame]], tail: bytes, chunks: list[int]
) -> None:
    stream = b"".join(g + proto.encode_frame(f.type, f.seq, f.payload) for g, f in parts) + tail
    expected = [f for _, f in parts]
    c_frames, _ = c_device_parse(c_protocol, stream)
    assert c_frames == expected
    assert python_parse(stream, chunks) == expected


def test_c_parser_reports_bad_crc_and_length(c_protocol: ctypes.CDLL) -> None:
    good = proto.encode_frame(MsgType.HELLO, 9)
    bad_crc = good[:-1] + bytes([good[-1] ^ 1])
    too_long = proto.SYNC + bytes([MsgType.HELLO, 8]) + (proto.MAX_PAYLOAD + 1).to_bytes(2, "little")
    frames, errors = c_device_parse(c_protocol, bad_crc + too_long + good)
    assert frames == [Frame(MsgType.HELLO, 9, b"")]
    assert errors == {RX_BAD_CRC: 1, RX_BAD_LENGTH: 1}


@settings(max_examples=50, deadline=None)
@given(msg_type=st.integers(0, 255), seq=st.integers(0, 255), payload=st.binary(max_size=proto.MAX_PAYLOAD))
def test_c_and_python_build_the_same_frames(c_protocol: ctypes.CDLL, msg_type: int, seq: int, payload: bytes) -> None:
    out = (ctypes.c_uint8 * proto.FRAME_MAX)()
    n = c_protocol.proto_build_frame(out, msg_type, seq, payload, len(payload))
    assert bytes(out[:n]) == proto.encode_frame(msg_type, seq, payload)
    assert c_protocol.proto_crc32(payload, len(payload)) == proto.crc32(payload)


def test_payload_codecs_round_trip() -> None:
    info = DeviceInfo(1, 1024, 5000, 16384, bytes(range(8)), (3, 70000), (4,), "1.0", "b", "m", "cycles")
    assert proto.decode_info(proto.encode_info(info)) == info
    result = proto.InvokeResult(1, 2**40 + 5, 777)
    assert proto.decode_result(proto.encode_result(result)) == result
    with pytest.raises(ValueError, match="malformed INFO"):
        proto.decode_info(proto.encode_info(info)[:-3])
    assert proto.decode_read_profile(proto.encode_read_profile(300, 255)) == (300, 255)
    assert proto.decode_profile(proto.encode_profile(700, [1, 2**32 - 1])) == (700, [1, 2**32 - 1])
    with pytest.raises(ValueError, match="malformed profile"):
        proto.decode_profile(b"\x01\x00")


# ---- the host link against a scripted fake device on a pty -----------------------------------------------

FAKE_INPUTS = (70000, 10)  # more than 64 KB: the host must chunk
FAKE_OUTPUTS = (70000, 4)
FAKE_HASH = model_hash(b"fake model")

# policy(request, attempt number of this seq starting at 1, normal reply frame) -> byte strings to send
Policy = Callable[[Frame, int, bytes], list[bytes]]


def honest(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
    return [reply]


class FakeDevice:
    """Speaks the protocol on the master side of a pty; its model: out0 = ~in0, out1 = u32 sum of in1."""

    def __init__(self, policy: Policy = honest, status: int = proto.Status.OK, profile: list[int] | None = None):
        self.policy = policy
        self.status = status
        self.profile = profile  # cumulative ticks per point; None: built without profiling
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.inputs = [bytearray(n) for n in FAKE_INPUTS]
        self.outputs = [bytes(n) for n in FAKE_OUTPUTS]
        self.requests: list[Frame] = []
        self.attempts: Counter[tuple[int, int]] = Counter()
        self.hung_up = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def hang_up(self) -> None:
        self.hung_up = True
        os.close(self.master)
        os.close(self.slave)

    def _run(self) -> None:
        decoder = proto.FrameDecoder()
        while not self._stop.is_set() and not self.hung_up:
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready or self.hung_up:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for request in decoder.feed(data):
                self.requests.append(request)
                self.attempts[(request.seq, request.type)] += 1
                reply = proto.encode_frame(*self._serve(request))
                for chunk in self.policy(request, self.attempts[(request.seq, request.type)], reply):
                    if self.hung_up:
                        return
                    os.write(self.master, chunk)

    def _serve(self, request: Frame) -> tuple[int, int, bytes]:
        seq, payload = request.seq, request.payload
        if request.type == MsgType.HELLO:
            info = DeviceInfo(proto.VERSION, proto.MAX_PAYLOAD, 1 << 16, 8192, FAKE_HASH, FAKE_INPUTS,
                              FAKE_OUTPUTS, "fake-1", "pty", "fake", "cycles")  # fmt: skip
            return MsgType.INFO, seq, proto.encode_info(info)
        if request.type == MsgType.WRITE_INPUT:
            index, offset, data = proto.decode_write_input(payload)
            if index >= len(self.inputs):
                return MsgType.ERROR, seq, proto.encode_error(ErrorCode.BAD_INDEX, "no such input")
            self.inputs[index][offset : offset + len(data)] = data
            return MsgType.ACK, seq, b""
        if request.type == MsgType.INVOKE:
            in0 = np.frombuffer(bytes(self.inputs[0]), np.uint8)
            self.outputs = [(~in0).tobytes(), int(sum(self.inputs[1])).to_bytes(4, "little")]
            return MsgType.RESULT, seq, proto.encode_result(proto.InvokeResult(self.status, 1234, 512))
        if request.type == MsgType.READ_OUTPUT:
            index, offset, length = proto.decode_read_output(payload)
            return MsgType.DATA, seq, self.outputs[index][offset : offset + length]
        if request.type == MsgType.READ_PROFILE and self.profile is not None:
            first, count = proto.decode_read_profile(payload)
            part = self.profile[first : first + min(count, proto.PROFILE_MAX_POINTS)]
            return MsgType.DATA, seq, proto.encode_profile(len(self.profile), part)
        return MsgType.ERROR, seq, proto.encode_error(ErrorCode.UNKNOWN_TYPE, "unknown request type")


def fake_link(
    policy: Policy = honest, timeout: float = 0.3, retries: int = 2, **kwargs: object
) -> tuple[FakeDevice, DeviceLink]:
    device = FakeDevice(policy, **kwargs)
    link = DeviceLink.open(device.path, timeout=timeout, retries=retries)
    return device, link


def run_fake_inference(device: FakeDevice, link: DeviceLink) -> None:
    rng = np.random.default_rng(1)
    in0 = rng.integers(0, 256, FAKE_INPUTS[0], dtype=np.uint8)
    in1 = rng.integers(0, 256, FAKE_INPUTS[1], dtype=np.uint8)
    outputs, stats = link.infer([in0, in1])
    assert outputs == [(~in0).tobytes(), int(in1.sum()).to_bytes(4, "little")]
    assert (stats.ticks, stats.stack_high_water, stats.tick_unit) == (1234, 512, "cycles")


@pytest.fixture
def fakes() -> Iterator[list[tuple[FakeDevice, DeviceLink]]]:
    made: list[tuple[FakeDevice, DeviceLink]] = []
    yield made
    for device, link in made:
        link.close()
        device.close()


def make_fake(fakes: list, policy: Policy = honest, **kwargs: object) -> tuple[FakeDevice, DeviceLink]:
    pair = fake_link(policy, **kwargs)  # type: ignore[arg-type]
    fakes.append(pair)
    return pair


def test_fake_device_inference_chunks_large_inputs(fakes: list) -> None:
    device, link = make_fake(fakes)
    run_fake_inference(device, link)
    writes = [proto.decode_write_input(r.payload) for r in device.requests if r.type == MsgType.WRITE_INPUT]
    chunk = proto.MAX_PAYLOAD - proto.WRITE_INPUT_HEADER
    assert [(i, off, len(d)) for i, off, d in writes if i == 0] == [
        (0, off, min(chunk, FAKE_INPUTS[0] - off)) for off in range(0, FAKE_INPUTS[0], chunk)
    ]
    assert link.counters.retransmissions == 0 and link.counters.stale_frames == 0


def test_read_profile_pages_through_every_point(fakes: list) -> None:
    ticks = list(range(10, 6010, 10))  # 600 points: three replies
    device, link = make_fake(fakes, profile=ticks)
    assert link.read_profile() == ticks
    assert sum(r.type == MsgType.READ_PROFILE for r in device.requests) == 3


def test_read_profile_without_profiling_is_a_clear_error(fakes: list) -> None:
    _, link = make_fake(fakes)
    with pytest.raises(DeviceError, match="built without profiling"):
        link.read_profile()


def test_garbage_before_replies_is_skipped(fakes: list) -> None:
    rnd = random.Random(3)

    def noisy(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
        return [junk + proto.SYNC + b"\x01", reply]  # ends in a dangling sync and header start

    device, link = make_fake(fakes, noisy)
    run_fake_inference(device, link)
    assert link.decoder.dropped_bytes > 0


def test_truncated_reply_is_retried_with_the_same_seq(fakes: list) -> None:
    def cut_first(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        return [reply[: len(reply) // 2]] if attempt == 1 else [reply]

    device, link = make_fake(fakes, cut_first, timeout=0.2)
    info = link.hello()
    assert info.model_name == "fake"
    assert [(r.type, r.seq) for r in device.requests] == [(MsgType.HELLO, 0), (MsgType.HELLO, 0)]
    assert link.counters.retransmissions == 1


def test_reply_with_wrong_crc_is_dropped_and_retried(fakes: list) -> None:
    def corrupt_first(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        return [reply[:-1] + bytes([reply[-1] ^ 0x40])] if attempt == 1 else [reply]

    device, link = make_fake(fakes, corrupt_first, timeout=5.0)
    link.invoke_timeout = 60.0
    started = time.monotonic()
    link.hello()
    link.write_input(1, bytes(range(10)))
    assert link.invoke().ticks == 1234
    assert link.read_output(1) == sum(range(10)).to_bytes(4, "little")
    # Every request was resent once, at once: nobody waited for a timeout.
    assert time.monotonic() - started < 2.0
    assert link.counters.retransmissions == link.counters.requests == 4
    assert link.decoder.bad_frames >= 4


def test_frame_error_reply_triggers_an_immediate_resend(fakes: list) -> None:
    def nack_first(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        if attempt == 1:
            return [proto.encode_frame(MsgType.ERROR, request.seq, proto.encode_error(ErrorCode.BAD_CRC, "bad CRC"))]
        return [reply]

    device, link = make_fake(fakes, nack_first, timeout=5.0)
    started = time.monotonic()
    link.hello()
    assert time.monotonic() - started < 1.0  # did not wait for the 5 s timeout
    assert link.counters.retransmissions == 1


def test_silent_device_raises_within_the_bound(fakes: list) -> None:
    device, link = make_fake(fakes, lambda request, attempt, reply: [], timeout=0.25, retries=2)
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"did not answer HELLO \(seq 0\): 3 attempts of 0.25 s each, no reply"):
        link.hello()
    elapsed = time.monotonic() - started
    assert 0.75 <= elapsed < 1.5
    assert len(device.requests) == 3 and {r.seq for r in device.requests} == {0}


def test_stale_and_duplicate_replies_are_discarded(fakes: list) -> None:
    def replay(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        stale = proto.encode_frame(reply[2], (request.seq - 1) & 0xFF, b"\x00" * 13)  # an old reply
        return [stale, reply, reply]  # ...and the right one, twice

    device, link = make_fake(fakes, replay)
    run_fake_inference(device, link)
    assert link.counters.stale_frames >= link.counters.requests
    assert link.counters.retransmissions == 0


def test_refusal_is_a_clear_error(fakes: list) -> None:
    device, link = make_fake(fakes)
    link.hello()
    with pytest.raises(DeviceError, match=r"refused WRITE_INPUT \(seq 1\): BAD_INDEX: no such input"):
        link.write_input(7, b"abc")


def test_device_fault_report_is_recognised_whatever_its_seq(fakes: list) -> None:
    def crash(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        if request.type == MsgType.INVOKE:
            report = proto.encode_error(ErrorCode.FAULT, "CPU fault: HardFault")
            return [proto.encode_frame(MsgType.ERROR, 0x77, report)]  # another seq than the request's
        return [reply]

    device, link = make_fake(fakes, crash)
    with pytest.raises(DeviceError, match="crashed during INVOKE .*: CPU fault: HardFault"):
        link.infer([bytes(FAKE_INPUTS[0]), bytes(FAKE_INPUTS[1])])


def test_stack_overflow_status_fails_inference(fakes: list) -> None:
    device, link = make_fake(fakes, status=proto.Status.STACK_OVERFLOW)
    with pytest.raises(DeviceError, match="stack overflow while the model ran: it needs more than the 8192-byte"):
        link.infer([bytes(FAKE_INPUTS[0]), bytes(FAKE_INPUTS[1])])


def test_stale_firmware_is_detected(fakes: list) -> None:
    device, link = make_fake(fakes)
    assert link.expect_model(FAKE_HASH).model_name == "fake"
    other = model_hash(b"another model")
    with pytest.raises(DeviceError, match=f"firmware runs model fake hash {FAKE_HASH.hex()}, expected net.tflite "
                                          f"hash {other.hex()}"):
        link.expect_model(other, "net.tflite")


def test_wrong_input_sizes_are_refused_before_sending(fakes: list) -> None:
    device, link = make_fake(fakes)
    with pytest.raises(DeviceError, match="input 1 has 3 bytes, the firmware's model expects 10"):
        link.infer([bytes(FAKE_INPUTS[0]), b"abc"])
    with pytest.raises(DeviceError, match="takes 2 inputs, 1 given"):
        link.infer([b"x"])
    assert not [r for r in device.requests if r.type == MsgType.WRITE_INPUT]


def test_hang_up_is_an_error_not_a_hang(fakes: list) -> None:
    def hang_up_on_invoke(request: Frame, attempt: int, reply: bytes) -> list[bytes]:
        if request.type == MsgType.INVOKE:
            device.hang_up()
            return []
        return [reply]

    device, link = make_fake(fakes, hang_up_on_invoke, timeout=0.3)
    link.hello()
    started = time.monotonic()
    with pytest.raises(DeviceError):
        link.invoke()
    assert time.monotonic() - started < 2.0


def test_unopenable_port_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match="cannot open /dev/does-not-exist"):
        DeviceLink.open("/dev/does-not-exist")


# ---- the real firmware, emulated --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def firmware_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    return build_stub_firmware(tmp_path_factory.mktemp("fw") / "mps2")


def collect(link: DeviceLink, count: int, seconds: float = 3.0) -> list[Frame]:
    """Read raw frames from the device (bypassing the request logic) until `count` arrived."""
    decoder, frames = proto.FrameDecoder(), []
    deadline = time.monotonic() + seconds
    while len(frames) < count and time.monotonic() < deadline:
        frames += decoder.feed(link.port.read(64))
    return frames


@pytest.mark.emulator
def test_emulated_firmware_resynchronises_after_garbage(firmware_elf: Path) -> None:
    rnd = random.Random(5)
    with Emulator(firmware_elf, link_options={"timeout": 3.0}) as emu:
        link = emu.link
        # Plain noise, a header announcing 768 bytes (swallows the next request until the device's receive
        # timeout), then a header with an impossible length.
        garbage = bytes(rnd.randrange(256) for _ in range(200))
        link.port.write(garbage + proto.SYNC + bytes([0x02, 0x99]) + (768).to_bytes(2, "little") + b"\x00" * 5)
        assert link.hello().model_name == "stub"
        link.port.write(proto.SYNC + bytes([0x02, 0x98, 0xFF, 0xFF]) + garbage)
        link.write_input(1, bytes(range(200)) + bytes(100))
        assert link.invoke().status == proto.Status.OK
        assert link.read_output(1) == bytes(4) + sum(range(200)).to_bytes(4, "little")  # in0 is all zero


@pytest.mark.emulator
def test_emulated_firmware_survives_a_truncated_frame(firmware_elf: Path) -> None:
    with Emulator(firmware_elf, link_options={"timeout": 3.0}) as emu:
        cut = proto.encode_frame(MsgType.WRITE_INPUT, 0xC0, proto.encode_write_input(1, 0, bytes(290)))[:100]
        emu.link.port.write(cut)
        time.sleep(0.1)
        assert emu.link.hello().board == "mps2-an500"
        emu.link.port.write(cut)  # and immediately followed by a request
        assert emu.link.hello().board == "mps2-an500"


@pytest.mark.emulator
def test_emulated_firmware_reports_broken_frames(firmware_elf: Path) -> None:
    with Emulator(firmware_elf) as emu:
        link = emu.link
        good = proto.encode_frame(MsgType.HELLO, 0x42)
        link.port.write(good[:-1] + bytes([good[-1] ^ 0xFF]))
        (reply,) = collect(link, 1)
        assert (reply.type, reply.seq, reply.payload[0]) == (MsgType.ERROR, 0x42, ErrorCode.BAD_CRC)

        link.port.write(proto.SYNC + bytes([MsgType.HELLO, 0x43, 0x01, 0x04]))  # 1025 > MAX_PAYLOAD
        (reply,) = collect(link, 1)
        assert (reply.type, reply.seq, reply.payload[0]) == (MsgType.ERROR, 0x43, ErrorCode.BAD_LENGTH)

        link.port.write(proto.encode_frame(0x7F, 0x44) + proto.encode_frame(MsgType.INVOKE, 0x45, b"xy"))
        replies = collect(link, 2)
        assert [(r.type, r.seq, r.payload[0]) for r in replies] == [
            (MsgType.ERROR, 0x44, ErrorCode.UNKNOWN_TYPE),
            (MsgType.ERROR, 0x45, ErrorCode.BAD_PAYLOAD),
        ]
        assert link.hello().model_name == "stub"


@pytest.mark.emulator
def test_emulated_firmware_refuses_bad_requests(firmware_elf: Path) -> None:
    with Emulator(firmware_elf) as emu:
        link = emu.link
        with pytest.raises(DeviceError, match="NOT_READY"):
            link.read_output(1)
        with pytest.raises(DeviceError, match="BAD_INDEX"):
            link.write_input(2, b"x")
        with pytest.raises(DeviceError, match="OUT_OF_RANGE"):
            link.write_input(1, bytes(10), offset=295)
        with pytest.raises(DeviceError, match="OUT_OF_RANGE"):
            link.read_output(1, 4, offset=5)
        link.write_input(1, bytes(300))
        link.invoke()
        assert link.read_output(1) == bytes(8)
        link.write_input(1, b"\x01")
        with pytest.raises(DeviceError, match="NOT_READY"):  # outputs are stale once inputs change
            link.read_output(1)


@pytest.mark.emulator
def test_emulated_firmware_without_profiling_refuses_read_profile(firmware_elf: Path) -> None:
    with Emulator(firmware_elf) as emu:
        with pytest.raises(DeviceError, match="built without profiling"):
            emu.link.read_profile()
        assert emu.link.hello().model_name  # still answering


@pytest.mark.emulator
def test_emulated_firmware_answers_a_duplicate_request_twice(firmware_elf: Path) -> None:
    with Emulator(firmware_elf) as emu:
        invoke = proto.encode_frame(MsgType.INVOKE, 0x50)
        emu.link.port.write(invoke + invoke)
        first, second = collect(emu.link, 2)
        assert first == second and first.type == MsgType.RESULT and first.seq == 0x50
        assert proto.decode_result(first.payload).ticks > 0
        assert emu.link.hello().model_name == "stub"


@pytest.mark.emulator
def test_frozen_emulator_gives_a_bounded_error_then_recovers(firmware_elf: Path) -> None:
    with Emulator(firmware_elf) as emu:
        link = emu.link
        link.hello()
        link.timeout, link.retries = 0.3, 1
        os.kill(emu.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(DeviceError, match=r"did not answer HELLO \(seq 1\): 2 attempts of 0.3 s each"):
                link.hello()
            assert time.monotonic() - started < 1.5
        finally:
            os.kill(emu.process.pid, signal.SIGCONT)
        link.timeout = 2.0
        assert link.hello().model_name == "stub"  # the late replies to seq 1 are discarded as stale
        assert link.counters.stale_frames >= 1


# ---- the emulator launcher ---------------------------------------------------------------------------------


def test_missing_qemu_is_a_toolchain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = tmp_path / "firmware.elf"
    elf.write_bytes(b"\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"qemu-system-arm not found .*apt-get install qemu-system-arm"):
        Emulator(elf).__enter__()


@pytest.mark.emulator
def test_emulator_is_killed_on_exceptions_and_after_its_wall_limit(firmware_elf: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), Emulator(firmware_elf) as emu:
        process = emu.process
        emu.link.hello()
        raise RuntimeError("boom")
    assert process.poll() is not None

    with Emulator(firmware_elf, wall_limit=0.5, link_options={"timeout": 0.3, "retries": 1}) as emu:
        emu.link.hello()
        time.sleep(0.8)
        assert emu.exit_code() is not None  # killed by the watchdog
        with pytest.raises(DeviceError):
            emu.link.hello()


def test_info_of_a_several_model_firmware_round_trips() -> None:
    info = DeviceInfo(1, 1024, 5000, 16384, bytes(range(8)), (3, 70000), (4,), "1.0", "b", "m", "cycles",
                      model_index=1, model_count=2)
    payload = proto.encode_info(info)
    assert payload.endswith(bytes([0, 0, 1, 2]))  # stream flags (none), model index, model count
    assert proto.decode_info(payload) == info
    one = DeviceInfo(1, 1024, 5000, 16384, bytes(range(8)), (3,), (4,), "1.0", "b", "m", "cycles")
    assert proto.decode_info(proto.encode_info(one)) == one  # one model: INFO as before, index 0 of 1
    with pytest.raises(ValueError, match="model index 2 of 2 models"):
        proto.check_info(DeviceInfo(1, 1024, 5000, 16384, bytes(range(8)), (3,), (4,), "1.0", "b", "m", "cycles",
                                    model_index=2, model_count=2))
    with pytest.raises(ValueError, match="expected 0 or 2 stream flags, or those and model index and count"):
        proto.decode_info(payload + b"\x00")
