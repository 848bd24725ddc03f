"""FULLY_CONNECTED on cores with the DSP extension: a bit-identical replacement for the portable kernels.

The specializer re-lays the constants out for mcu_runtime/conv/fully_connected_s8_dsp.c.

filter (int32 words): output rows in pairs (r0, r1), padded to an even count with a zero row and to a
multiple of four columns with zeros. For input columns j and j + 2 one word holds the bytes
[r0[j], c[j], r0[j+2], c[j+2]] (little-endian), c = r1 - (r0 < 0). As two int16 lanes the word is
r0 + 256 * r1 exactly (the low byte reads unsigned, which the -1 in c compensates), so SMLAD of the word with
two sign-extended inputs accumulates r0.x + 256 * r1.x, SMLAD of the sign-extended word r0.x, and the
difference of the two accumulators divided by 256 is r1.x: three instructions for four MACs.

- Pairs go in groups: blocks of BLOCK_PAIRS, then single pairs. The inputs are split into chunks of
  chunk_words input words (the last chunk also takes the zero-padded tail word); a layer in several chunks
  uses single pairs only. Per group and chunk the stream holds the accumulators' initial values,
  {b0, b0 + 256 * b1} (mod 2^32) per pair for the first chunk and zeros for the others, then word by word,
  pair by pair, the word for columns (4k, 4k+2) and for (4k+1, 4k+3).
- b = bias + input_offset * sum(row) + in_features * filter_offset * input_offset is the bias with the
  input offset folded in, so the kernel multiplies raw inputs; it adds filter_offset * sum(x) at the end.
- Exactness: 256 * (b1 + r1.x) over a chunk must fit an int32 for every int8 input x, i.e.
  |b1| (first chunk) + 128 * sum |r1| (over the chunk's columns) < 2^23. Most layers need one chunk; long
  rows (thousands of inputs) take several, each extracted separately.
- A pair with r1 = -128 over a negative r0 cannot be encoded (r0 + 256 * r1 < -32768): such weights are
  stored as -127 and listed in fixups, {row, column} per entry sorted by row, whose input the kernel
  subtracts.
- requant: {multiplier, rsh = -1 - shift, nudge_lo, nudge_hi}: one row for per-tensor weights
  (requant_stride 0), one per output row for per-channel weights (requant_stride 4). Multipliers of either
  sign: the general finish rounds by the sign of acc * multiplier (negative per-channel filter scales); the
  groups' own requantization (fast_groups) assumes a positive one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, cfield
from codegen.kernels.conv.fully_connected import FullyConnectedParams
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.targets.core import Target

HEADER = "fully_connected_s8_dsp.h"
KERNEL = "fully_connected_s8_dsp"
BLOCK_PAIRS = 3  # FC_BLOCK_PAIRS in the C kernel
_R1_LIMIT = 2**23  # |b1 + r1.x| over a chunk stays below this, so 256 times it fits an int32


@dataclass(frozen=True)
class FullyConnectedDspParams(KernelParams):
    C_TYPE = "fully_connected_s8_dsp_params_t"
    batches: int = cfield("int32_t")
    in_features: int = cfield("int32_t")
    out_features: int = cfield("int32_t")
    filter_offset: int = cfield("int32_t")  # -filter zero point (per-tensor weights), else 0
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    requant_stride: int = cfield("int32_t")  # 0: one requant row for all outputs; 4: one per output
    chunk_words: int = cfield("int32_t")  # input words per chunk (in_features // 4 or more: one chunk)
    n_fixups: int = cfield("int32_t")
    # Groups that requantize by themselves (see fast_groups): blocks, then single pairs, from row 0.
    fast_blocks: int = cfield("int32_t")
    fast_singles: int = cfield("int32_t")
    nudge_hi: int = cfield("int32_t")  # 2^(rsh-1) + output_offset * 2^rsh, for those groups


@dataclass(frozen=True)
class PackedFilter:
    words: np.ndarray  # int32, the filter stream
    fixups: np.ndarray  # int32 [n, 2]: {row, column}
    chunk_words: int


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, dtype=np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def _pair_order(n_pairs: int, chunked: bool) -> list[list[int]]:
    """The pairs of each group, in the order the kernel walks them: blocks, then single pairs; only single
    pairs when the input runs in several chunks."""
    full = 0 if chunked else n_pairs // BLOCK_PAIRS * BLOCK_PAIRS
    blocks = [list(range(s, s + BLOCK_PAIRS)) for s in range(0, full, BLOCK_PAIRS)]
    return blocks + [[q] for q in range(full, n_pairs)]


def _chunks(n_in: int, chunk_words: int) -> list[range]:
    """Word ranges of the chunks; the last one ends with the zero-padded tail word, if any."""
    full, total = n_in // 4, (n_in + 3) // 4
    starts = list(range(0, full, chunk_words)) or [0]
    return [range(s, min(s + chunk_words, full) if i < len(starts) - 1 else total) for i, s in enumerate(starts)]


def _encodable_rows(filt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows padded to an even count and to whole words, with r1 = -128 over r0 < 0 raised to -127; and those
    positions as {row, column}."""
    n_out, n_in = filt.shape
    rows = np.zeros((n_out + n_out % 2, 4 * ((n_in + 3) // 4)), dtype=np.int64)
    rows[:n_out, :n_in] = filt
    clash = np.zeros(rows.shape, dtype=bool)
    clash[1::2] = (rows[1::2] == -128) & (rows[0::2] < 0)
    rows[clash] = -127
    return rows, np.argwhere(clash).astype(np.int32).reshape(-1, 2)


def _chunk_words(rows: np.ndarray, bias: np.ndarray, n_in: int, max_words: int | None) -> int | None:
    """The largest chunk (in input words, at most max_words) for which every odd row meets the bound, or
    None."""
    odd = np.abs(rows[1::2])
    b1 = np.zeros(len(odd), dtype=np.int64)
    b1[: len(bias[1::2])] = np.abs(np.asarray(bias, dtype=np.int64)[1::2])
    if (b1 + 128 * odd[:, :4].sum(axis=1) >= _R1_LIMIT).any():
        return None  # not even a one-word first chunk
    full = n_in // 4
    for n_chunks in range(1, max(full, 1) + 1):
        words = -(-full // n_chunks) if full else 1
        if max_words is not None and words > max_words:
            continue
        worst = [128 * odd[:, 4 * c.start : 4 * c.stop].sum(axis=1) for c in _chunks(n_in, words)]
        worst[0] = worst[0] + b1
        if all((w < _R1_LIMIT).all() for w in worst):
            return words
    return None


def pack_filter(filt: np.ndarray, bias: np.ndarray, max_chunk_words: int | None = None) -> PackedFilter | None:
    """[out, in] int8 weights and [out] folded int32 biases -> the kernel's stream, or None if no chunking
    meets the bound (a bias beyond 2^23 on an odd row). max_chunk_words forces smaller chunks (tests)."""
    n_out, n_in = filt.shape
    rows, fixups = _encodable_rows(filt)
    chunk_words = _chunk_words(rows, bias, n_in, max_chunk_words)
    if chunk_words is None:
        return None
    n_pairs, n_words = len(rows) // 2, rows.shape[1] // 4
    r0, r1 = rows[0::2], rows[1::2]
    c = (r1 - (r0 < 0)).reshape(n_pairs, n_words, 4)
    r0q = r0.reshape(n_pairs, n_words, 4)
    # Per pair and input word: the even word (columns 0, 2) and the odd word (columns 1, 3).
    even = np.stack([r0q[..., 0], c[..., 0], r0q[..., 2], c[..., 2]], axis=-1)
    odd = np.stack([r0q[..., 1], c[..., 1], r0q[..., 3], c[..., 3]], axis=-1)
    words = np.stack([even, odd], axis=2).astype(np.int8).view("<i4")[..., 0]  # [pair, word, parity]
    b = np.zeros(2 * n_pairs, dtype=np.int64)
    b[:n_out] = bias
    init = _wrap32(np.stack([b[0::2], b[0::2] + 256 * b[1::2]], axis=1))  # [pair, 2]
    parts = []
    for block in _pair_order(n_pairs, chunk_words < n_in // 4):
        for i, chunk in enumerate(_chunks(n_in, chunk_words)):
            parts.append(init[block].reshape(-1) if i == 0 else np.zeros(2 * len(block), dtype=np.int32))
            parts.append(words[block][:, chunk.start : chunk.stop].transpose(1, 0, 2).reshape(-1))
    return PackedFilter(np.concatenate(parts).astype(np.int32), fixups, chunk_words)


def unpack_filter(
    stream: np.ndarray, fixups: np.ndarray, n_out: int, n_in: int, chunk_words: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_filter: the [out, in] int8 weights and the [out] folded biases (int64)."""
    n_pairs, n_words = (n_out + 1) // 2, (n_in + 3) // 4
    stream = np.asarray(stream, dtype=np.int32)
    words = np.zeros((n_pairs, n_words, 2), dtype=np.int32)
    init = np.zeros((n_pairs, 2), dtype=np.int64)
    pos = 0
    for block in _pair_order(n_pairs, chunk_words < n_in // 4):
        for i, chunk in enumerate(_chunks(n_in, chunk_words)):
            head = stream[pos : pos + 2 * len(block)].reshape(-1, 2)
            if i == 0:
                init[block] = head
            else:
                assert not head.any(), "later chunks start from zero"
            pos += 2 * len(block)
            size = len(chunk) * len(block) * 2
            part = stream[pos : pos + size].reshape(len(chunk), len(block), 2).transpose(1, 0, 2)
            words[block, chunk.start : chunk.stop] = part
            pos += size
    assert pos == stream.size
    by = np.ascontiguousarray(words.astype("<i4")).view(np.int8).reshape(n_pairs, n_words, 2, 4).astype(np.int64)
    even, odd = by[:, :, 0], by[:, :, 1]
    r0 = np.stack([even[..., 0], odd[..., 0], even[..., 2], odd[..., 2]], axis=-1).reshape(n_pairs, -1)
    c = np.stack([even[..., 1], odd[..., 1], even[..., 3], odd[..., 3]], axis=-1).reshape(n_pairs, -1)
    rows = np.empty((2 * n_pairs, 4 * n_words), dtype=np.int64)
    rows[0::2], rows[1::2] = r0, c + (r0 < 0)
    for row, col in np.asarray(fixups, dtype=np.int64).reshape(-1, 2):
        rows[row, col] -= 1
    b1 = _wrap32(init[:, 1] - init[:, 0]).astype(np.int64) >> 8
    bias = np.stack([init[:, 0], b1], axis=1).reshape(-1)
    return rows[:n_out, :n_in].astype(np.int8), bias[:n_out]


def requant_rows(mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """[k, 4] int32 rows {multiplier, rsh, nudge_lo, nudge_hi}; rsh = -1 - shift, nudge = 2^30 + 2^(31 + rsh)."""
    mult = np.asarray(mult, dtype=np.int64).reshape(-1)
    rsh = -1 - np.asarray(shift, dtype=np.int64).reshape(-1)
    nudge = np.where(rsh >= 0, (1 << 30) + (np.int64(1) << np.clip(rsh + 31, 0, 62)), 0)
    lo = _wrap32(nudge & 0xFFFFFFFF)
    hi = (nudge >> 32).astype(np.int32)
    return np.stack([mult.astype(np.int32), rsh.astype(np.int32), lo, hi], axis=1)


def fast_groups(p: FullyConnectedDspParams, rq: np.ndarray) -> tuple[int, int, int]:
    """(blocks, single pairs, nudge_hi) of the groups whose outputs the assembly requantizes itself: only for
    per-tensor weights (one requant row) with a right shift of 2..23 (rsh 1..22: the output offset folded into
    nudge_hi keeps the high word in int32), no filter offset, the full int8 range, one chunk of whole input
    words and no fixups; and only groups whose rows are all real (not the padding row). The multiplier must be
    positive: the assembly's rounding correction follows the accumulator's sign."""
    rsh = int(rq[0, 1])
    fast = (
        len(rq) == 1 and rq[0, 0] > 0 and 1 <= rsh <= 22 and p.filter_offset == 0 and p.in_features % 4 == 0
        and (p.act_min, p.act_max) == (-128, 127) and p.chunk_words >= p.in_features // 4 and p.n_fixups == 0
    )  # fmt: skip
    if not fast:
        return 0, 0, 0
    n_pairs, n_whole = (p.out_features + 1) // 2, p.out_features // 2
    n_full = n_pairs // BLOCK_PAIRS * BLOCK_PAIRS
    blocks = min(n_full, n_whole) // BLOCK_PAIRS
    singles = n_whole - n_full if blocks * BLOCK_PAIRS == n_full else 0
    return blocks, singles, (1 << (rsh - 1)) + p.output_offset * (1 << rsh)


def specialize_fully_connected(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    """The DSP kernel for a portable FC call, or None when an odd row's folded bias alone breaks the bound."""
    del graph, target  # the call's params and consts hold everything
    return fast_call(call)


def fast_call(call: KernelCall, max_chunk_words: int | None = None) -> KernelCall | None:
    p: FullyConnectedParams = call.params  # type: ignore[assignment]
    filt = call.consts[0].data.reshape(p.out_features, p.in_features)
    per_channel = call.kernel == "fully_connected_per_channel_s8"
    filter_offset = 0 if per_channel else p.filter_offset
    n = p.in_features
    folded = _wrap32(
        call.consts[1].data.astype(np.int64)
        + p.input_offset * filt.astype(np.int64).sum(axis=1)
        + n * filter_offset * p.input_offset
    )
    packed = pack_filter(filt, folded, max_chunk_words)
    if packed is None:
        return None
    if per_channel:
        rq = requant_rows(call.consts[2].data, call.consts[3].data)
        stride = 4
    else:
        rq = requant_rows(np.array([p.output_multiplier]), np.array([p.output_shift]))
        stride = 0
    params = FullyConnectedDspParams(
        batches=p.batches,
        in_features=p.in_features,
        out_features=p.out_features,
        filter_offset=filter_offset,
        output_offset=p.output_offset,
        act_min=p.act_min,
        act_max=p.act_max,
        requant_stride=stride,
        chunk_words=packed.chunk_words,
        n_fixups=len(packed.fixups),
        fast_blocks=0,
        fast_singles=0,
        nudge_hi=0,
    )
    blocks, singles, nudge_hi = fast_groups(params, rq)
    params = dataclasses.replace(params, fast_blocks=blocks, fast_singles=singles, nudge_hi=nudge_hi)
    consts = (
        ConstArray("filter", packed.words),
        ConstArray("requant", rq.reshape(-1)),
        ConstArray("fixups", packed.fixups.reshape(-1)),
    )
    return KernelCall(KERNEL, params, call.inputs, consts, call.outputs, call.op_index, macs=call.macs)


def fully_connected_s8_dsp_ref(
    p: FullyConnectedDspParams, x: np.ndarray, filt: np.ndarray, requant: np.ndarray, fixups: np.ndarray
) -> np.ndarray:
    """TFLite's FC computed from the re-laid-out constants (decoded back to weights, bias and multipliers)."""
    w, bias = unpack_filter(filt, fixups[: 2 * p.n_fixups], p.out_features, p.in_features, p.chunk_words)
    xs = x.reshape(p.batches, p.in_features).astype(np.int64)
    acc = xs @ w.astype(np.int64).T + bias + p.filter_offset * xs.sum(axis=1, keepdims=True)
    rows = requant.reshape(-1, 4).astype(np.int64)
    mult, shift = rows[:, 0], -1 - rows[:, 1]
    scaled = multiply_by_quantized_multiplier(_wrap32(acc), mult.reshape(1, -1), shift.reshape(1, -1))
    return np.clip(scaled + p.output_offset, p.act_min, p.act_max).astype(np.int8)


LOWERINGS: dict = {}
REFERENCES = {KERNEL: fully_connected_s8_dsp_ref}
SPECIALIZERS = {
    "fully_connected_s8": specialize_fully_connected,
    "fully_connected_per_channel_s8": specialize_fully_connected,
}
