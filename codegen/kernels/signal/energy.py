"""SignalEnergy: the power of each bin of an int16 complex spectrum, as TFLM computes it.

The input is [re0, im0, re1, im1, ...]; for start_index <= i < end_index
  out[i] = uint32(int32(re_i) * re_i + int32(im_i) * im_i)
(-32768 in both parts gives 2^31, which the int32 sum wraps and the uint32 output reads back as 2^31).
TFLM leaves the other output elements as they were (whatever the arena held); this kernel writes 0 there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_energy.h"


@dataclass(frozen=True)
class SignalEnergyParams(KernelParams):
    C_TYPE = "signal_energy_params_t"
    start_index: int = cfield("int32_t")
    end_index: int = cfield("int32_t")
    out_size: int = cfield("int32_t")


def lower_energy(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported("SignalEnergy takes one input and has one output")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if x.dtype != "int16" or y.dtype != "uint32":
        raise Unsupported(f"SignalEnergy of {x.dtype} into {y.dtype} (int16 into uint32 only)")
    if len(x.shape) != 1 or len(y.shape) != 1:
        raise Unsupported(f"SignalEnergy of shape {x.shape} into {y.shape} (1-D only, as TFLM)")
    start, end = int(op.options.get("start_index", 0)), int(op.options.get("end_index", 0))
    bins = x.size // 2
    if not 0 <= start <= end or end > min(bins, y.size):
        raise Unsupported(f"SignalEnergy bins [{start}, {end}) outside the {bins} of the input or the {y.size} "
                          "of the output")
    params = SignalEnergyParams(start, end, y.size)
    return [KernelCall("signal_energy_s16", params, (x.index,), (), (y.index,), op.index, macs=2 * (end - start))]


def signal_energy_s16_ref(p: SignalEnergyParams, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.out_size, np.uint32)
    pairs = np.asarray(x, np.int64).reshape(-1)[2 * p.start_index : 2 * p.end_index].reshape(-1, 2)
    out[p.start_index : p.end_index] = ((pairs * pairs).sum(axis=1) & 0xFFFFFFFF).astype(np.uint32)
    return out


LOWERINGS = {"CUSTOM:SignalEnergy": lower_energy}
REFERENCES = {"signal_energy_s16": signal_energy_s16_ref}
