"""CONV_2D 16x8 (int16 activations, int8 weights) on cores with the DSP extension: a bit-identical
replacement for conv2d_s16 / conv2d_s16_b32 (mcu_runtime/conv_s16/conv2d_s16_dsp.c).

The kernel multiplies pairs of int16 inputs by pairs of weights with SMLALD (a 64-bit accumulator, so the
int64 sum is exact at any depth). SXTB16 sign-extends bytes 0 and 2 of a word: a filter tap's in_c weights are
stored in groups of four as {w0, w2, w1, w3}, so SXTB16 of a weight word is {w0, w1} and of it rotated by
8 bits {w2, w3}, matching the input words {x0, x1} and {x2, x3} as loaded. The in_c % 4 weights left at the
end of each tap keep their order (mcu_runtime/common/dot_s16_dsp.h). Same parameters, bias and multipliers;
only the filter's byte order changes. Taken when a tap holds at least one group (in_c >= 4).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.conv2d import Conv2dParams
from codegen.kernels.conv_s16.conv2d_s16 import conv2d_s16_b32_ref, conv2d_s16_ref
from codegen.targets.core import Target

HEADER = "conv2d_s16_dsp.h"
_ORDER = np.array([0, 2, 1, 3])  # stored position k holds weight _ORDER[k] of its group


def relay_groups(w: np.ndarray, n: int) -> np.ndarray:
    """Rows of n int8 weights (any leading shape, flattened) with each group of four stored {w0, w2, w1, w3};
    the n % 4 weights at each row's end unchanged."""
    rows = np.asarray(w, dtype=np.int8).reshape(-1, n).copy()
    full = n // 4 * 4
    groups = rows[:, :full].reshape(len(rows), -1, 4)
    rows[:, :full] = groups[:, :, _ORDER].reshape(len(rows), full)
    return rows.reshape(np.shape(w))


def unrelay_groups(w: np.ndarray, n: int) -> np.ndarray:
    """Inverse of relay_groups (the order is its own inverse: it swaps the middle two of each group)."""
    return relay_groups(w, n)


def specialize_conv2d_s16(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    del graph, target  # the params and constants hold everything
    p: Conv2dParams = call.params  # type: ignore[assignment]
    if p.in_c < 4:
        return None  # every weight would be in a tail: nothing for SMLALD
    filt = call.consts[0]
    relaid = ConstArray(filt.role, relay_groups(filt.data, p.in_c))
    return dataclasses.replace(call, kernel=f"{call.kernel}_dsp", consts=(relaid, *call.consts[1:]))


def conv2d_s16_dsp_ref(p: Conv2dParams, x: np.ndarray, filt: np.ndarray, *rest: np.ndarray) -> np.ndarray:
    return conv2d_s16_ref(p, x, unrelay_groups(filt, p.in_c), *rest)


def conv2d_s16_b32_dsp_ref(p: Conv2dParams, x: np.ndarray, filt: np.ndarray, *rest: np.ndarray) -> np.ndarray:
    return conv2d_s16_b32_ref(p, x, unrelay_groups(filt, p.in_c), *rest)


LOWERINGS: dict = {}
REFERENCES = {"conv2d_s16_dsp": conv2d_s16_dsp_ref, "conv2d_s16_b32_dsp": conv2d_s16_b32_dsp_ref}
SPECIALIZERS = {"conv2d_s16": specialize_conv2d_s16, "conv2d_s16_b32": specialize_conv2d_s16}
