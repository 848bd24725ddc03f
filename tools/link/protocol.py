"""The framed UART protocol spoken by the firmware (firmware/PROTOCOL.md), host side: constants, frame
encoding, a resynchronising decoder, and the payload codecs of every message.

frame = 0xA5 0x5A | type u8 | seq u8 | length u16 LE | payload | CRC-32 (zlib) LE over type..payload.
The constants carry the names of firmware/protocol.h without the PROTO_ prefix; a test compares them.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum

VERSION = 1
SYNC = b"\xa5\x5a"
HEADER_BYTES = 6
CRC_BYTES = 4
MAX_PAYLOAD = 1024
FRAME_MAX = HEADER_BYTES + MAX_PAYLOAD + CRC_BYTES
MIN_FRAME = HEADER_BYTES + CRC_BYTES
WRITE_INPUT_HEADER = 5  # index u8, offset u32
INPUT_DATA_HEADER = 5  # index u8, offset u32
INPUT_CHUNK_MAX = MAX_PAYLOAD - INPUT_DATA_HEADER  # the most bytes one INPUT_REQUEST asks for
# A host-side rule, not a firmware constant: the smallest max payload a device may announce in INFO. Every device
# must carry its own ERROR replies (code + 63 message bytes), and below this no input or output chunk fits.
DEVICE_PAYLOAD_MIN = 64


class MsgType(IntEnum):
    HELLO = 0x01
    WRITE_INPUT = 0x02
    INVOKE = 0x03
    READ_OUTPUT = 0x04
    READ_PROFILE = 0x05
    INPUT_DATA = 0x06  # answers an INPUT_REQUEST; no reply
    RESET = 0x07  # [model index u8]: zero the model's variable tensors
    INFO = 0x81
    ACK = 0x82
    RESULT = 0x83
    DATA = 0x84
    INPUT_REQUEST = 0x85  # sent by the device during an INVOKE, with the INVOKE's seq
    ERROR = 0xEE


REPLY_TO = {
    MsgType.HELLO: MsgType.INFO,
    MsgType.WRITE_INPUT: MsgType.ACK,
    MsgType.INVOKE: MsgType.RESULT,
    MsgType.READ_OUTPUT: MsgType.DATA,
    MsgType.READ_PROFILE: MsgType.DATA,
    MsgType.RESET: MsgType.ACK,
}


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_LENGTH = 2
    TIMEOUT = 3
    UNKNOWN_TYPE = 4
    BAD_PAYLOAD = 5
    BAD_INDEX = 6
    OUT_OF_RANGE = 7
    NOT_READY = 8
    FAULT = 9


# Errors about the frame itself, not the request: resend the same frame at once.
RETRYABLE_ERRORS = frozenset({ErrorCode.BAD_CRC, ErrorCode.BAD_LENGTH, ErrorCode.TIMEOUT})


class Status(IntEnum):
    OK = 0
    STACK_OVERFLOW = 1
    INPUT_STREAM_FAILED = 2  # an INPUT_REQUEST went unanswered; the model read zeros from there on


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte maximum")
    body = struct.pack("<BBH", msg_type, seq & 0xFF, len(payload)) + payload
    return SYNC + body + struct.pack("<I", crc32(body))


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass
class FrameDecoder:
    """Turns a byte stream into frames. Like the device: hunt for the sync, and on a bad length or CRC drop
    the first byte of the failed candidate and hunt again (so a frame hidden inside garbage is still found).
    """

    max_payload: int = MAX_PAYLOAD
    buffer: bytearray = field(default_factory=bytearray)
    dropped_bytes: int = 0
    bad_frames: int = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def expire(self) -> list[Frame]:
        """Give up on a candidate frame that stopped arriving; return the frames found past its start."""
        if not self.buffer:
            return []
        self._skip(1)
        self.bad_frames += 1
        return self.feed(b"")

    def bytes_wanted(self) -> int:
        """The least number of further bytes that could complete a frame (reading more is harmless)."""
        buf = self.buffer
        if len(buf) >= HEADER_BYTES and buf[:2] == SYNC:
            (length,) = struct.unpack_from("<H", buf, 4)
            return max(1, HEADER_BYTES + min(length, self.max_payload) + CRC_BYTES - len(buf))
        return max(1, MIN_FRAME - len(buf))

    def _skip(self, n: int) -> None:
        del self.buffer[:n]
        self.dropped_bytes += n

    def _next(self) -> Frame | None:
        while True:
            buf = self.buffer
            start = buf.find(SYNC)
            if start < 0:
                # Keep a trailing 0xA5: it may be the first half of a sync.
                self._skip(len(buf) - 1 if buf.endswith(SYNC[:1]) else len(buf))
                return None
            self._skip(start)
            if len(buf) < HEADER_BYTES:
                return None
            msg_type, seq, length = struct.unpack_from("<BBH", buf, 2)
            if length > self.max_payload:
                self.bad_frames += 1
                self._skip(1)
                continue
            end = HEADER_BYTES + length
            if len(buf) < end + CRC_BYTES:
                return None
            (sent,) = struct.unpack_from("<I", buf, end)
            if sent != crc32(bytes(buf[2:end])):
                self.bad_frames += 1
                self._skip(1)
                continue
            frame = Frame(msg_type, seq, bytes(buf[HEADER_BYTES:end]))
            del buf[: end + CRC_BYTES]
            return frame


# ---- payloads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """The INFO reply to HELLO."""

    protocol_version: int
    max_payload: int
    arena_bytes: int
    stack_bytes: int
    model_hash: bytes
    input_bytes: tuple[int, ...]
    output_bytes: tuple[int, ...]
    firmware_version: str
    board: str
    model_name: str
    tick_unit: str
    # One flag per input: True when the model reads it piecewise through INPUT_REQUEST during INVOKE (it is
    # never written to the device). Missing flags (older firmware, or a model without streamed inputs) are False.
    input_streamed: tuple[bool, ...] = ()
    # Firmware carrying several models (codegen build --model A --model B): which one this INFO describes, of how
    # many. Firmware with one model sends neither (index 0 of 1).
    model_index: int = 0
    model_count: int = 1

    def __post_init__(self) -> None:
        flags = tuple(bool(x) for x in self.input_streamed[: len(self.input_bytes)])
        object.__setattr__(self, "input_streamed", flags + (False,) * (len(self.input_bytes) - len(flags)))


_INFO_FIXED = struct.Struct("<BHBBII8s")


def encode_info(info: DeviceInfo) -> bytes:
    out = bytearray(
        _INFO_FIXED.pack(
            info.protocol_version,
            info.max_payload,
            len(info.input_bytes),
            len(info.output_bytes),
            info.arena_bytes,
            info.stack_bytes,
            info.model_hash,
        )
    )
    out += struct.pack(f"<{len(info.input_bytes) + len(info.output_bytes)}I", *info.input_bytes, *info.output_bytes)
    for text in (info.firmware_version, info.board, info.model_name, info.tick_unit):
        raw = text.encode()[:63]
        out += bytes([len(raw)]) + raw
    if info.model_count > 1 or any(info.input_streamed):
        out += bytes(int(x) for x in info.input_streamed)
    if info.model_count > 1:
        out += bytes([info.model_index, info.model_count])
    return bytes(out)


def decode_info(payload: bytes) -> DeviceInfo:
    """Decode INFO; ValueError when it does not parse (the fields' values are judged by check_info)."""
    try:
        version, max_payload, n_in, n_out, arena, stack, model_hash = _INFO_FIXED.unpack_from(payload)
        pos = _INFO_FIXED.size
        sizes = struct.unpack_from(f"<{n_in + n_out}I", payload, pos)
        pos += 4 * (n_in + n_out)
        texts = []
        for _ in range(4):
            n = payload[pos]
            raw = payload[pos + 1 : pos + 1 + n]
            if len(raw) != n:
                raise ValueError("string runs past the payload")
            texts.append(raw.decode("utf-8", errors="replace"))  # the firmware may cut a character at 63 bytes
            pos += 1 + n
        streamed = payload[pos : pos + n_in]  # absent before streaming existed: __post_init__ pads with False
        if len(payload) not in (pos, pos + n_in, pos + n_in + 2):
            raise ValueError(f"{len(payload) - pos} bytes after the strings, expected 0 or {n_in} stream flags, "
                             "or those and model index and count")
        model_index, model_count = payload[pos + n_in : pos + n_in + 2] or (0, 1)
        if any(flag > 1 for flag in streamed):
            raise ValueError(f"stream flags {list(streamed)} are not 0 or 1")
    except (struct.error, IndexError, ValueError) as exc:
        raise ValueError(f"malformed INFO payload ({len(payload)} bytes): {exc}") from exc
    return DeviceInfo(
        protocol_version=version,
        max_payload=max_payload,
        arena_bytes=arena,
        stack_bytes=stack,
        model_hash=model_hash,
        input_bytes=tuple(sizes[:n_in]),
        output_bytes=tuple(sizes[n_in:]),
        firmware_version=texts[0],
        board=texts[1],
        model_name=texts[2],
        tick_unit=texts[3],
        input_streamed=tuple(bool(x) for x in streamed),
        model_index=model_index,
        model_count=model_count,
    )


def tick_unit_ok(unit: str) -> bool:
    """`cycles`, or `instructions/N` (one tick per N executed instructions, N >= 1)."""
    if unit == "cycles":
        return True
    head, _, per_tick = unit.partition("/")
    return head == "instructions" and per_tick.isascii() and per_tick.isdigit() and int(per_tick) >= 1


def check_info(info: DeviceInfo) -> None:
    """Raise ValueError naming the first INFO field whose value the protocol does not allow."""
    if not DEVICE_PAYLOAD_MIN <= info.max_payload <= MAX_PAYLOAD:
        raise ValueError(f"max payload {info.max_payload} is outside {DEVICE_PAYLOAD_MIN}..{MAX_PAYLOAD}")
    for what, sizes in (("input", info.input_bytes), ("output", info.output_bytes)):
        if not sizes:
            raise ValueError(f"no {what}s (a model has 1..255)")
        if 0 in sizes:
            raise ValueError(f"{what} {sizes.index(0)} has 0 bytes")
    if info.stack_bytes == 0:
        raise ValueError("a 0-byte stack")
    if not tick_unit_ok(info.tick_unit):
        raise ValueError(f"tick unit {info.tick_unit!r} is neither 'cycles' nor 'instructions/N'")
    if not 0 <= info.model_index < info.model_count:
        raise ValueError(f"model index {info.model_index} of {info.model_count} models")


@dataclass(frozen=True)
class InvokeResult:
    """The RESULT reply to INVOKE."""

    status: int
    ticks: int  # model_invoke() alone: time spent waiting for streamed input bytes is excluded
    stack_high_water: int
    input_ticks: int = 0  # time inside model_read_input(), waiting for the host; 0 from older firmware


_RESULT = struct.Struct("<BQIQ")
_RESULT_OLD_BYTES = 13  # before input_ticks; also what firmware for a model without streamed inputs sends


def encode_result(result: InvokeResult) -> bytes:
    return _RESULT.pack(result.status, result.ticks, result.stack_high_water, result.input_ticks)


def decode_result(payload: bytes) -> InvokeResult:
    if len(payload) == _RESULT_OLD_BYTES:
        payload += bytes(_RESULT.size - _RESULT_OLD_BYTES)
    if len(payload) != _RESULT.size:
        raise ValueError(
            f"malformed RESULT payload ({len(payload)} bytes, expected {_RESULT_OLD_BYTES} or {_RESULT.size})"
        )
    return InvokeResult(*_RESULT.unpack(payload))


def encode_write_input(index: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", index, offset) + data


def decode_write_input(payload: bytes) -> tuple[int, int, bytes]:
    index, offset = struct.unpack_from("<BI", payload)
    return index, offset, payload[WRITE_INPUT_HEADER:]


def encode_input_request(index: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", index, offset, length)


def decode_input_request(payload: bytes) -> tuple[int, int, int]:
    """(input index, offset, length) of an INPUT_REQUEST."""
    if len(payload) != 7:
        raise ValueError(f"malformed INPUT_REQUEST payload ({len(payload)} bytes, expected 7)")
    return struct.unpack("<BIH", payload)


def encode_input_data(index: int, offset: int, data: bytes) -> bytes:
    return struct.pack("<BI", index, offset) + data


def decode_input_data(payload: bytes) -> tuple[int, int, bytes]:
    index, offset = struct.unpack_from("<BI", payload)
    return index, offset, payload[INPUT_DATA_HEADER:]


def encode_read_output(index: int, offset: int, length: int) -> bytes:
    return struct.pack("<BIH", index, offset, length)


def decode_read_output(payload: bytes) -> tuple[int, int, int]:
    return struct.unpack("<BIH", payload)


PROFILE_HEADER = 4  # total points u32
PROFILE_MAX_POINTS = (MAX_PAYLOAD - PROFILE_HEADER) // 4


def encode_read_profile(first: int, count: int) -> bytes:
    return struct.pack("<IH", first, count)


def decode_read_profile(payload: bytes) -> tuple[int, int]:
    return struct.unpack("<IH", payload)


def encode_profile(total: int, ticks: list[int]) -> bytes:
    return struct.pack(f"<I{len(ticks)}I", total, *ticks)


def decode_profile(payload: bytes) -> tuple[int, list[int]]:
    """(total points, the u32 ticks carried by this reply)."""
    if len(payload) < PROFILE_HEADER or len(payload) % 4:
        raise ValueError(f"malformed profile DATA payload ({len(payload)} bytes)")
    (total,) = struct.unpack_from("<I", payload)
    return total, list(struct.unpack_from(f"<{len(payload) // 4 - 1}I", payload, PROFILE_HEADER))


def encode_error(code: int, message: str) -> bytes:
    return bytes([code]) + message.encode()[:63]


def decode_error(payload: bytes) -> tuple[int, str]:
    if not payload:
        return 0, "(empty ERROR payload)"
    return payload[0], payload[1:].decode("ascii", errors="replace")


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"error {code}"
