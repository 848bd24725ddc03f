"""MEAN of an int16 tensor (16x8) over constant axes, as TFLite Micro computes it.

TFLM runs int16 MEAN through the same QuantizedMeanOrSum as int8 (reduce_common.cc, EvalIntegerMean<int16_t>):
the raw values summed in int32, input_zp * count subtracted, the input/output scale ratio with 1/count folded
into the multiplier, output_zp added, saturated to int16. The parameters are mean.py's; only the element type
and the overflow limit differ: with |x| <= 32768 and |zp| < 32768 the int32 sum minus input_zp * count stays
exact below 2^15 elements per output, and larger reductions are refused (TFLM would wrap).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.kernels.reduce.mean import MeanParams, make_mean_params

HEADER = "mean_s16.h"

MAX_COUNT_S16 = 1 << 15


@dataclass(frozen=True)
class MeanS16Params(MeanParams):
    C_TYPE = "mean_s16_params_t"


def lower_mean_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(ins)} inputs (needs the tensor and its axes)")
    x, axis = ins
    (y,) = graph.op_outputs(op)
    p = make_mean_params(op, x, axis, y, dtype="int16", max_count=MAX_COUNT_S16)
    params = MeanS16Params(**dataclasses.asdict(p))
    return [KernelCall("mean_s16", params, (x.index,), (), (y.index,), op.index, macs=x.size)]


def mean_s16_ref(p: MeanS16Params, x: np.ndarray) -> np.ndarray:
    view = np.asarray(x, dtype=np.int16).reshape(p.dims)
    total = view.astype(np.int64).sum(axis=p.reduced_axes) - p.input_zp * p.count
    out = multiply_by_quantized_multiplier(total, p.multiplier, p.shift) + p.output_zp
    return np.clip(out, -32768, 32767).astype(np.int16).reshape(-1)


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"MEAN": (_int16_input, lower_mean_s16)}
REFERENCES = {"mean_s16": mean_s16_ref}
