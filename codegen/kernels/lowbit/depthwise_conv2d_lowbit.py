"""DEPTHWISE_CONV_2D on the low-bit path: depthwise_conv2d_s8's parameters plus the input and output formats
(see conv2d_lowbit.py for the arithmetic and codes.py for the storage). Output channel oc = ic * M + m reads
input channel ic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield
from codegen.kernels.conv.conv2d import pad_input_ref, requantize_ref, tap_view
from codegen.kernels.lowbit.codes import levels_of, pack_codes
from codegen.kernels.lowbit.conv2d_lowbit import encode_output
from codegen.kernels.lowbit.thresholds import codes_by_comparison

HEADER = "depthwise_conv2d_lowbit.h"


@dataclass(frozen=True)
class LowbitDepthwiseConv2dParams(KernelParams):
    C_TYPE = "depthwise_conv2d_lowbit_params_t"
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
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")
    in_bits: int = cfield("int32_t")
    in_shift: int = cfield("int32_t")
    in_m_lo: int = cfield("int32_t")
    out_bits: int = cfield("int32_t")
    out_shift: int = cfield("int32_t")
    out_m_lo: int = cfield("int32_t")
    out_m_hi: int = cfield("int32_t")
    out_levels: int = cfield("int32_t", 0)  # DSP kernel only, as in LowbitConv2dParams


def raw_acc(p: LowbitDepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray) -> np.ndarray:
    """sum(w m) per output pixel and channel, before the shift by k and the bias."""
    m = levels_of(np.asarray(x).reshape(p.in_h, p.in_w, -1), p.in_c, p.in_bits, p.in_m_lo, p.input_offset)
    w = np.asarray(filt, dtype=np.int64).reshape(p.kernel_h, p.kernel_w, p.out_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    mp = np.repeat(pad_input_ref(m, 0, p.pad_h, p.pad_w, need_h, need_w), p.depth_multiplier, axis=2)
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            acc += tap_view(mp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w) \
                * w[ky, kx]
    return acc


def depthwise_conv2d_lowbit_ref(p: LowbitDepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray,
                                bias: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = raw_acc(p, x, filt)
    scale = 1 if p.in_bits == 8 else 1 << p.in_shift
    q = requantize_ref(acc * scale, bias, mult, shift, p.output_offset, p.act_min, p.act_max)
    return encode_output(p, q).reshape(1, p.out_h, p.out_w, -1)


def depthwise_conv2d_lowbit_dsp_ref(p: LowbitDepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray,
                                    bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                                    rows: np.ndarray) -> np.ndarray:
    """The DSP kernel as it computes: with threshold rows, output codes by comparison of the raw sums."""
    if not p.out_levels:
        return depthwise_conv2d_lowbit_ref(p, x, filt, bias, mult, shift)
    codes = codes_by_comparison(np.asarray(rows).reshape(p.out_c, -1), raw_acc(p, x, filt))
    return pack_codes(codes, p.out_bits).reshape(1, p.out_h, p.out_w, -1)


LOWERINGS: dict = {}  # placed by the mixed-precision path through to_low_bit, never lowered from TFLite
REFERENCES = {"depthwise_conv2d_lowbit": depthwise_conv2d_lowbit_ref,
              "depthwise_conv2d_lowbit_dsp": depthwise_conv2d_lowbit_dsp_ref}
