"""Requantization by comparison, for low-bit outputs: a channel's output code is a monotone step function of its
raw accumulator s = sum(w m) (MultiplyByQuantizedMultiplier and RoundingDivideByPOT are monotone, non-decreasing
for a positive multiplier, non-increasing for a negative one, as long as nothing wraps), so with 2^b codes it
changes at no more than 2^b - 1 values of s. Those thresholds, found offline by bisection on the exact integer
arithmetic, replace the kernel's epilogue (bias, shift by k, 64-bit multiply, two roundings, two clamps) by a
binary search of b compares: code = base + dir * #{j : s >= t_j}.

Exact for every s the layer can produce: s lies in [lo, hi], the sums of each weight times the extreme input
levels (padding is level 0, inside that range). A channel whose arithmetic could wrap on that range refuses
(None), and the kernel requantizes as the portable one does.
"""

from __future__ import annotations

import numpy as np

from codegen.kernels.conv.conv2d import requantize_ref
from codegen.kernels.lowbit.codes import codes_of

_I32_MAX = 2**31 - 1
ROW_HEAD = 2  # base, dir


def input_level_range(p) -> tuple[int, int]:
    if p.in_bits == 8:
        return -128 + p.input_offset, 127 + p.input_offset
    return p.in_m_lo, p.in_m_lo + (1 << p.in_bits) - 1


def _codes(p, s: np.ndarray, bias: int, mult: int, shift: int) -> np.ndarray:
    k = 0 if p.in_bits == 8 else p.in_shift
    q = requantize_ref(np.asarray(s, dtype=np.int64) << k, np.array([bias]), np.array([mult]), np.array([shift]),
                       p.output_offset, p.act_min, p.act_max)
    return codes_of(q, p.out_bits, p.out_shift, p.output_offset, p.out_m_lo, p.out_m_hi).astype(np.int64)


def _first(p, lo: int, hi: int, hit, bias: int, mult: int, shift: int) -> int:
    """The smallest s in [lo, hi] with hit(code(s)), given hit(code(hi)) and hit is monotone in s."""
    while lo < hi:
        mid = (lo + hi) // 2
        if hit(int(_codes(p, np.array([mid]), bias, mult, shift)[0])):
            hi = mid
        else:
            lo = mid + 1
    return lo


def output_thresholds(p, filt: np.ndarray, bias: np.ndarray, mult: np.ndarray,
                      shift: np.ndarray) -> np.ndarray | None:
    """int32 rows [out_c, 2 + 2^b - 1] {base, dir, t_1 .. t_L} (unused thresholds INT32_MAX), or None when the
    output is int8 or some channel's arithmetic could wrap. filt: one row of weights per output channel, as the
    accumulator sums them (OHWI rows for CONV_2D, HW columns for DEPTHWISE)."""
    if p.out_bits == 8:
        return None
    a, b = input_level_range(p)
    w = np.asarray(filt, dtype=np.int64)
    lo_s = np.minimum(w * a, w * b).sum(axis=1)
    hi_s = np.maximum(w * a, w * b).sum(axis=1)
    k = 0 if p.in_bits == 8 else p.in_shift
    levels = (1 << p.out_bits) - 1
    rows = np.full((w.shape[0], ROW_HEAD + levels), _I32_MAX, dtype=np.int64)
    for c in range(w.shape[0]):
        lo, hi = int(lo_s[c]), int(hi_s[c])
        reach = (max(abs(lo), abs(hi)) << k) + abs(int(bias[c]))
        if (reach << max(int(shift[c]), 0)) > _I32_MAX:
            return None
        c_lo, c_hi = (int(v) for v in _codes(p, np.array([lo, hi]), int(bias[c]), int(mult[c]), int(shift[c])))
        up = c_hi >= c_lo
        rows[c, 0], rows[c, 1] = c_lo, 1 if up else -1
        for j in range(1, abs(c_hi - c_lo) + 1):
            target = c_lo + j if up else c_lo - j
            hit = (lambda code, t=target: code >= t) if up else (lambda code, t=target: code <= t)
            rows[c, ROW_HEAD + j - 1] = _first(p, lo, hi, hit, int(bias[c]), int(mult[c]), int(shift[c]))
    return rows.astype(np.int32)


def codes_by_comparison(rows: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The kernel's epilogue on raw accumulators s (..., out_c): base + dir * #{j : s >= t_j}."""
    rows = np.asarray(rows, dtype=np.int64)
    crossed = (np.asarray(s, dtype=np.int64)[..., None] >= rows[:, ROW_HEAD:]).sum(axis=-1)
    return (rows[:, 0] + rows[:, 1] * crossed).astype(np.uint8)
