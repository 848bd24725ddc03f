"""Fuzz the host side of the serial link (tools/link/device_link.py, tools/link/protocol.py) with a misbehaving device.

A peer on a real TCP socket (the host connects through pyserial's `socket://`, as it does to QEMU) answers
the host's requests as the firmware would (PROTOCOL.md, streamed inputs included), and mutates the frames it
sends: bit flips, truncation, wrong lengths and CRCs, huge lengths, garbage, wrong seq and type, payload
fields changed under a valid CRC, duplicates, delays, silence, hang-ups. Each session is one HELLO + model
check + inference as `codegen eval` drives it; the host must end it in success or a clean DeviceError within
its time bound, never with another exception (a crash) and never past the bound (a hang).

    python -m scripts.fuzz_link --sessions 10000 [--seed 0]

prints sessions, mutated frames (cases), successes, clean errors, crashes and hangs; exit status 1 if any
session crashed or hung.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from codegen.errors import DeviceError
from tools.link import protocol as proto
from tools.link.device_link import DeviceLink
from tools.link.protocol import DeviceInfo, ErrorCode, Frame, MsgType

MUTATIONS = ("flip", "truncate", "length", "length_crc", "crc", "huge", "garbage", "silence", "duplicate", "seq",
             "type", "field", "resize", "split", "delay", "hangup")
_WEIGHTED = (*MUTATIONS, "field", "field", "field")  # lies under a valid CRC reach the deepest checks


@dataclass(frozen=True)
class PeerModel:
    """What the peer's firmware reports and computes: output k = input k with every byte inverted."""

    model_hash: bytes = bytes.fromhex("f022f022f022f022")
    input_bytes: tuple[int, ...] = (1500, 3)
    streamed: tuple[bool, ...] = (False, False)
    max_payload: int = proto.MAX_PAYLOAD
    stack_bytes: int = 16384
    tick_unit: str = "instructions/40"

    @property
    def output_bytes(self) -> tuple[int, ...]:
        return self.input_bytes

    def info(self) -> DeviceInfo:
        return DeviceInfo(proto.VERSION, self.max_payload, 4096, self.stack_bytes, self.model_hash,
                          self.input_bytes, self.output_bytes, "0.1.0", "fuzz-peer", "fuzz", self.tick_unit,
                          self.streamed)

    def compute(self, inputs: list[bytes]) -> list[bytes]:
        return [bytes(b ^ 0xFF for b in data) for data in inputs]


class PeerClosed(Exception):
    """The host went away (or the peer hung up on purpose)."""


@dataclass
class Peer:
    """The device side of one connection: the firmware's rules on requests; `send` applies the mutations."""

    conn: socket.socket
    model: PeerModel
    send: Callable[[bytes], None]
    info_override: Callable[[bytes], bytes] | None = None  # rewrites the INFO payload (tests of bad fields)
    stream_wait: float = 0.05
    decoder: proto.FrameDecoder = field(default_factory=proto.FrameDecoder)
    pending: list[Frame] = field(default_factory=list)
    inputs: list[bytearray] = field(default_factory=list)
    outputs: list[bytes] | None = None
    last: tuple[int, int, bytes] | None = None  # (type, seq, payload) of the last request, for retransmissions
    last_reply: bytes = b""

    def __post_init__(self) -> None:
        self.inputs = [bytearray(n) for n in self.model.input_bytes]

    def next_frame(self, timeout: float | None) -> Frame | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.conn], [], [], wait)
            if not ready:
                return None
            try:
                data = self.conn.recv(4096)
            except OSError as exc:
                raise PeerClosed from exc
            if not data:
                raise PeerClosed
            self.pending += self.decoder.feed(data)
        return self.pending.pop(0)

    def serve(self) -> None:
        while True:
            frame = self.next_frame(None)
            assert frame is not None
            key = (frame.type, frame.seq, frame.payload)
            if key == self.last:
                self.send(self.last_reply)  # a retransmission: answer again, do not execute twice
                continue
            reply = self.handle(frame)
            if reply is not None:
                self.last, self.last_reply = key, reply
                self.send(reply)

    def handle(self, f: Frame) -> bytes | None:
        m = self.model
        if f.type == MsgType.HELLO:
            payload = proto.encode_info(m.info())
            if self.info_override is not None:
                payload = self.info_override(payload)
            return proto.encode_frame(MsgType.INFO, f.seq, payload)
        if f.type == MsgType.WRITE_INPUT:
            index, offset, data = proto.decode_write_input(f.payload)
            if index >= len(self.inputs) or m.streamed[index]:
                return self.error(f.seq, ErrorCode.BAD_INDEX, "no such input")
            if offset + len(data) > len(self.inputs[index]):
                return self.error(f.seq, ErrorCode.OUT_OF_RANGE, "write past the end of the input")
            self.inputs[index][offset : offset + len(data)] = data
            self.outputs = None
            return proto.encode_frame(MsgType.ACK, f.seq)
        if f.type == MsgType.INVOKE:
            return self.invoke(f.seq)
        if f.type == MsgType.READ_OUTPUT:
            index, offset, length = proto.decode_read_output(f.payload)
            if self.outputs is None:
                return self.error(f.seq, ErrorCode.NOT_READY, "no INVOKE since the inputs changed")
            if index >= len(self.outputs) or offset + length > len(self.outputs[index]):
                return self.error(f.seq, ErrorCode.OUT_OF_RANGE, "read past the end of the output")
            return proto.encode_frame(MsgType.DATA, f.seq, self.outputs[index][offset : offset + length])
        if f.type == MsgType.INPUT_DATA:
            return None
        return self.error(f.seq, ErrorCode.UNKNOWN_TYPE, "unknown request type")

    def invoke(self, seq: int) -> bytes:
        status = proto.Status.OK
        for index, streamed in enumerate(self.model.streamed):
            if streamed and not self.fetch_input(seq, index):
                status = proto.Status.INPUT_STREAM_FAILED
                break
        self.outputs = self.model.compute([bytes(x) for x in self.inputs])
        result = proto.InvokeResult(status, 1000, 300, 7 if any(self.model.streamed) else 0)
        return proto.encode_frame(MsgType.RESULT, seq, proto.encode_result(result))

    def fetch_input(self, seq: int, index: int) -> bool:
        """Ask the host for a streamed input piece by piece, 4 tries each (the firmware's rule)."""
        size, chunk = len(self.inputs[index]), self.model.max_payload - proto.INPUT_DATA_HEADER
        for offset in range(0, size, chunk):
            n = min(chunk, size - offset)
            for _ in range(4):
                self.send(proto.encode_frame(MsgType.INPUT_REQUEST, seq, proto.encode_input_request(index, offset, n)))
                if self.await_input(seq, index, offset, n):
                    break
            else:
                return False
        return True

    def await_input(self, seq: int, index: int, offset: int, n: int) -> bool:
        while (frame := self.next_frame(self.stream_wait)) is not None:
            if frame.type == MsgType.INPUT_DATA and frame.seq == seq and len(frame.payload) == 5 + n:
                got_index, got_offset, data = proto.decode_input_data(frame.payload)
                if (got_index, got_offset) == (index, offset):
                    self.inputs[index][offset : offset + n] = data
                    return True
        return False

    @staticmethod
    def error(seq: int, code: int, message: str) -> bytes:
        return proto.encode_frame(MsgType.ERROR, seq, proto.encode_error(code, message))


# ---- mutations ---------------------------------------------------------------------------------------------


def _with_crc(body: bytes) -> bytes:
    """A frame from type..payload (header fields as given), with a valid CRC."""
    return proto.SYNC + body + struct.pack("<I", proto.crc32(body))


# (offset, width) of the payload fields of each reply type, for the "field" mutation.
_FIELDS: dict[int, tuple[tuple[int, int], ...]] = {
    MsgType.INFO: ((0, 1), (1, 2), (3, 1), (4, 1), (5, 4), (9, 4), (13, 8), (21, 4), (25, 4), (29, 4), (33, 4),
                   (37, 1)),
    MsgType.RESULT: ((0, 1), (1, 8), (9, 4), (13, 8)),
    MsgType.INPUT_REQUEST: ((0, 1), (1, 4), (5, 2)),
    MsgType.ERROR: ((0, 1),),
}


def mutate(frame: bytes, kind: str, rng: random.Random) -> list[bytes | float | None]:
    """The chunks to send instead of `frame`: bytes, a float (pause in seconds) or None (hang up)."""
    b = bytearray(frame)
    if kind == "flip":
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return [bytes(b)]
    if kind == "truncate":
        return [bytes(b[: rng.randrange(1, len(b))])]
    if kind == "length":
        struct.pack_into("<H", b, 4, rng.randrange(0x10000))
        return [bytes(b)]
    if kind == "length_crc":  # a length that disagrees with the payload, under a CRC computed for it
        body = bytes(b[2:-4])
        new = rng.randrange(0, min(len(body) + 64, proto.MAX_PAYLOAD + 1))
        body = body[:4] + body[6 : 6 + new]
        return [_with_crc(body[:2] + struct.pack("<H", new) + body[2:])]
    if kind == "crc":
        b[-rng.randint(1, 4)] ^= rng.randint(1, 255)
        return [bytes(b)]
    if kind == "huge":
        return [proto.SYNC + bytes(b[2:4]) + b"\xff\xff" + bytes(b[6:])]
    if kind == "garbage":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        if rng.random() < 0.5:
            junk += proto.SYNC
        return [junk, bytes(b)] if rng.random() < 0.7 else [bytes(b), junk]
    if kind == "silence":
        return []
    if kind == "duplicate":
        return [bytes(b), bytes(b)]
    if kind == "seq":
        b[3] = rng.randrange(256)
        return [_with_crc(bytes(b[2:-4]))]
    if kind == "type":
        b[2] = rng.choice([*list(MsgType), rng.randrange(256)])
        return [_with_crc(bytes(b[2:-4]))]
    if kind == "field":  # one payload field set to a boundary value under a valid CRC
        body = bytearray(b[2:-4])
        fields = _FIELDS.get(body[0], ())
        offset, width = rng.choice(fields) if fields and rng.random() < 0.8 else (rng.randrange(64), 1)
        if 4 + offset + width <= len(body):
            value = rng.choice([0, 1, 5, 63, 64, 1019, 1024, 1025, (1 << 8 * width) - 1,
                                rng.randrange(1 << 8 * width)]) % (1 << 8 * width)
            body[4 + offset : 4 + offset + width] = value.to_bytes(width, "little")
        return [_with_crc(bytes(body))]
    if kind == "resize":  # payload cut or padded, length field and CRC consistent with it
        body = bytes(b[6:-4])
        body = body[: rng.randrange(len(body) + 1)] if rng.random() < 0.5 else body + bytes(rng.randint(1, 16))
        body = body[: proto.MAX_PAYLOAD]
        return [_with_crc(bytes(b[2:4]) + struct.pack("<H", len(body)) + body)]
    if kind == "split":
        cuts = sorted(rng.sample(range(1, len(b)), min(3, len(b) - 1)))
        pieces: list[bytes | float | None] = []
        for start, end in zip([0, *cuts], [*cuts, len(b)], strict=True):
            pieces += [bytes(b[start:end]), rng.uniform(0, 0.01)]
        return pieces
    if kind == "delay":
        return [rng.uniform(0, 0.08), bytes(b)]
    if kind == "hangup":
        return [bytes(b[: rng.randrange(len(b))]), None]
    raise ValueError(kind)


# ---- sessions ----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    sessions: int = 0
    cases: int = 0  # frames the peer mutated
    successes: int = 0
    altered: int = 0  # successes whose outputs differ (a lie under a valid CRC cannot be detected)
    clean_errors: int = 0
    crashes: int = 0
    hangs: int = 0
    longest: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"sessions {self.sessions}, cases {self.cases} mutated frames, successes {self.successes} "
                f"({self.altered} with outputs altered under a valid CRC), clean errors {self.clean_errors}, "
                f"crashes {self.crashes}, hangs {self.hangs}; longest session {self.longest:.2f} s")


@dataclass(frozen=True)
class HostSettings:
    timeout: float = 0.05
    invoke_timeout: float = 0.3
    retries: int = 2
    poll_interval: float = 0.005

    def bound(self, model: PeerModel) -> float:
        """The longest a session may legitimately take: every request's attempts, every streamed chunk's
        restarted INVOKE deadline, and slack for a loaded machine."""
        chunk = model.max_payload - proto.WRITE_INPUT_HEADER
        requests = 1 + sum(-(-n // chunk) for n in model.input_bytes) + sum(-(-n // model.max_payload)
                                                                              for n in model.output_bytes)
        chunks = sum(-(-n // chunk) for n, s in zip(model.input_bytes, model.streamed, strict=True) if s)
        attempts = 1 + self.retries
        return attempts * (requests * self.timeout + self.invoke_timeout) + 4 * chunks * self.invoke_timeout + 5.0


def _peer_thread(listener: socket.socket, model: PeerModel, rng: random.Random, rate: float, kinds: list[str],
                 tally_cases: list[int]) -> None:
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(frame: bytes) -> None:
        chunks: list[bytes | float | None] = [frame]
        if rng.random() < rate:
            tally_cases[0] += 1
            chunks = mutate(frame, rng.choice(kinds), rng)
        for chunk in chunks:
            if chunk is None:
                raise PeerClosed
            if isinstance(chunk, float):
                time.sleep(chunk)
            else:
                conn.sendall(chunk)

    peer = Peer(conn, model, send, stream_wait=0.03)
    with contextlib.suppress(PeerClosed, OSError):
        peer.serve()
    with contextlib.suppress(OSError):
        conn.close()


def run_session(rng: random.Random, settings: HostSettings, tally: Tally) -> None:
    streamed = rng.random() < 0.3
    model = PeerModel(streamed=(True, False) if streamed else (False, False))
    rate = rng.choice([0.05, 0.15, 0.3, 0.6])
    kinds = rng.sample(_WEIGHTED, rng.randint(1, len(_WEIGHTED)))
    inputs = [bytes(rng.randrange(256) for _ in range(n)) for n in model.input_bytes]
    cases = [0]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        peer = threading.Thread(target=_peer_thread, args=(listener, model, random.Random(rng.random()), rate, kinds,
                                                           cases), daemon=True)
        peer.start()
        outcome: list[str] = []
        host = threading.Thread(target=_host, args=(f"socket://127.0.0.1:{port}", model, inputs, settings, outcome),
                                daemon=True)
        started = time.monotonic()
        host.start()
        bound = settings.bound(model)
        host.join(bound)
        elapsed = time.monotonic() - started
        peer.join(1.0)
    tally.sessions += 1
    tally.cases += cases[0]
    tally.longest = max(tally.longest, elapsed)
    if host.is_alive():
        tally.hangs += 1
        tally.failures.append(f"hang: session still running after {bound:.1f} s (mutations {kinds}, rate {rate})")
        return
    kind, detail = outcome[0].split(":", 1) if outcome else ("crash", "no outcome")
    if kind == "ok":
        tally.successes += 1
        tally.altered += detail == "altered"
    elif kind == "error":
        tally.clean_errors += 1
        tally.errors[_error_kind(detail)] += 1
    else:
        tally.crashes += 1
        tally.failures.append(f"crash (mutations {kinds}, rate {rate}):{detail}")


def _host(url: str, model: PeerModel, inputs: list[bytes], settings: HostSettings, outcome: list[str]) -> None:
    """One session as `codegen eval` drives a device: HELLO with the model check, then one inference."""
    link = None
    try:
        link = DeviceLink.open(url, timeout=settings.timeout, invoke_timeout=settings.invoke_timeout,
                               retries=settings.retries, poll_interval=settings.poll_interval)
        link.expect_model(model.model_hash, "fuzz", model.input_bytes, model.output_bytes)
        outputs, _ = link.infer(inputs)
        for blob, n in zip(outputs, model.output_bytes, strict=True):  # as eval stores them: the model's shapes
            np.frombuffer(blob, dtype=np.int8).reshape(n)
        outcome.append("ok:same" if outputs == model.compute(inputs) else "ok:altered")
    except DeviceError as exc:
        outcome.append(f"error:{exc}")
    except BaseException:  # noqa: BLE001 -- a crash is what the harness exists to find: record it whole
        outcome.append("crash:" + traceback.format_exc())
    finally:
        if link is not None:
            _close_fast(link)


def _close_fast(link: DeviceLink) -> None:
    """Close the link's TCP socket directly: pyserial's socket close() sleeps 0.3 s for the sake of quick
    reconnects, which would be most of a session's time here."""
    sock = getattr(link.port, "_socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
        link.port._socket = None  # type: ignore[attr-defined]
        link.port.is_open = False
    link.close()


def _error_kind(message: str) -> str:
    for key in ("did not answer", "protocol error", "connection to", "refused", "firmware runs model", "crashed",
                "input stream failed", "sent ", "asked for", "answered", "speaks protocol", "invoke status"):
        if key in message:
            return key
    return "other"


def fuzz(sessions: int, seed: int = 0, settings: HostSettings | None = None,
         progress: Callable[[Tally], None] | None = None) -> Tally:
    settings = settings or HostSettings()
    tally = Tally()
    for i in range(sessions):
        run_session(random.Random(seed * 1_000_003 + i), settings, tally)
        if progress is not None and (i + 1) % 500 == 0:
            progress(tally)
    return tally


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.fuzz_link", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=1000, help="sessions to run (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="first seed (sessions are reproducible from it)")
    p.add_argument("--timeout", type=float, default=HostSettings.timeout, help="the host's reply timeout, s")
    args = p.parse_args(argv)
    if args.sessions < 1 or args.timeout <= 0:
        p.error("--sessions and --timeout must be positive")
    settings = replace(HostSettings(), timeout=args.timeout)
    started = time.monotonic()
    tally = fuzz(args.sessions, args.seed, settings, lambda t: print(t.line(), file=sys.stderr, flush=True))
    print(tally.line())
    print("clean errors by kind: " + ", ".join(f"{k} {n}" for k, n in tally.errors.most_common()))
    print(f"wall time {time.monotonic() - started:.1f} s")
    for failure in tally.failures[:10]:
        print(failure)
    return 1 if tally.crashes or tally.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
