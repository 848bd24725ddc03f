"""FULLY_CONNECTED 16x8 on cores with the DSP extension: a bit-identical replacement for fully_connected_s16 /
fully_connected_s16_b32 (mcu_runtime/conv_s16/fully_connected_s16_dsp.c). Each weight row is stored in groups of
four as {w0, w2, w1, w3} (conv2d_s16_dsp.relay_groups), so SXTB16 and SMLALD take four MACs per weight word;
the in_features % 4 weights at the end of a row keep their order. Taken when a row holds at least one group.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.fully_connected import FullyConnectedParams
from codegen.kernels.conv_s16.conv2d_s16_dsp import relay_groups, unrelay_groups
from codegen.kernels.conv_s16.fully_connected_s16 import fully_connected_s16_b32_ref, fully_connected_s16_ref
from codegen.targets.core import Target

HEADER = "fully_connected_s16_dsp.h"


def specialize_fully_connected_s16(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    del graph, target
    p: FullyConnectedParams = call.params  # type: ignore[assignment]
    if p.in_features < 4:
        return None
    filt = call.consts[0]
    relaid = ConstArray(filt.role, relay_groups(filt.data, p.in_features))
    return dataclasses.replace(call, kernel=f"{call.kernel}_dsp", consts=(relaid, *call.consts[1:]))


def fully_connected_s16_dsp_ref(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray,
                                *rest: np.ndarray) -> np.ndarray:
    return fully_connected_s16_ref(p, x, unrelay_groups(filt, p.in_features), *rest)


def fully_connected_s16_b32_dsp_ref(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray,
                                    *rest: np.ndarray) -> np.ndarray:
    return fully_connected_s16_b32_ref(p, x, unrelay_groups(filt, p.in_features), *rest)


LOWERINGS: dict = {}
REFERENCES = {"fully_connected_s16_dsp": fully_connected_s16_dsp_ref,
              "fully_connected_s16_b32_dsp": fully_connected_s16_b32_dsp_ref}
SPECIALIZERS = {"fully_connected_s16": specialize_fully_connected_s16,
                "fully_connected_s16_b32": specialize_fully_connected_s16}
