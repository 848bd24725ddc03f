"""DEPTHWISE_CONV_2D 16x8 (int16 activations, int8 weights) on cores with the DSP extension: a bit-identical
replacement for depthwise_conv2d_s16 (mcu_runtime/conv_s16/depthwise_conv2d_s16_dsp.c).

Depthwise has no sum over channels, so SMLALD (which adds its two products) does not apply; the kernel keeps
four output channels' sums apart and feeds each tap's four MACs from one weight word: each tap's out_c weights
are stored in groups of four as {w0, w2, w1, w3} (conv2d_s16_dsp.relay_groups), SXTB16 of the word gives the
int16 pair {w0, w1} and of it rotated by 8 {w2, w3}, and the halfword multiplies SMLABB/SMLATT (BT, TB)
take the lane each channel needs from the input word(s):
- depth multiplier 1: two input words {x0, x1}, {x2, x3} per tap;
- depth multiplier 2: one word {x0, x1} for channels {0, 0, 1, 1};
- a multiple of 4: one halfword for all four;
other multipliers keep the portable kernel. Every product is at most 2^22 in magnitude, so an int32 partial sum
of up to 511 taps is exact; the kernel adds it to the int64 accumulator (bias included) every 511 taps at most
(kernel rows at a time: a kernel row wider than 511 keeps the portable kernel). The out_c % 4 channels at the
end keep their order and the portable loop. Requantization (int64 MultiplyByQuantizedMultiplier, any multiplier
sign) and clamp are the portable kernel's. Same parameters, padding (negative for a patch window inside a
larger buffer) and constants; only the filter's byte order changes. Taken with at least four output channels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.depthwise_conv2d import DepthwiseConv2dParams
from codegen.kernels.conv_s16.conv2d_s16_dsp import relay_groups, unrelay_groups
from codegen.kernels.conv_s16.depthwise_conv2d_s16 import depthwise_conv2d_s16_ref
from codegen.targets.core import Target

HEADER = "depthwise_conv2d_s16_dsp.h"
MAX_TAPS = 511  # DW16_DSP_MAX_TAPS: int16 * int8 products an int32 holds exactly


def takes(p: DepthwiseConv2dParams) -> bool:
    """Whether the DSP kernel handles (and gains on) these parameters."""
    m = p.depth_multiplier
    return p.out_c >= 4 and (m in (1, 2) or m % 4 == 0) and p.kernel_w <= MAX_TAPS


def specialize_depthwise_conv2d_s16(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    del graph, target  # the params and constants hold everything
    p: DepthwiseConv2dParams = call.params  # type: ignore[assignment]
    if not takes(p):
        return None
    filt = call.consts[0]
    relaid = ConstArray(filt.role, relay_groups(filt.data, p.out_c))
    return dataclasses.replace(call, kernel=f"{call.kernel}_dsp", consts=(relaid, *call.consts[1:]))


def depthwise_conv2d_s16_dsp_ref(p: DepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray,
                                 *rest: np.ndarray) -> np.ndarray:
    return depthwise_conv2d_s16_ref(p, x, unrelay_groups(filt, p.out_c), *rest)


LOWERINGS: dict = {}
REFERENCES = {"depthwise_conv2d_s16_dsp": depthwise_conv2d_s16_dsp_ref}
SPECIALIZERS = {"depthwise_conv2d_s16": specialize_depthwise_conv2d_s16}
