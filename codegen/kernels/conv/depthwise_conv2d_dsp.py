"""DEPTHWISE_CONV_2D on cores with the DSP extension: a bit-identical replacement for depthwise_conv2d_s8.

The specializer turns a portable call (depth multiplier 1 or a multiple of 4; any padding, negative for a patch
window inside a larger input buffer) into one of mcu_runtime/conv/depthwise_conv2d_s8_dsp.c's kernels and re-lays
its constants out as one int32 stream, per group of four output channels c0..c3 (the last group zero-padded),
in the order the kernel reads it:

  [0..3]        k * (bias + input_offset * sum_t w): the bias of interior pixels, whose window lies inside the
                input (they multiply raw inputs; input_offset * w is folded in)
  per tap t (row-major), 3 words: int16 pairs {k w(c0), k w(c2)}, {k w(c1), k w(c3)} (what SXTB16 makes of a
                word of four input channels: lanes 0, 2 and, rotated, 1, 3), and the tap's input byte offset
                from the window's first tap, so one LDM feeds a tap with no address arithmetic
  per channel:  {mult, add, shift}
  2 words:      act_min and act_max in four int8 lanes (the packed clamp)
  [4 words]     k * bias: border pixels add input_offset to each input and skip the taps outside the input

where k = 2^(1 + left shift). The kernel computes out = SMMLAR(acc, mult, add + fix) >> shift, saturated to
int8 and clamped, with acc = k * TFLite's accumulator. TFLite's MultiplyByQuantizedMultiplier with right
shift r is floor((A + 2^30) / 2^31) (its doubling high multiply rounds half up, both signs) followed by a
division by 2^r rounding half away from zero, i.e. for A = (acc << left shift) * mult and r >= 1

    floor((A + 2^30 + 2^(30+r) - [A < 0] 2^31) / 2^(31+r))

(for r = 0 the second rounding is the identity and there is no correction; strictly the correction applies
when the first rounding is negative, but where that and A < 0 differ the result is 0 either way). With acc
doubled this is floor((2A + 2^31 + add 2^32 - [A < 0] 2^32) / 2^(32+r)) with add = 2^(r-1) + output_offset
2^r: SMMLAR (rounded high word, plus add), then an arithmetic shift by r. The [A < 0] term (fix = -1) is left
out when the clamp maps every acc <= 0 to act_min anyway (act_min >= output_offset, e.g. ReLU); layers that
need it and have a channel with r = 0 keep the portable kernel. The compiler proves for every int8 input that
k * acc, k * w (int16) and the SMMLAR sum stay in range, else it keeps the portable kernel too.

A channel with a negative multiplier (a negative filter scale) is stored negated: weights -k w, biases -k bias
and multiplier -mult. TFLite's result depends on acc and mult only through A, which the negation keeps, and
the kernel then sees a positive multiplier as above, at no cost (the int16 lanes hold -k * -128 as well). Only
a multiplier of -2^31, whose negation is no int32, keeps the portable kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, cfield
from codegen.kernels.conv.depthwise_conv2d import DepthwiseConv2dParams
from codegen.targets.core import Target

HEADER = "depthwise_conv2d_s8_dsp.h"
KERNEL = "depthwise_conv2d_s8_dsp"
# Kernel sizes with fixed forms (depthwise_conv2d_s8_dsp_KxK: taps unrolled, assembly on DSP cores); with a
# depth multiplier 4k only 3x3 has one.
UNROLLED = {(3, 3), (5, 5), (7, 7)}

_TAPS_AT = 4  # words before the taps (interior bias)
_TAP_WORDS = 3  # two weight words and the input offset
_TAIL_WORDS = 12 + 2 + 4  # requantization, clamp, border bias
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class DepthwiseConv2dDspParams(KernelParams):
    C_TYPE = "depthwise_conv2d_s8_dsp_params_t"
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    depth_multiplier: int = cfield("int32_t")
    kernel_h: int = cfield("int32_t")
    kernel_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    dilation_h: int = cfield("int32_t")
    dilation_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    interior_y0: int = cfield("int32_t")  # output rows [y0, y1) and columns [x0, x1): window inside the input
    interior_y1: int = cfield("int32_t")
    interior_x0: int = cfield("int32_t")
    interior_x1: int = cfield("int32_t")
    neg_fix: int = cfield("int32_t")  # 1: apply the rounding correction for negative accumulators
    clamp: int = cfield("int32_t")  # 1: [act_min, act_max] is narrower than int8

    @property
    def taps(self) -> int:
        return self.kernel_h * self.kernel_w

    @property
    def groups(self) -> int:
        return -(-self.out_c // 4)

    @property
    def group_words(self) -> int:
        return _TAPS_AT + _TAP_WORDS * self.taps + _TAIL_WORDS


def interior_range(out_size: int, in_size: int, kernel: int, stride: int, dilation: int,
                   pad: int) -> tuple[int, int]:
    """Output positions [lo, hi) whose taps all land inside [0, in_size)."""
    lo = max(-(-pad // stride), 0)  # a negative pad (patch window) puts the first windows inside already
    hi = (in_size - 1 - (kernel - 1) * dilation + pad) // stride + 1
    hi = min(max(hi, 0), out_size)
    return min(lo, hi), hi


@dataclass(frozen=True)
class _Requant:
    k: np.ndarray  # int64 per channel: 2^(1 + left shift)
    mult: np.ndarray
    add: np.ndarray
    shift: np.ndarray


def _requant(mult: np.ndarray, shift: np.ndarray, output_offset: int) -> _Requant:
    left = np.maximum(shift.astype(np.int64), 0)
    right = np.maximum(-shift.astype(np.int64), 0)
    half = np.where(right >= 1, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    add = half + output_offset * np.left_shift(np.int64(1), right)
    return _Requant(np.left_shift(np.int64(2), left), mult.astype(np.int64), add, right)


def _fits(p: DepthwiseConv2dParams, w: np.ndarray, bias: np.ndarray, rq: _Requant, neg_fix: bool) -> bool:
    """True when, for every int8 input, the stream's arithmetic cannot overflow (so it equals TFLite's)."""
    if neg_fix and (rq.shift == 0).any():
        return False
    if (rq.shift > 31).any() or (rq.mult < 0).any():
        return False
    if (np.abs(w) * rq.k > 32767).any():
        return False
    x_max = max(abs(-128 + p.input_offset), abs(127 + p.input_offset))
    acc_max = np.abs(bias.astype(np.int64)) + np.abs(w).sum(axis=0) * x_max  # |TFLite accumulator| bound
    acc2 = acc_max * rq.k
    if (acc2 > _INT32_MAX).any():
        return False
    high = (acc2 * rq.mult + 2**31) // 2**32 + 1
    return bool((high + np.abs(rq.add) + 1 <= _INT32_MAX).all())


def _pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """int16 lanes (lo, hi) -> int32 words."""
    words = lo.astype(np.int64) & 0xFFFF | (hi.astype(np.int64) & 0xFFFF) << 16
    return words.astype(np.uint32).view(np.int32)


def build_stream(p: DepthwiseConv2dDspParams, filt: np.ndarray, bias: np.ndarray, rq: _Requant) -> np.ndarray:
    taps = p.taps
    n = p.groups * 4
    w = np.zeros((taps, n), dtype=np.int64)
    w[:, :p.out_c] = filt.reshape(taps, p.out_c).astype(np.int64) * rq.k
    k = np.zeros(n, dtype=np.int64)
    k[:p.out_c] = rq.k
    b = np.zeros(n, dtype=np.int64)
    b[:p.out_c] = bias
    folded = k * b + p.input_offset * w.sum(axis=0)  # k * (bias + input_offset * sum(w))
    requant = np.zeros((n, 3), dtype=np.int64)
    requant[:p.out_c] = np.stack([rq.mult, rq.add, rq.shift], axis=1)
    ky, kx = np.divmod(np.arange(taps), p.kernel_w)
    offsets = (ky * p.dilation_h * p.in_w + kx * p.dilation_w) * p.in_c
    lanes = np.array([p.act_min, p.act_max], dtype=np.int64) & 0xFF
    clamp = lanes * 0x01010101

    def wrap(v: np.ndarray) -> np.ndarray:
        return ((np.asarray(v, dtype=np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)

    parts = []
    for g in range(p.groups):
        c = slice(4 * g, 4 * g + 4)
        wg = w[:, c]
        tap_words = np.stack([_pairs(wg[:, 0], wg[:, 2]), _pairs(wg[:, 1], wg[:, 3]), wrap(offsets)], axis=1)
        parts += [wrap(folded[c]), tap_words.reshape(-1), wrap(requant[c].reshape(-1)), wrap(clamp),
                  wrap(k[c] * b[c])]
    return np.concatenate(parts).astype(np.int32)


def kernel_name(p: DepthwiseConv2dDspParams) -> str:
    """The C function for these params: a fixed-size form where one exists, else the any-size kernel, with
    the flags that the kernel fixes at compile time as suffixes."""
    size = f"_{p.kernel_h}x{p.kernel_w}" if (p.kernel_h, p.kernel_w) in UNROLLED else ""
    if p.depth_multiplier > 1 and size not in ("", "_3x3"):
        size = ""  # depth multiplier 4k: only 3x3 has a fixed form
    return (KERNEL + size + ("_m4" if p.depth_multiplier > 1 else "") + ("_nf" if p.neg_fix else "")
            + ("_cl" if p.clamp else ""))


def specialize_depthwise(call: KernelCall, graph: Graph, target: Target) -> KernelCall | None:
    p = call.params
    if not isinstance(p, DepthwiseConv2dParams) or not target.dsp:
        return None
    if p.depth_multiplier != 1 and p.depth_multiplier % 4:
        return None
    filt, bias, mult, shift = (c.data for c in call.consts)
    taps = p.kernel_h * p.kernel_w
    mult = np.asarray(mult, dtype=np.int64)
    if (mult == -(2**31)).any():
        return None  # its negation is no int32
    # Negative-multiplier channels negated (weights, bias, multiplier): the same outputs, a positive multiplier.
    sign = np.where(mult < 0, -1, 1)
    w = np.asarray(filt, dtype=np.int64).reshape(taps, p.out_c) * sign
    bias = np.asarray(bias, dtype=np.int64) * sign
    rq = _requant(mult * sign, np.asarray(shift), p.output_offset)
    neg_fix = p.act_min < p.output_offset
    if not _fits(p, w, bias, rq, neg_fix):
        return None
    y0, y1 = interior_range(p.out_h, p.in_h, p.kernel_h, p.stride_h, p.dilation_h, p.pad_h)
    x0, x1 = interior_range(p.out_w, p.in_w, p.kernel_w, p.stride_w, p.dilation_w, p.pad_w)
    params = DepthwiseConv2dDspParams(
        in_h=p.in_h, in_w=p.in_w, in_c=p.in_c, out_h=p.out_h, out_w=p.out_w, out_c=p.out_c,
        depth_multiplier=p.depth_multiplier, kernel_h=p.kernel_h, kernel_w=p.kernel_w,
        stride_h=p.stride_h, stride_w=p.stride_w, dilation_h=p.dilation_h, dilation_w=p.dilation_w,
        pad_h=p.pad_h, pad_w=p.pad_w, input_offset=p.input_offset, act_min=p.act_min, act_max=p.act_max,
        interior_y0=y0, interior_y1=y1, interior_x0=x0, interior_x1=x1, neg_fix=int(neg_fix),
        clamp=int(p.act_min > -128 or p.act_max < 127),
    )
    stream = build_stream(params, w, bias, rq)
    return KernelCall(kernel_name(params), params, call.inputs, (ConstArray("stream", stream),), call.outputs,
                      call.op_index, macs=call.macs)


def _decode(p: DepthwiseConv2dDspParams, stream: np.ndarray) -> tuple[np.ndarray, ...]:
    """Border bias (n,), weights (taps, n), tap offsets (taps,) and mult, add, shift (n,) for n = 4 * groups
    channels, as int64."""
    s = np.asarray(stream, dtype=np.int32).reshape(p.groups, p.group_words)
    tap_end = _TAPS_AT + _TAP_WORDS * p.taps
    taps = np.ascontiguousarray(s[:, _TAPS_AT:tap_end]).reshape(p.groups, p.taps, _TAP_WORDS)
    halves = np.ascontiguousarray(taps[:, :, :2]).view(np.int16)
    halves = halves.reshape(p.groups, p.taps, 2, 2).astype(np.int64)
    # [group, tap, word, half]: word 0 = {c0, c2}, word 1 = {c1, c3}
    w = np.stack([halves[:, :, 0, 0], halves[:, :, 1, 0], halves[:, :, 0, 1], halves[:, :, 1, 1]], axis=2)
    w = w.transpose(1, 0, 2).reshape(p.taps, -1)
    rq = s[:, tap_end:tap_end + 12].reshape(-1, 3).astype(np.int64)
    bias = s[:, tap_end + 14:tap_end + 18].reshape(-1).astype(np.int64)
    return bias, w, taps[0, :, 2].astype(np.int64), rq[:, 0], rq[:, 1], rq[:, 2]


def stream_requantize(acc: np.ndarray, mult: np.ndarray, add: np.ndarray, shift: np.ndarray,
                      neg_fix: bool) -> np.ndarray:
    """The kernel's requantization of int32 accumulators acc (k times TFLite's): SMMLAR then an arithmetic
    shift, saturated to int8 (before the activation clamp)."""
    acc = np.asarray(acc, dtype=np.int64)
    fix = np.where(acc < 0, -1, 0) if neg_fix else 0
    high = (acc * mult + 2**31 + (add + fix) * 2**32) >> 32
    high = (high + 2**31) % 2**32 - 2**31  # SMMLAR keeps 32 bits
    return np.clip(high >> shift, -128, 127)


def depthwise_conv2d_s8_dsp_ref(p: DepthwiseConv2dDspParams, x: np.ndarray, stream: np.ndarray) -> np.ndarray:
    """The kernel's arithmetic on the stream, in NumPy: border form (offset added, outside taps skipped)."""
    bias, w, offsets, mult, add, shift = _decode(p, stream)
    ky, kx = np.divmod(np.arange(p.taps), p.kernel_w)
    if not np.array_equal(offsets, (ky * p.dilation_h * p.in_w + kx * p.dilation_w) * p.in_c):
        raise ValueError("stream tap offsets do not match the params")
    n = p.out_c
    x = np.asarray(x, dtype=np.int64).reshape(p.in_h, p.in_w, p.in_c)
    xs = np.repeat(x + p.input_offset, p.depth_multiplier, axis=2)  # output channel oc reads oc // M
    acc = np.broadcast_to(bias[:n], (p.out_h, p.out_w, n)).copy()
    oy = np.arange(p.out_h)[:, None] * p.stride_h - p.pad_h
    ox = np.arange(p.out_w)[None, :] * p.stride_w - p.pad_w
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            iy = oy + ky * p.dilation_h
            ix = ox + kx * p.dilation_w
            inside = (iy >= 0) & (iy < p.in_h) & (ix >= 0) & (ix < p.in_w)
            vals = xs[np.clip(iy, 0, p.in_h - 1), np.clip(ix, 0, p.in_w - 1)]
            acc += np.where(inside[..., None], vals, 0) * w[ky * p.kernel_w + kx, :n]
    acc = (acc + 2**31) % 2**32 - 2**31
    out = stream_requantize(acc, mult[:n], add[:n], shift[:n], bool(p.neg_fix))
    out = np.clip(out, p.act_min, p.act_max)
    return out.astype(np.int8).reshape(1, p.out_h, p.out_w, n)


LOWERINGS: dict = {}
KERNELS = [f"{KERNEL}{k}{n}{c}" for k in ("", "_m4", "_3x3", "_3x3_m4", "_5x5", "_7x7") for n in ("", "_nf")
           for c in ("", "_cl")]
REFERENCES = {name: depthwise_conv2d_s8_dsp_ref for name in KERNELS}
SPECIALIZERS = {"depthwise_conv2d_s8": specialize_depthwise}
