"""Host side of the firmware protocol: talk to a board (`/dev/ttyACM0`) or to QEMU's TCP serial
(`socket://127.0.0.1:PORT`) alike, through pyserial's serial_for_url.

Every request waits at most `timeout` seconds for its reply (INVOKE: `invoke_timeout`) and is resent with
the same seq at most `retries` times; replies with another seq are stale and dropped; a device that stops
answering yields a DeviceError after a bounded time, never a hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import serial

from codegen.errors import DeviceError
from tools import protocol as proto
from tools.protocol import DeviceInfo, ErrorCode, Frame, InvokeResult, MsgType


def model_hash(model: bytes | Path) -> bytes:
    """The 8-byte model identity the firmware reports: the first 8 bytes of SHA-256 of the .tflite file."""
    data = model.read_bytes() if isinstance(model, Path) else model
    return hashlib.sha256(data).digest()[:8]


def check_model(info: DeviceInfo, expected_hash: bytes, expected_name: str = "") -> None:
    """Raise DeviceError when the firmware runs another model than expected (stale firmware)."""
    if info.model_hash != expected_hash[:8]:
        name = f"{expected_name} " if expected_name else ""
        raise DeviceError(
            f"firmware runs model {info.model_name} hash {info.model_hash.hex()}, expected {name}hash "
            f"{expected_hash[:8].hex()}: the firmware is stale, rebuild and flash it"
        )


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


@dataclass
class LinkCounters:
    requests: int = 0
    retransmissions: int = 0
    stale_frames: int = 0


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
    ):
        self.port = port
        self.name = name or str(getattr(port, "port", "") or "device")
        self.timeout = timeout
        self.invoke_timeout = invoke_timeout
        self.retries = retries
        self.info: DeviceInfo | None = None
        self.counters = LinkCounters()
        self.decoder = proto.FrameDecoder()
        self._pending: deque[Frame] = deque()
        self._seq = 0
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

    def hello(self) -> DeviceInfo:
        reply = self.request(MsgType.HELLO)
        try:
            info = proto.decode_info(reply.payload)
        except ValueError as exc:
            raise DeviceError(f"{self.name}: {exc}") from exc
        if info.protocol_version != proto.VERSION:
            raise DeviceError(
                f"{self.name} speaks protocol version {info.protocol_version}, this host speaks {proto.VERSION}: "
                "rebuild the firmware"
            )
        self.info = info
        return info

    def expect_model(self, expected_hash: bytes, expected_name: str = "") -> DeviceInfo:
        """HELLO, then check that the firmware runs the expected model (see check_model)."""
        info = self.hello()
        check_model(info, expected_hash, expected_name)
        return info

    def write_input(self, index: int, data: bytes, offset: int = 0) -> None:
        info = self._info()
        chunk = info.max_payload - proto.WRITE_INPUT_HEADER
        for start in range(0, len(data), chunk) if data else []:
            part = data[start : start + chunk]
            self.request(MsgType.WRITE_INPUT, proto.encode_write_input(index, offset + start, part))

    def invoke(self) -> InvokeResult:
        reply = self.request(MsgType.INVOKE, timeout=self.invoke_timeout)
        try:
            return proto.decode_result(reply.payload)
        except ValueError as exc:
            raise DeviceError(f"{self.name}: {exc}") from exc

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

    def read_profile(self) -> list[int]:
        """Cumulative ticks after each kernel call of the last INVOKE (firmware built with profiling)."""
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
                total, part = proto.decode_profile(reply.payload)
            except ValueError as exc:
                raise DeviceError(f"{self.name}: {exc}") from exc
            if not part and len(ticks) < total:
                raise DeviceError(f"{self.name} sent no profile points from {len(ticks)} of {total}")
            ticks += part
        return ticks

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
            reply = self._await_reply(seq, time.monotonic() + timeout)
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
            return reply
        raise DeviceError(
            f"{self.name} did not answer {what}: {attempts} attempts of {timeout:g} s each, {problem}"
        )

    # ---- transport ---------------------------------------------------------------------------------

    def _info(self) -> DeviceInfo:
        return self.info or self.hello()

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except serial.SerialTimeoutException as exc:
            raise DeviceError(f"{self.name} does not accept data (write timed out)") from exc
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"connection to {self.name} lost: {exc}") from exc

    def _read(self) -> bytes:
        try:
            return self.port.read(self.decoder.bytes_wanted())
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"connection to {self.name} lost: {exc}") from exc

    def _await_reply(self, seq: int, deadline: float) -> Frame | None:
        """The next frame with this seq (or a fault report); _GARBLED when a corrupted frame arrived and the
        line went quiet (resend at once rather than wait out a long INVOKE timeout); None at the deadline."""
        bad_frames = self.decoder.bad_frames
        while True:
            while self._pending:
                frame = self._pending.popleft()
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
                return _GARBLED


# Stands for "a reply came back corrupted".
_GARBLED = Frame(-1, -1, b"")


def _is_fault(frame: Frame) -> bool:
    return frame.type == MsgType.ERROR and frame.payload[:1] == bytes([ErrorCode.FAULT])
