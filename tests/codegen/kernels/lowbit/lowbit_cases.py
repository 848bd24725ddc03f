"""Random int8 convolution calls of the patch stage and low-bit formats, shared by the low-bit kernel tests and
scripts.lowbit.benchmark_lowbit."""

from __future__ import annotations

import numpy as np

from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.conv2d import Conv2dParams
from codegen.kernels.conv.depthwise_conv2d import DepthwiseConv2dParams
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.kernels.lowbit.codes import pack_codes
from codegen.quantize.mixed_precision import LowBitFormat, low_bit_format


def fmt_for(bits: int, zero_point: int, q_threshold: int) -> LowBitFormat | None:
    """A format as the offline search makes them (None: int8)."""
    return None if bits == 8 else low_bit_format(bits, zero_point, q_threshold)


def requant_consts(rng: np.random.Generator, out_c: int, fan_in: int) -> tuple[ConstArray, ...]:
    """Bias and per-channel multipliers of realistic size, some channels negative and one zero when out_c > 2."""
    scales = rng.uniform(0.3, 3.0, out_c) / (fan_in * 40.0)
    scales *= np.where(rng.random(out_c) < 0.25, -1.0, 1.0)
    if out_c > 2:
        scales[rng.integers(out_c)] = 0.0
    mult, shift = zip(*(quantize_multiplier(float(s)) for s in scales), strict=True)
    return (ConstArray("bias", rng.integers(-3000, 3000, out_c).astype(np.int32)),
            ConstArray("mult", np.array(mult, dtype=np.int32)), ConstArray("shift", np.array(shift, dtype=np.int32)))


def int8_call(rng: np.random.Generator, depthwise: bool, in_hw: tuple[int, int], in_c: int, out_c: int,
              kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], pad: tuple[int, int],
              out_hw: tuple[int, int], zps: tuple[int, int], act: tuple[int, int] = (-128, 127)) -> KernelCall:
    """A conv2d_s8 / depthwise_conv2d_s8 call as the patch schedule leaves it (pad < 0: a window into a larger
    buffer); depthwise takes out_c as a multiple of in_c."""
    kh, kw = kernel
    common = dict(in_h=in_hw[0], in_w=in_hw[1], in_c=in_c, out_h=out_hw[0], out_w=out_hw[1], out_c=out_c,
                  kernel_h=kh, kernel_w=kw, stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0],
                  dilation_w=dilation[1], pad_h=pad[0], pad_w=pad[1], input_offset=-zps[0], output_offset=zps[1],
                  act_min=act[0], act_max=act[1])
    if depthwise:
        params = DepthwiseConv2dParams(depth_multiplier=out_c // in_c, **common)
        filt = rng.integers(-128, 128, (1, kh, kw, out_c)).astype(np.int8)
        fan_in, kernel_name, macs = kh * kw, "depthwise_conv2d_s8", out_hw[0] * out_hw[1] * out_c * kh * kw
    else:
        params = Conv2dParams(**common)
        filt = rng.integers(-128, 128, (out_c, kh, kw, in_c)).astype(np.int8)
        fan_in, kernel_name = kh * kw * in_c, "conv2d_s8"
        macs = out_hw[0] * out_hw[1] * out_c * fan_in
    consts = (ConstArray("filter", filt), *requant_consts(rng, out_c, fan_in))
    return KernelCall(kernel_name, params, (0,), consts, (1,), 0, macs=macs)


def random_codes(rng: np.random.Generator, shape: tuple[int, ...], fmt: LowBitFormat | None) -> np.ndarray:
    """Packed input bytes: codes of the whole format range (int8 values for None)."""
    if fmt is None:
        return rng.integers(-128, 128, shape).astype(np.int8).view(np.uint8)
    return pack_codes(rng.integers(0, fmt.m_hi - fmt.m_lo + 1, shape), fmt.bits)
