"""SUM and REDUCE_MAX of an int8 tensor over constant axes, keep_dims or not, as TFLite Micro computes them.

Both take MEAN's axis handling whole (mean.make_mean_params: ResolveAxis, the checks, the canonical view
that merges neighbouring kept or reduced dims):
- SUM is QuantizedMeanOrSum with compute_sum: the int32 sum minus input_zp * count, times
  QuantizeMultiplier(s_in / s_out) (no 1/count folded in), plus output_zp, saturated. That is exactly
  what mean_s8 computes given the unfolded multiplier, so SUM lowers to mean_s8.
- REDUCE_MAX is ReduceGeneric with max over the raw int8 values, which TFLM allows only when input and
  output quantization are equal (refused otherwise); its kernel walks the same canonical view.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.kernels.reduce.mean import MeanParams, make_mean_params

HEADER = "reduce_max_s8.h"

# |sum - zp * count| <= 256 * count must fit int32 (mean's own bound allows one more bit: it needs it less).
_MAX_SUM_COUNT = 1 << 23


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, MeanParams, Tensor]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(ins)} inputs (needs the tensor and its axes)")
    x, axis = ins
    (y,) = graph.op_outputs(op)
    return x, make_mean_params(op, x, axis, y), y


def lower_sum(op: Operator, graph: Graph) -> list[KernelCall]:
    x, p, y = _operands(op, graph)
    if p.count >= _MAX_SUM_COUNT:
        raise Unsupported(f"over {p.count} elements per output (at most {_MAX_SUM_COUNT - 1})")
    multiplier, shift = quantize_multiplier(float(x.scale) / float(y.scale))  # PrepareMeanOrSum, in double
    p = dataclasses.replace(p, multiplier=multiplier, shift=shift)
    return [KernelCall("mean_s8", p, (x.index,), (), (y.index,), op.index, macs=x.size)]


def lower_reduce_max(op: Operator, graph: Graph) -> list[KernelCall]:
    x, p, y = _operands(op, graph)
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise Unsupported(f"with input quantization ({x.scale:g}, {x.zero_point}) different from the output's "
                          f"({y.scale:g}, {y.zero_point}) (TFLite Micro requires them equal)")
    return [KernelCall("reduce_max_s8", p, (x.index,), (), (y.index,), op.index)]


def reduce_max_s8_ref(p: MeanParams, x: np.ndarray) -> np.ndarray:
    view = np.asarray(x, dtype=np.int8).reshape(p.dims)
    return view.max(axis=p.reduced_axes).astype(np.int8).reshape(-1)


LOWERINGS = {"SUM": lower_sum, "REDUCE_MAX": lower_reduce_max}
REFERENCES = {"reduce_max_s8": reduce_max_s8_ref}
