"""Host side of the firmware protocol: talk to a board (`/dev/ttyACM0`) or to QEMU's TCP serial
(`socket://127.0.0.1:PORT`) alike, through pyserial's serial_for_url.

Every request waits at most `timeout` seconds for its reply (INVOKE: `invoke_timeout`) and is resent with
the same seq at most `retries` times; replies with another seq are stale and dropped; a device that stops
answering yields a DeviceError after a bounded time, never a hang.

Streamed inputs (INFO says which): write_input() keeps their bytes here, and while an INVOKE runs the device
asks for them piece by piece (INPUT_REQUEST), answered with INPUT_DATA; every request restarts the INVOKE's
deadline, since a long streamed inference that keeps asking is making progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import serial

from codegen.errors import DeviceError
from tools.link import protocol as proto
from tools.link.protocol import DeviceInfo, ErrorCode, Frame, InvokeResult, MsgType


def model_hash(model: bytes | Path) -> bytes:
    """The 8-byte model identity the firmware reports: the first 8 bytes of SHA-256 of the .tflite file."""
    data = model.read_bytes() if isinstance(model, Path) else model
    return hashlib.sha256(data).digest()[:8]


def check_model(info: DeviceInfo, expected_hash: bytes, expected_name: str = "",
                input_bytes: Sequence[int] | None = None, output_bytes: Sequence[int] | None = None) -> None:
    """Raise DeviceError when the firmware runs another model than expected (stale firmware), or when it claims
    the expected model but reports tensor sizes that model does not have (a device breaking the protocol)."""
    if info.model_hash != expected_hash[:8]:
        name = f"{expected_name} " if expected_name else ""
        raise DeviceError(
            f"firmware runs model {info.model_name} hash {info.model_hash.hex()}, expected {name}hash "
            f"{expected_hash[:8].hex()}: the firmware is stale, rebuild and flash it"
        )
    for what, got, want in (("input", info.input_bytes, input_bytes), ("output", info.output_bytes, output_bytes)):
        if want is not None and tuple(got) != tuple(want):
            raise DeviceError(f"protocol error: the firmware of model {info.model_name} hash {info.model_hash.hex()} "
                              f"reports {what} sizes {list(got)} bytes, the model's are {list(want)}")


def tensor_bytes(value: np.ndarray | bytes | bytearray | memoryview) -> bytes:
    """Raw little-endian tensor bytes, as the firmware stores them."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    array = np.asarray(value)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


@dataclass(frozen=True)
class InferenceStats:
    ticks: int
    tick_unit: str
    stack_high_water: int
    stack_bytes: int
    wall_seconds: float
    retransmissions: int
    input_ticks: int = 0  # device time spent waiting for streamed input bytes (not in `ticks`)


@dataclass
class LinkCounters:
    requests: int = 0
    retransmissions: int = 0
    stale_frames: int = 0
    input_requests: int = 0  # INPUT_REQUESTs answered


class DeviceLink:
    """One open connection to a device running the firmware. Use as a context manager or call close()."""

    def __init__(
        self,
        port: serial.SerialBase,
        *,
        name: str = "",
        timeout: float = 2.0,
        invoke_timeout: float = 60.0,
        retries: int = 2,
        poll_interval: float = 0.05,
        peer_ended: Callable[[float], str | None] | None = None,
    ):
        self.port = port
        self.name = name or str(getattr(port, "port", "") or "device")
        self.timeout = timeout
        self.invoke_timeout = invoke_timeout
        self.retries = retries
        # Says why the device's process ended (an emulator), None while it runs; waits up to the given seconds.
        self.peer_ended = peer_ended
        self.info: DeviceInfo | None = None
        # The model addressed (firmware with several models); HELLO, INVOKE and RESET name it when it is not 0.
        self.model_index = 0
        self.counters = LinkCounters()
        self.decoder = proto.FrameDecoder()
        self._pending: deque[Frame] = deque()
        self._seq = 0
        # Bytes of the streamed inputs, kept host-side until the device asks for them during INVOKE.
        self._streamed: dict[int, bytearray] = {}
        self._last_input_request: tuple[int, int, int] | None = None
        # A short read timeout: reads return at least this often so that deadlines are checked.
        self.port.timeout = poll_interval
        self.port.write_timeout = max(timeout, 1.0)

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, **options: float | int) -> DeviceLink:
        try:
            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open {url}: {exc}") from exc
        return cls(port, name=url, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- requests ----------------------------------------------------------------------------------

    def hello(self, model_index: int | None = None) -> DeviceInfo:
        """INFO of the addressed model; with `model_index`, address that model from now on (firmware with several
        models: INVOKE, RESET, inputs and outputs are then that model's)."""
        if model_index is not None:
            if not 0 <= model_index <= 255:
                raise DeviceError(f"model index {model_index} is outside 0..255")
            if model_index != self.model_index:
                self.info = None
                self._streamed.clear()
            self.model_index = model_index
        reply = self.request(MsgType.HELLO, self._model_payload())
        try:
            info = proto.decode_info(reply.payload)
        except ValueError as exc:
            raise self._broken(str(exc)) from None
        if info.protocol_version != proto.VERSION:
            raise DeviceError(
                f"{self.name} speaks protocol version {info.protocol_version}, this host speaks {proto.VERSION}: "
                "rebuild the firmware"
            )
        try:
            proto.check_info(info)
        except ValueError as exc:
            raise self._broken(f"INFO: {exc}") from None
        if info.model_index != self.model_index:
            raise self._broken(f"INFO of model {info.model_index} to a HELLO for model {self.model_index}")
        if self.info is not None and (self.info.model_hash, self.info.input_bytes) != (
            info.model_hash,
            info.input_bytes,
        ):
            self._streamed.clear()  # another model now: its streamed inputs were never written
        self.info = info
        return info

    def expect_model(self, expected_hash: bytes, expected_name: str = "", input_bytes: Sequence[int] | None = None,
                     output_bytes: Sequence[int] | None = None) -> DeviceInfo:
        """HELLO, then check that the firmware runs the expected model, with its tensor sizes (see check_model)."""
        info = self.hello()
        check_model(info, expected_hash, expected_name, input_bytes, output_bytes)
        return info

    def write_input(self, index: int, data: bytes, offset: int = 0) -> None:
        info = self._info()
        if 0 <= index < len(info.input_streamed) and info.input_streamed[index]:
            # Kept here: the device asks for these bytes while INVOKE runs (it never holds them whole).
            size = info.input_bytes[index]
            if offset < 0 or offset + len(data) > size:
                raise DeviceError(f"write of {len(data)} bytes at offset {offset} runs past the end of input "
                                  f"{index} ({size} bytes)")
            self._streamed.setdefault(index, bytearray(size))[offset : offset + len(data)] = data
            return
        chunk = info.max_payload - proto.WRITE_INPUT_HEADER
        for start in range(0, len(data), chunk) if data else []:
            part = data[start : start + chunk]
            self.request(MsgType.WRITE_INPUT, proto.encode_write_input(index, offset + start, part))

    def invoke(self) -> InvokeResult:
        info = self._info()
        for index, streamed in enumerate(info.input_streamed):
            if streamed and index not in self._streamed:
                raise DeviceError(f"input {index} was not written before INVOKE (it is streamed: the device asks "
                                  "for its bytes while the model runs)")
        self._last_input_request = None
        reply = self.request(MsgType.INVOKE, self._model_payload(), timeout=self.invoke_timeout)
        try:
            result = proto.decode_result(reply.payload)
        except ValueError as exc:
            raise self._broken(str(exc)) from None
        if result.status not in {int(status) for status in proto.Status}:
            raise self._broken(f"RESULT status {result.status} is not one of {[int(s) for s in proto.Status]}")
        if result.stack_high_water > info.stack_bytes:
            raise self._broken(f"RESULT stack high-water {result.stack_high_water} bytes exceeds the "
                               f"{info.stack_bytes}-byte stack of its INFO")
        return result

    def reset_state(self) -> None:
        """Zero the addressed model's variable tensors (e.g. SVDF state), as at start-up (RESET)."""
        try:
            self.request(MsgType.RESET, self._model_payload())
        except DeviceError as exc:
            if f": {ErrorCode.UNKNOWN_TYPE.name}:" in str(exc):
                raise DeviceError(f"{self.name}: firmware without RESET (older than the request): rebuild it with "
                                  "codegen build") from exc
            raise

    def _model_payload(self) -> bytes:
        """HELLO, INVOKE and RESET name the model unless it is model 0 (what firmware with one model expects)."""
        return bytes([self.model_index]) if self.model_index else b""

    def read_output(self, index: int, length: int | None = None, offset: int = 0) -> bytes:
        info = self._info()
        if length is None:
            if not 0 <= index < len(info.output_bytes):
                raise DeviceError(f"the firmware's model has {len(info.output_bytes)} outputs, no output {index}")
            length = info.output_bytes[index] - offset
        out = bytearray()
        while len(out) < length:
            n = min(info.max_payload, length - len(out))
            reply = self.request(MsgType.READ_OUTPUT, proto.encode_read_output(index, offset + len(out), n))
            if len(reply.payload) != n:
                raise DeviceError(f"{self.name} sent {len(reply.payload)} bytes of output {index}, {n} were asked")
            out += reply.payload
        return bytes(out)

    def read_profile(self, expected_points: int | None = None) -> list[int]:
        """Cumulative ticks after each kernel call of the last INVOKE (firmware built with profiling); with
        `expected_points` (the model's profile points) a device reporting another count is a protocol error."""
        ticks: list[int] = []
        total = None
        while total is None or len(ticks) < total:
            try:
                ask = proto.encode_read_profile(len(ticks), proto.PROFILE_MAX_POINTS)
                reply = self.request(MsgType.READ_PROFILE, ask)
            except DeviceError as exc:
                if f": {ErrorCode.UNKNOWN_TYPE.name}:" in str(exc):
                    raise DeviceError(f"{self.name}: firmware built without profiling: rebuild it with "
                                      "profile=True (make PROFILE=1) to read per-call ticks") from exc
                raise
            try:
                reported, part = proto.decode_profile(reply.payload)
            except ValueError as exc:
                raise self._broken(str(exc)) from None
            self._check_profile_page(reported, total, expected_points, len(ticks), part)
            total = reported
            if not part and len(ticks) < total:
                raise DeviceError(f"{self.name} sent no profile points from {len(ticks)} of {total}")
            joined = ticks[-1:] + part
            if any(b < a for a, b in zip(joined, joined[1:], strict=False)):
                raise self._broken("profile ticks are cumulative, but they decrease")
            ticks += part
        return ticks

    def _check_profile_page(self, reported: int, total: int | None, expected: int | None, have: int,
                            part: list[int]) -> None:
        if expected is not None and reported != expected:
            raise self._broken(f"profile of {reported} points, the model has {expected}")
        if total is not None and reported != total:
            raise self._broken(f"profile of {reported} points after {total} in an earlier reply")
        if len(part) > min(proto.PROFILE_MAX_POINTS, reported - have):
            raise self._broken(f"{len(part)} profile points from point {have} of {reported}")

    def infer(
        self, inputs: Sequence[np.ndarray | bytes | bytearray | memoryview]
    ) -> tuple[list[bytes], InferenceStats]:
        """Write every input, run the model once, read every output (raw bytes)."""
        started = time.monotonic()
        retransmitted = self.counters.retransmissions
        info = self.info or self.hello()
        if len(inputs) != len(info.input_bytes):
            raise DeviceError(f"the firmware's model takes {len(info.input_bytes)} inputs, {len(inputs)} given")
        raw = [tensor_bytes(x) for x in inputs]
        for i, (data, size) in enumerate(zip(raw, info.input_bytes, strict=True)):
            if len(data) != size:
                raise DeviceError(f"input {i} has {len(data)} bytes, the firmware's model expects {size}")
        for i, data in enumerate(raw):
            self.write_input(i, data)
        result = self.invoke()
        if result.status == proto.Status.STACK_OVERFLOW:
            raise DeviceError(
                f"stack overflow while the model ran: it needs more than the {info.stack_bytes}-byte stack; "
                "rebuild with a larger stack"
            )
        if result.status == proto.Status.INPUT_STREAM_FAILED:
            last = self._last_input_request
            asked = f"input {last[0]} bytes {last[1]}..{last[1] + last[2]}" if last else "none arrived"
            raise DeviceError(
                f"{self.name}: input stream failed: the device gave up waiting for INPUT_DATA during INVOKE (its last "
                f"request: {asked}); the outputs are invalid"
            )
        if result.status != proto.Status.OK:
            raise DeviceError(f"{self.name} reported invoke status {result.status}")
        outputs = [self.read_output(i) for i in range(len(info.output_bytes))]
        stats = InferenceStats(
            ticks=result.ticks,
            tick_unit=info.tick_unit,
            stack_high_water=result.stack_high_water,
            stack_bytes=info.stack_bytes,
            wall_seconds=time.monotonic() - started,
            retransmissions=self.counters.retransmissions - retransmitted,
            input_ticks=result.input_ticks,
        )
        return outputs, stats

    def request(self, msg_type: MsgType, payload: bytes = b"", *, timeout: float | None = None) -> Frame:
        """Send one request and return its reply frame (of the type REPLY_TO[msg_type])."""
        timeout = self.timeout if timeout is None else timeout
        seq = self._seq
        self._seq = (seq + 1) & 0xFF
        frame = proto.encode_frame(msg_type, seq, payload)
        what = f"{msg_type.name} (seq {seq})"
        expected = proto.REPLY_TO[msg_type]
        self.counters.requests += 1
        problem = "no reply"
        attempts = 1 + self.retries
        for attempt in range(attempts):
            if attempt:
                self.counters.retransmissions += 1
            self._write(frame)
            reply = self._await_reply(seq, timeout, frame if msg_type == MsgType.INVOKE else None)
            if reply is None:
                problem = "no reply"
                continue
            if reply is _GARBLED:
                problem = "garbled reply"
                continue
            if reply.type == MsgType.ERROR:
                code, message = proto.decode_error(reply.payload)
                if code == ErrorCode.FAULT:
                    raise DeviceError(f"{self.name} crashed during {what}: {message}")
                if code in proto.RETRYABLE_ERRORS:
                    problem = f"last reply {proto.error_name(code)}"
                    continue
                raise DeviceError(f"{self.name} refused {what}: {proto.error_name(code)}: {message}")
            if reply.type != expected:
                raise DeviceError(f"{self.name} answered {what} with message type {reply.type:#04x}")
            if expected == MsgType.ACK and reply.payload:
                raise self._broken(f"ACK to {what} with a {len(reply.payload)}-byte payload (it has none)")
            return reply
        ended = self.peer_ended(0.0) if self.peer_ended is not None else None
        if ended is not None:
            raise DeviceError(f"{ended} (during {what})")
        raise DeviceError(
            f"{self.name} did not answer {what}: {attempts} attempts of {timeout:g} s each, {problem}"
        )

    # ---- transport ---------------------------------------------------------------------------------

    def _broken(self, problem: str) -> DeviceError:
        """The error for a reply that parses but breaks the protocol's rules (PROTOCOL.md)."""
        return DeviceError(f"protocol error: {self.name} sent {problem}")

    def _info(self) -> DeviceInfo:
        return self.info or self.hello()

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except serial.SerialTimeoutException as exc:
            raise DeviceError(f"{self.name} does not accept data (write timed out)") from exc
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None

    def _read(self) -> bytes:
        try:
            return self.port.read(self.decoder.bytes_wanted())
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: BaseException) -> DeviceError:
        """The connection broke: say why the device's process ended if it did (QEMU's own message)."""
        ended = self.peer_ended(1.0) if self.peer_ended is not None else None
        return DeviceError(ended or f"connection to {self.name} lost: {exc}")

    def _await_reply(self, seq: int, timeout: float, invoke: bytes | None = None) -> Frame | None:
        """The next frame with this seq (or a fault report); _GARBLED when a corrupted frame arrived and the
        line went quiet (resend at once rather than wait out a long INVOKE timeout); None when `timeout` passed
        without a reply.

        `invoke` (the INVOKE frame being waited on) enables streamed inputs: INPUT_REQUESTs with this seq are
        answered and restart the timeout. Once the device has asked for input, a corrupted frame is probably a
        request (the device asks again by itself) but may be the RESULT: the INVOKE is resent at once without
        counting as an attempt (a device still running drops it, one that finished replies from its cache)."""
        deadline = time.monotonic() + timeout
        bad_frames = self.decoder.bad_frames
        streaming = False
        while True:
            while self._pending:
                frame = self._pending.popleft()
                if frame.type == MsgType.INPUT_REQUEST:
                    if invoke is None or frame.seq != seq:
                        self.counters.stale_frames += 1  # a device that gave up on an earlier INVOKE
                        continue
                    with contextlib.suppress(ValueError):
                        self._last_input_request = proto.decode_input_request(frame.payload)
                    self._answer_input_request(frame)
                    streaming = True
                    deadline = time.monotonic() + timeout
                    continue
                if frame.seq == seq or _is_fault(frame):
                    return frame
                self.counters.stale_frames += 1
            if time.monotonic() >= deadline:
                return None
            data = self._read()
            if data:
                self._pending.extend(self.decoder.feed(data))
            elif self.decoder.buffer:
                # A candidate frame stopped arriving: resynchronise past its start.
                self._pending.extend(self.decoder.expire())
            elif self.decoder.bad_frames != bad_frames:
                if not streaming or invoke is None:
                    return _GARBLED
                bad_frames = self.decoder.bad_frames
                self.counters.retransmissions += 1
                self._write(invoke)

    def _answer_input_request(self, request: Frame) -> None:
        """Send the INPUT_DATA that answers an INPUT_REQUEST of the running INVOKE, from write_input()'s bytes."""
        info = self._info()
        try:
            index, offset, length = proto.decode_input_request(request.payload)
        except ValueError as exc:
            raise self._broken(str(exc)) from None
        if not (0 <= index < len(info.input_streamed) and info.input_streamed[index]):
            raise DeviceError(f"{self.name} asked for bytes of input {index} during INVOKE, but its model has no "
                              f"streamed input {index}")
        data = self._streamed.get(index)
        if data is None:
            raise DeviceError(f"input {index} was not written before INVOKE (the device asks for its bytes)")
        if length < 1 or length > info.max_payload - proto.INPUT_DATA_HEADER or offset + length > len(data):
            raise DeviceError(f"{self.name} asked for bytes {offset}..{offset + length} of input {index}, which "
                              f"has {len(data)} bytes (and at most {info.max_payload - proto.INPUT_DATA_HEADER} "
                              "fit one INPUT_DATA)")
        chunk = bytes(data[offset : offset + length])
        self._write(proto.encode_frame(MsgType.INPUT_DATA, request.seq, proto.encode_input_data(index, offset, chunk)))
        self.counters.input_requests += 1


# Stands for "a reply came back corrupted".
_GARBLED = Frame(-1, -1, b"")


def _is_fault(frame: Frame) -> bool:
    return frame.type == MsgType.ERROR and frame.payload[:1] == bytes([ErrorCode.FAULT])
