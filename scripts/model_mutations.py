"""Mutations of .tflite flatbuffers for fuzzing: bit flips, truncations, extreme values in fields, splices.

Independent of the compiler: the TFLite schema is known through the `tflite` bindings only, used to find
where a seed model keeps its integer and float fields (tensor shapes, types, buffer indices, zero points,
scales, quantized dimensions, operator inputs and outputs, option scalars, vector lengths) and which bytes
are weight data. Mutations then aim at those fields: a random byte of a 300 kB model is almost always a
weight, and a flipped weight tells the fuzzer nothing about the reader.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import Any

import tflite


@dataclass(frozen=True)
class Site:
    """A scalar field of a seed model: where it is, how wide, and what it means (for case descriptions)."""

    pos: int
    width: int  # bytes: 1, 2, 4 or 8
    kind: str  # "int" or "float"
    what: str


@dataclass(frozen=True)
class Seed:
    """A model to mutate, with its fields and the byte ranges that are not constant data."""

    name: str
    data: bytes
    sites: tuple[Site, ...]
    structure: tuple[tuple[int, int], ...]  # [start, end) ranges outside buffer data
    operators: int  # in the first subgraph: how costly compiling the model is


# Values that break arithmetic: zero, signs, type limits, powers of two around them, the fuzzed zero point of
# issue 18 item 10.
_EXTREME_INTS = (0, 1, -1, 2, 3, 7, 127, 128, 255, 256, -128, -129, 32767, 32768, 65535, 65536, 2**24,
                 2**30, 2**31 - 1, -(2**31), 2**31, 2**32 - 1, 2**32, 2**62, 2**63 - 1, -(2**63),
                 -14293651161216)
_EXTREME_FLOATS = (0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), float("-inf"), 1e-45, 1e-38, 1e-30,
                   1e30, 3.4028234663852886e38, -3.4028234663852886e38, 2.0**-31, 2.0**31, 1.0 / 256, 256.0)
_MAX_VECTOR_SITES = 64  # elements per vector listed as sites (shapes and index lists are short)


def _field(tab: Any, slot: int) -> int | None:
    o = tab.Offset(slot)
    return tab.Pos + o if o else None


def _scalar(tab: Any, slot: int, width: int, what: str, kind: str = "int") -> list[Site]:
    pos = _field(tab, slot)
    return [] if pos is None else [Site(pos, width, kind, what)]


def _vector(tab: Any, slot: int, width: int, what: str, kind: str = "int") -> list[Site]:
    o = tab.Offset(slot)
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)
    sites = [Site(start - 4, 4, "int", f"{what} length")]
    sites += [Site(start + i * width, width, kind, f"{what}[{i}]") for i in range(min(n, _MAX_VECTOR_SITES))]
    return sites


def _table_scalars(buf: bytes, pos: int, what: str) -> list[Site]:
    """Every field of a table whose class is not known here (builtin options), widths guessed from the layout."""
    vtable = pos - struct.unpack_from("<i", buf, pos)[0]
    vt_size, table_size = struct.unpack_from("<HH", buf, vtable)
    offsets = sorted({struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0] for i in range((vt_size - 4) // 2)} - {0})
    sites = []
    for k, off in enumerate(offsets):
        end = offsets[k + 1] if k + 1 < len(offsets) else table_size
        width = next((w for w in (4, 2, 1) if w <= end - off), 1)
        sites.append(Site(pos + off, width, "int", f"{what} field at +{off}"))
    return sites


def _tensor_sites(t: Any, i: int) -> list[Site]:
    sites = _vector(t._tab, 4, 4, f"tensor {i} shape") + _scalar(t._tab, 6, 1, f"tensor {i} type")
    sites += _scalar(t._tab, 8, 4, f"tensor {i} buffer")
    q = t.Quantization()
    if q is not None:
        sites += _vector(q._tab, 8, 4, f"tensor {i} scale", "float")
        sites += _vector(q._tab, 10, 8, f"tensor {i} zero point")
        sites += _scalar(q._tab, 16, 4, f"tensor {i} quantized dimension")
    return sites


def _operator_sites(buf: bytes, op: Any, i: int) -> list[Site]:
    sites = _scalar(op._tab, 4, 4, f"operator {i} opcode index")
    sites += _vector(op._tab, 6, 4, f"operator {i} inputs") + _vector(op._tab, 8, 4, f"operator {i} outputs")
    sites += _scalar(op._tab, 10, 1, f"operator {i} options type")
    options = op.BuiltinOptions()
    if options is not None:
        sites += _table_scalars(buf, options.Pos, f"operator {i} options")
    return sites


def field_sites(buf: bytes) -> tuple[list[Site], list[tuple[int, int]]]:
    """The scalar fields of a well-formed model, and the [start, end) ranges of its buffers' data."""
    model = tflite.Model.GetRootAsModel(buf, 0)
    sites = _scalar(model._tab, 4, 4, "model version")
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        sites += _scalar(code._tab, 4, 1, f"opcode {i} deprecated code") + _scalar(code._tab, 10, 4, f"opcode {i}")
    data: list[tuple[int, int]] = []
    for i in range(model.BuffersLength()):
        b = model.Buffers(i)
        o = b._tab.Offset(4)
        if o:
            start = b._tab.Vector(o)
            data.append((start, start + b._tab.VectorLen(o)))
            sites.append(Site(start - 4, 4, "int", f"buffer {i} length"))
        sites += _scalar(b._tab, 6, 8, f"buffer {i} offset") + _scalar(b._tab, 8, 8, f"buffer {i} size")
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        sites += _vector(sg._tab, 6, 4, "graph inputs") + _vector(sg._tab, 8, 4, "graph outputs")
        sites += [site for i in range(sg.TensorsLength()) for site in _tensor_sites(sg.Tensors(i), i)]
        for i in range(sg.OperatorsLength()):
            sites += _operator_sites(buf, sg.Operators(i), i)
    return sites, data


def make_seed(name: str, data: bytes) -> Seed:
    sites, data_ranges = field_sites(data)
    structure, cursor = [], 0
    for start, end in sorted(data_ranges):
        if start > cursor:
            structure.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < len(data):
        structure.append((cursor, len(data)))
    model = tflite.Model.GetRootAsModel(data, 0)
    operators = model.Subgraphs(0).OperatorsLength() if model.SubgraphsLength() else 0
    return Seed(name, data, tuple(sites), tuple(structure), operators)


def _encode(value: int | float, site: Site) -> bytes:
    if site.kind == "float" and site.width == 4:
        return struct.pack("<f", value) if isinstance(value, float) else struct.pack("<i", value & 0x7FFFFFFF)
    bits = int(value) if not isinstance(value, float) else struct.unpack("<i", struct.pack("<f", value))[0]
    return (bits & ((1 << (8 * site.width)) - 1)).to_bytes(site.width, "little")


def _write(buf: bytearray, pos: int, raw: bytes) -> None:
    end = min(pos + len(raw), len(buf))
    buf[pos:end] = raw[: end - pos]


def _extreme(rng: random.Random, buf: bytearray, seed: Seed) -> str:
    site = rng.choice(seed.sites)
    if site.kind == "float":
        value: int | float = rng.choice(_EXTREME_FLOATS)
    elif rng.random() < 0.2:
        value = rng.getrandbits(8 * site.width)
    else:
        value = rng.choice(_EXTREME_INTS)
    _write(buf, site.pos, _encode(value, site))
    return f"{site.what} = {value!r}"


def _nudge(rng: random.Random, buf: bytearray, seed: Seed) -> str:
    """A small change to an integer field: plausible values get past the reader and test what comes after."""
    site = rng.choice([s for s in seed.sites if s.kind == "int"] or list(seed.sites))
    old = int.from_bytes(buf[site.pos : site.pos + site.width], "little", signed=True)
    new = rng.choice((old + 1, old - 1, old + 2, old - 2, old * 2, old // 2, -old, 0))
    _write(buf, site.pos, _encode(new, Site(site.pos, site.width, "int", site.what)))
    return f"{site.what} {old} -> {new}"


def _flip(rng: random.Random, buf: bytearray, seed: Seed) -> str:
    flips = rng.choice((1, 1, 2, 4, 8))
    positions = []
    for _ in range(flips):
        if seed.structure and rng.random() < 0.85:
            start, end = rng.choice(seed.structure)
            pos = rng.randrange(start, end)
        else:
            pos = rng.randrange(len(buf))
        buf[pos] ^= 1 << rng.randrange(8)
        positions.append(pos)
    return f"bit flips at {positions}"


def _splice(rng: random.Random, buf: bytearray, other: Seed) -> str:
    """Bytes of another model over this one at the same offsets: valid-looking tables in the wrong places."""
    start = rng.randrange(len(buf))
    length = min(rng.choice((4, 16, 64, 256, 4096)), len(other.data) - min(start, len(other.data)))
    if length <= 0:
        return "splice of nothing"
    buf[start : start + length] = other.data[start : start + length]
    return f"{length} bytes of {other.name} at {start}"


def _truncate(rng: random.Random, buf: bytearray) -> str:
    cut = rng.choice((rng.randrange(len(buf)), len(buf) - rng.randrange(1, 64)))
    del buf[max(cut, 0) :]
    return f"truncated to {len(buf)} bytes"


def mutate(seed: Seed, other: Seed, rng: random.Random) -> tuple[bytes, str]:
    """One to three field mutations or flips, sometimes a splice with `other` or a truncation at the end."""
    buf = bytearray(seed.data)
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        roll = rng.random()
        if roll < 0.35 and seed.sites:
            steps.append(_extreme(rng, buf, seed))
        elif roll < 0.7 and seed.sites:
            steps.append(_nudge(rng, buf, seed))
        elif roll < 0.9:
            steps.append(_flip(rng, buf, seed))
        else:
            steps.append(_splice(rng, buf, other))
    if rng.random() < 0.08 and len(buf) > 1:
        steps.append(_truncate(rng, buf))
    return bytes(buf), "; ".join(steps)
