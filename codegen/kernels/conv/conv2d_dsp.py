"""CONV_2D on cores with the DSP extension: a bit-identical replacement for conv2d_s8 (SMLAD, two MACs each).

The specializer re-lays the constants out for mcu_runtime/conv/conv2d_s8_dsp.c as one int32 row per output
channel, the order the kernel reads them: {bias', k_pad, k_pad / 4 words of taps, mult, rnd, rshift}.

- taps: the filter row as int8, zero-padded to k_pad (a multiple of 8), in the order the kernel's im2col
  writes a patch: for each filter row ky the whole words of its kernel_w * in_c contiguous taps, then the
  kernel_w * in_c % 4 leftover taps of every row (tap_order). The kernel copies six output pixels' patches
  into the scratch as int16 and walks each row once per six pixels.
- bias' = bias + input_offset * sum(w): the kernel multiplies the raw inputs, and padded taps read the input
  zero point, whose true contribution (zp + input_offset) * w is zero.
- MultiplyByQuantizedMultiplier(acc) + output_offset, for a right shift r >= 1, is
  (SMMLAR(2 * acc, mult, rnd) - (acc < 0)) >> r with rnd = 2^(r-1) + output_offset * 2^r: TFLite's two
  roundings, floor((acc * m + 2^30) / 2^31) then half away from zero by 2^r, nest into one floor division
  of 2 * acc * m + 2^31 + 2^(31+r) - (acc < 0) * 2^32 (+ the offset, an integer multiple of the divisor) by
  2^(32+r); (acc < 0) stands in for (h < 0), which differs only at acc = -1 with m = 2^30, where both give 0.
  A channel whose clamped output is the same for every int8 input (dead channels: a zero multiplier, or a
  huge bias) becomes mult = 0, rshift = 1, rnd = 2 * out + 1.

The accumulator bounds over all int8 inputs decide exactness: 2 * acc and the SMMLAR result must fit an
int32. Layers where a channel fails (or has a left shift) keep the portable kernel.

A negative multiplier (a negative filter scale) is made positive by negating the channel: TFLite's result
depends on acc and mult only through their product (its doubling high multiply rounds (acc * mult + 2^30) /
2^31 down whatever the signs), so filter -w, bias -bias and multiplier -mult give the same outputs, and the
kernel's arithmetic above, which assumes mult > 0, stays as it is, at no cost. It needs -w in int8 and -mult
in int32: a layer with a negative-multiplier channel holding a -128 weight, or a multiplier of -2^31, keeps
the portable kernel (converters write symmetric weights in [-127, 127], so real layers never have one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, cfield
from codegen.kernels.conv.conv2d import Conv2dParams, pad_input_ref, tap_view
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.targets.core import Target

HEADER = "conv2d_s8_dsp.h"
KERNEL = "conv2d_s8_dsp"
BORROW = "conv2d_s8_dsp_borrow"  # the same, with its scratch in idle bytes of its own output and dying input
PIXELS = 6  # CONV_DSP_PIXELS in the C kernel: output pixels per pass over the filter
K_ALIGN = 8  # filter rows are padded to whole pairs of filter words

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Conv2dDspParams(KernelParams):
    C_TYPE = "conv2d_s8_dsp_params_t"
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    kernel_h: int = cfield("int32_t")
    kernel_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    dilation_h: int = cfield("int32_t")
    dilation_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    k_pad: int = cfield("int32_t")  # filter row length: taps rounded up to a multiple of K_ALIGN
    pad_value: int = cfield("int32_t")  # input zero point, read by padded taps
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    scratch_switch: int = cfield("int32_t", -1)  # BORROW: first output pixel whose scratch is the input's start

    @property
    def taps(self) -> int:
        return self.kernel_h * self.kernel_w * self.in_c


def scratch_bytes(p: Conv2dDspParams) -> int:
    """PIXELS pixels' int16 patches, plus an int8 patch to gather into when taps are not whole words."""
    return 2 * PIXELS * p.k_pad + (p.k_pad if p.in_c % 4 else 0)


def dsp_params(p: Conv2dParams) -> Conv2dDspParams:
    """The fast kernel's parameters for a portable call's (rows padded to whole K_ALIGN groups of taps)."""
    k_pad = -(-tap_order(p.kernel_h, p.kernel_w, p.in_c).size // K_ALIGN) * K_ALIGN
    return Conv2dDspParams(
        in_h=p.in_h, in_w=p.in_w, in_c=p.in_c, out_h=p.out_h, out_w=p.out_w, out_c=p.out_c,
        kernel_h=p.kernel_h, kernel_w=p.kernel_w, stride_h=p.stride_h, stride_w=p.stride_w,
        dilation_h=p.dilation_h, dilation_w=p.dilation_w, pad_h=p.pad_h, pad_w=p.pad_w,
        k_pad=k_pad, pad_value=-p.input_offset, act_min=p.act_min, act_max=p.act_max,
    )


def fast_scratch_bytes(call: KernelCall, graph: Graph | None = None) -> int:
    """An upper bound of the scratch the fast kernel needs for a portable conv2d_s8 call: 0 where it would
    borrow idle bytes of its output and dying input (as specialize_conv2d decides), else its own buffer."""
    params = dsp_params(call.params)  # type: ignore[arg-type]
    if graph is not None and _input_dies_here(call, graph) and borrow_switch(params) is not None:
        return 0
    return scratch_bytes(params)


# Producers whose output is a buffer of its own (not a view the planner shares with a tensor read later).
_OWN_BUFFER_PRODUCERS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD",
    "PADV2", "CONCATENATION", "MEAN", "SOFTMAX", "LOGISTIC", "QUANTIZE", "TRANSPOSE",
})


def _input_dies_here(call: KernelCall, graph: Graph) -> bool:
    """True when nothing after this call reads its input's bytes: the operator's own input tensor (not a patch
    window), produced into a buffer of its own, read by this operator only, not a graph input or output."""
    t = call.inputs[0]
    try:
        op = graph.operator(call.op_index)
    except (KeyError, AttributeError, IndexError):
        return False
    if not op.inputs or op.inputs[0] != t or t in graph.inputs or t in graph.outputs:
        return False
    producers = [o for o in graph.operators if t in o.outputs]
    readers = [o for o in graph.operators if t in o.inputs]
    return len(producers) == 1 and producers[0].op_type in _OWN_BUFFER_PRODUCERS and readers == [op]


def _first_tap_offsets(p: Conv2dDspParams) -> np.ndarray:
    """Per output pixel (row-major), the lowest input byte offset its window reads (a huge value if none)."""
    iy0 = np.arange(p.out_h) * p.stride_h - p.pad_h
    ix0 = np.arange(p.out_w) * p.stride_w - p.pad_w

    def first(origin: np.ndarray, dilation: int, kernel: int, size: int) -> np.ndarray:
        """The first tap inside [0, size) of each window, or -1."""
        k = -(np.minimum(origin, 0) // dilation)  # taps before 0: ceil(-origin / dilation)
        at = origin + k * dilation
        return np.where((k < kernel) & (at < size), at, -1)

    fy = first(iy0, p.dilation_h, p.kernel_h, p.in_h)
    fx = first(ix0, p.dilation_w, p.kernel_w, p.in_w)
    off = (fy[:, None] * p.in_w + fx[None, :]) * p.in_c
    return np.where((fy[:, None] >= 0) & (fx[None, :] >= 0), off, np.iinfo(np.int64).max).reshape(-1)


def borrow_switch(p: Conv2dDspParams) -> int | None:
    """The output pixel from which the kernel can keep its scratch at the start of the input (no window from
    there on reads those bytes) while the pixels before it leave the tail of the output free; None if none."""
    need = -(-scratch_bytes(p) // 8) * 8
    pixels = p.out_h * p.out_w
    tail = (pixels * p.out_c - need) // 8 * 8
    if tail < 0:
        return None
    rest = pixels % PIXELS
    full = pixels - rest
    starts = list(range(0, full, PIXELS)) + ([full] if rest >= PIXELS // 2 else list(range(full, pixels)))
    later = np.minimum.accumulate(_first_tap_offsets(p)[::-1])[::-1]  # lowest offset read from pixel i on
    for start in starts:
        if later[start] >= need:
            return start if start * p.out_c <= tail else None
    return pixels if pixels * p.out_c <= tail else None


def tap_order(kernel_h: int, kernel_w: int, in_c: int) -> np.ndarray:
    """OHWI tap index at each position of a kernel row: the whole words of every filter row, then the
    leftovers of every row (so a row of the input converts word by word, whatever in_c). The kernel writes
    leftover t to halfword t % 4 of its group, which SXTB16 pairs with filter byte {0, 2, 1, 3}[t % 4]."""
    row = kernel_w * in_c
    whole = row - row % 4
    first = [ky * row + r for ky in range(kernel_h) for r in range(whole)]
    rest = [ky * row + r for ky in range(kernel_h) for r in range(whole, row)]
    rest += [-1] * (-len(rest) % 4)
    for g in range(0, len(rest), 4):
        rest[g + 1], rest[g + 2] = rest[g + 2], rest[g + 1]
    return np.asarray(first + rest, dtype=np.int64)


def _wrap32(v: np.ndarray) -> np.ndarray:
    return (np.asarray(v, dtype=np.int64) + 2**31) % 2**32 - 2**31


def _smmlar(a: np.ndarray, b: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """SMMLAR: (acc * 2^32 + a * b + 2^31) >> 32, wrapped to int32; int32 a, b keep a * b within int64."""
    a, b, acc = (np.asarray(v, dtype=np.int64) for v in (a, b, acc))
    return _wrap32(acc + ((a * b + 2**31) >> 32))


def _channel_row(lo: int, hi: int, bias: int, mult: int, shift: int, p: Conv2dParams,
                 out: tuple[int, int]) -> list[int] | None:
    """{bias', mult, rnd, rshift} for one channel whose true accumulator lies in [lo, hi], or None. `out` is
    the clamped output at lo and at hi (_clamped_outputs, for every channel at once)."""
    if shift > 0 and max(abs(lo), abs(hi)) << shift > _I32_MAX:
        return None  # TFLite's left shift may wrap: not monotone, and not this kernel's arithmetic
    if out[0] == out[1]:  # MultiplyByQuantizedMultiplier is monotone: the channel is constant
        return [0, 0, 2 * out[0] + 1, 1]
    r = -shift
    if r < 1 or mult <= 0 or max(abs(lo), abs(hi)) >= 2**30:
        return None
    rnd = (1 << (r - 1)) + p.output_offset * (1 << r)
    h_lo = (2 * lo * mult + 2**31) // 2**32 + rnd - 1
    h_hi = (2 * hi * mult + 2**31) // 2**32 + rnd
    if not (_I32_MIN <= rnd <= _I32_MAX and h_lo >= _I32_MIN and h_hi <= _I32_MAX):
        return None
    return [bias, mult, rnd, r]


def _clamped_outputs(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, p: Conv2dParams) -> list[int]:
    """Each channel's int8 output for accumulator acc[c]: the same element-wise arithmetic as one channel at a
    time, over all channels in one NumPy call (a banded schedule specializes thousands of calls)."""
    scaled = multiply_by_quantized_multiplier(acc, mult, np.asarray(shift, dtype=np.int64))
    return [int(v) for v in np.clip(scaled + p.output_offset, p.act_min, p.act_max)]


def _flip_negative_channels(
    w: np.ndarray, bias: np.ndarray, mult: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """[out_c, taps] weights, biases and multipliers (int64) with every negative-multiplier channel negated, so
    all multipliers are >= 0 and every output is unchanged; None when a negated weight or multiplier would not
    fit its type (-128, -2^31)."""
    neg = mult < 0
    if not neg.any():
        return w, bias, mult
    if (mult[neg] == _I32_MIN).any() or (w[neg] == -128).any():
        return None
    sign = np.where(neg, -1, 1)
    return w * sign[:, None], bias * sign, mult * sign


def specialize_conv2d(call: KernelCall, graph: Graph, target: Target) -> KernelCall | None:
    """The DSP kernel for a portable conv2d_s8 call, or None when exactness cannot be guaranteed. The graph
    only decides where the scratch goes."""
    del target
    p: Conv2dParams = call.params  # type: ignore[assignment]
    filt, bias, mult, shift = (c.data for c in call.consts)
    taps = p.kernel_h * p.kernel_w * p.in_c
    order = tap_order(p.kernel_h, p.kernel_w, p.in_c)
    w = np.asarray(filt, dtype=np.int64).reshape(p.out_c, taps)
    flipped = _flip_negative_channels(w, np.asarray(bias, dtype=np.int64), np.asarray(mult, dtype=np.int64))
    if flipped is None:
        return None
    w, b, mult = flipped
    # True accumulator range over int8 inputs: bias + sum (x + input_offset) * w, x in [-128, 127]; a padded
    # tap contributes 0, which lies inside each tap's range.
    ends = np.stack([(-128 + p.input_offset) * w, (127 + p.input_offset) * w])
    lo = b + ends.min(axis=0).sum(axis=1)
    hi = b + ends.max(axis=0).sum(axis=1)
    if lo.min() < _I32_MIN or hi.max() > _I32_MAX:
        return None  # TFLite's int32 accumulator could overflow
    folded = _wrap32(b + p.input_offset * w.sum(axis=1))
    out_lo, out_hi = (_clamped_outputs(a, mult, shift, p) for a in (lo, hi))
    chan = []
    for c in range(p.out_c):
        row = _channel_row(int(lo[c]), int(hi[c]), int(folded[c]), int(mult[c]), int(shift[c]), p,
                           (out_lo[c], out_hi[c]))
        if row is None:
            return None
        chan.append(row)
    params = dsp_params(p)
    taps = np.where(order >= 0, w[:, order], 0)  # -1: a lane no tap uses
    consts = (ConstArray("rows", pack_rows(taps, np.asarray(chan, dtype=np.int64), params.k_pad)),)
    switch = borrow_switch(params) if graph is not None and _input_dies_here(call, graph) else None
    if switch is not None:
        # No SRAM of its own: the planner already holds idle bytes of this call's output and input.
        params = dataclasses.replace(params, scratch_switch=switch)
        return KernelCall(BORROW, params, call.inputs, consts, call.outputs, call.op_index, macs=call.macs)
    return KernelCall(KERNEL, params, call.inputs, consts, call.outputs, call.op_index, macs=call.macs,
                      scratch_bytes=scratch_bytes(params))


def pack_rows(w: np.ndarray, chan: np.ndarray, k_pad: int) -> np.ndarray:
    """[out_c, taps] weights and [out_c, 4] {bias', mult, rnd, rshift} -> the kernel's int32 rows."""
    out_c, taps = w.shape
    padded = np.zeros((out_c, k_pad), dtype=np.int8)
    padded[:, :taps] = w
    words = padded.view("<i4").astype(np.int64)
    head = np.stack([chan[:, 0], np.full(out_c, k_pad)], axis=1)
    return np.concatenate([head, words, chan[:, 1:]], axis=1).astype(np.int32).reshape(-1)


def unpack_rows(rows: np.ndarray, out_c: int, k_pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of pack_rows: the [out_c, k_pad] int8 taps and the [out_c, 4] int64 {bias', mult, rnd, rshift}."""
    r = np.asarray(rows, dtype=np.int32).reshape(out_c, 2 + k_pad // 4 + 3)
    taps = np.ascontiguousarray(r[:, 2 : 2 + k_pad // 4]).astype("<i4").view(np.int8).reshape(out_c, k_pad)
    chan = np.concatenate([r[:, :1], r[:, -3:]], axis=1).astype(np.int64)
    return taps, chan


def conv2d_s8_dsp_ref(p: Conv2dDspParams, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The C kernel's arithmetic on the re-laid-out constants: raw inputs (the zero point in padded taps)
    times the padded filter rows plus bias', then the SMMLAR requantization and the clamp."""
    x = np.asarray(x).reshape(p.in_h, p.in_w, p.in_c)
    taps, chan = unpack_rows(rows, p.out_c, p.k_pad)
    w = np.zeros((p.out_c, p.taps), dtype=np.int64)
    order = tap_order(p.kernel_h, p.kernel_w, p.in_c)
    w[:, order[order >= 0]] = taps[:, : order.size][:, order >= 0]
    w = w.reshape(p.out_c, p.kernel_h, p.kernel_w, p.in_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    xp = pad_input_ref(x, -p.pad_value, p.pad_h, p.pad_w, need_h, need_w)
    acc = np.broadcast_to(chan[:, 0], (p.out_h, p.out_w, p.out_c)).copy()
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            view = tap_view(xp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w)
            acc += view @ w[:, ky, kx, :].T
    acc = _wrap32(acc)
    hi = _smmlar(_wrap32(2 * acc), chan[:, 1], chan[:, 2])
    out = _wrap32(hi + (acc >> 31)) >> chan[:, 3]
    out = np.clip(out, p.act_min, p.act_max).astype(np.int8)
    return out.reshape(1, p.out_h, p.out_w, p.out_c)


LOWERINGS: dict = {}
REFERENCES = {KERNEL: conv2d_s8_dsp_ref, BORROW: conv2d_s8_dsp_ref}
SPECIALIZERS = {"conv2d_s8": specialize_conv2d}
SCRATCH_HINTS = {"conv2d_s8": fast_scratch_bytes}
