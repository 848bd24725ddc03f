"""CONV_2D on the low-bit path: packed b-bit input codes (or int8), int8 OHWI weights, packed b-bit output codes
(or int8). The parameters are conv2d_s8's (window, padding incl. a window into a larger buffer, per-channel
requantization, activation clamp) plus the input and output formats.

Exact by construction (codegen/quantize/mixed_precision.py): the input level m = code + m_lo stands for the
int8 value z + m 2^k, so sum(w (q - z)) = 2^k sum(w m); the kernel accumulates sum(w m), shifts it left by k,
then adds the bias and requantizes as conv2d_s8 does. Padding taps contribute level 0 (the zero point).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield
from codegen.kernels.conv.conv2d import pad_input_ref, requantize_ref, tap_view
from codegen.kernels.lowbit.codes import codes_of, levels_of, pack_codes
from codegen.kernels.lowbit.thresholds import codes_by_comparison

HEADER = "conv2d_lowbit.h"


@dataclass(frozen=True)
class LowbitConv2dParams(KernelParams):
    C_TYPE = "conv2d_lowbit_params_t"
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
    input_offset: int = cfield("int32_t")  # -input zero point (used by 8-bit input only)
    output_offset: int = cfield("int32_t")  # output zero point
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    in_bits: int = cfield("int32_t")  # 2, 4 or 8 (int8)
    in_shift: int = cfield("int32_t")
    in_m_lo: int = cfield("int32_t")
    out_bits: int = cfield("int32_t")  # 2, 4 or 8 (int8)
    out_shift: int = cfield("int32_t")
    out_m_lo: int = cfield("int32_t")
    out_m_hi: int = cfield("int32_t")
    # DSP kernel only: 2^out_bits - 1 when its output codes come from threshold rows (thresholds.py), else 0
    out_levels: int = cfield("int32_t", 0)


def col_bytes(kernel_h: int, kernel_w: int, in_c: int) -> int:
    """Scratch of the portable kernel: one output pixel's receptive field as int16 levels, padded to a whole group
    of four (the DSP kernel takes twice this: two pixels)."""
    return 2 * (-(-(kernel_h * kernel_w * in_c) // 4) * 4)


def encode_output(p, q: np.ndarray) -> np.ndarray:
    """int8 results (H, W, C) -> the output bytes (H, W, pixel bytes), as uint8."""
    codes = codes_of(q, p.out_bits, p.out_shift, p.output_offset, p.out_m_lo, p.out_m_hi)
    return pack_codes(codes, p.out_bits)


def raw_acc(p: LowbitConv2dParams, x: np.ndarray, filt: np.ndarray) -> np.ndarray:
    """sum(w m) per output pixel and channel (out_h, out_w, out_c), before the shift by k and the bias."""
    m = levels_of(np.asarray(x).reshape(p.in_h, p.in_w, -1), p.in_c, p.in_bits, p.in_m_lo, p.input_offset)
    w = np.asarray(filt, dtype=np.int64).reshape(p.out_c, p.kernel_h, p.kernel_w, p.in_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    mp = pad_input_ref(m, 0, p.pad_h, p.pad_w, need_h, need_w)  # padding: level 0
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            taps = tap_view(mp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w)
            acc += taps @ w[:, ky, kx, :].T
    return acc


def conv2d_lowbit_ref(p: LowbitConv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                      mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = raw_acc(p, x, filt)
    scale = 1 if p.in_bits == 8 else 1 << p.in_shift
    q = requantize_ref(acc * scale, bias, mult, shift, p.output_offset, p.act_min, p.act_max)
    return encode_output(p, q).reshape(1, p.out_h, p.out_w, -1)


def conv2d_lowbit_dsp_ref(p: LowbitConv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                          mult: np.ndarray, shift: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The DSP kernel as it computes: with threshold rows, output codes by comparison of the raw sums."""
    if not p.out_levels:
        return conv2d_lowbit_ref(p, x, filt, bias, mult, shift)
    codes = codes_by_comparison(np.asarray(rows).reshape(p.out_c, -1), raw_acc(p, x, filt))
    return pack_codes(codes, p.out_bits).reshape(1, p.out_h, p.out_w, -1)


LOWERINGS: dict = {}  # placed by the mixed-precision path through to_low_bit, never lowered from TFLite
REFERENCES = {"conv2d_lowbit": conv2d_lowbit_ref, "conv2d_lowbit_dsp": conv2d_lowbit_dsp_ref}
