"""TRANSPOSE_CONV on cores with the DSP extension: bit-identical replacements for transpose_conv_s8 and
transpose_conv_s16 (mcu_runtime/conv/transpose_conv_dsp.c).

- int8: SXTAB16 adds the input offset to two sign-extended int8 inputs (lanes within +-255) and SMLAD
  multiplies them by two sign-extended weights; the int32 sum wraps modulo 2^32 as TFLite's does, so the result
  is the portable kernel's for every input. Constants unchanged.
- 16x8: each tap's in_c weights re-laid out in groups of four for SXTB16 + SMLALD (conv2d_s16_dsp.relay_groups;
  64-bit exact sums).
Taken when a tap holds at least one group of four channels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.transpose_conv import TransposeConvParams, transpose_conv_s8_ref, transpose_conv_s16_ref
from codegen.kernels.conv_s16.conv2d_s16_dsp import relay_groups, unrelay_groups
from codegen.targets.core import Target

HEADER = "transpose_conv_dsp.h"


def specialize_transpose_conv(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    del graph, target
    p: TransposeConvParams = call.params  # type: ignore[assignment]
    if p.in_c < 4:
        return None
    consts = call.consts
    if call.kernel == "transpose_conv_s16":
        consts = (ConstArray(consts[0].role, relay_groups(consts[0].data, p.in_c)), *consts[1:])
    return dataclasses.replace(call, kernel=f"{call.kernel}_dsp", consts=consts)


def transpose_conv_s16_dsp_ref(p: TransposeConvParams, x: np.ndarray, filt: np.ndarray,
                               *rest: np.ndarray) -> np.ndarray:
    return transpose_conv_s16_ref(p, x, unrelay_groups(filt, p.in_c), *rest)


LOWERINGS: dict = {}
REFERENCES = {"transpose_conv_s8_dsp": transpose_conv_s8_ref, "transpose_conv_s16_dsp": transpose_conv_s16_dsp_ref}
SPECIALIZERS = {"transpose_conv_s8": specialize_transpose_conv, "transpose_conv_s16": specialize_transpose_conv}
