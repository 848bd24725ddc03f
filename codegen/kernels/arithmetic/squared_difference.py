"""SQUARED_DIFFERENCE of two int8 tensors with NumPy broadcasting over up to 4 dimensions.

TFLite Micro (squared_difference.cc): both operands go to a common scale as ADD does but with 7 bits of
headroom, their difference is squared in int32 (at most 255^2 * 2^14, no overflow), and the square is
requantized by (2 max(s1, s2))^2 / (2^14 s_out); the output spans the whole int8 range (no activation).
(a - b)^2 == (b - a)^2 in that integer arithmetic, so elementwise.py's operand swap is exact here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _call, _offsets, _prepare
from codegen.kernels.base import KernelCall, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "squared_difference_s8.h"

LEFT_SHIFT_S8 = 7


@dataclass(frozen=True)
class SquaredDifferenceParams(BroadcastParams):
    C_TYPE = "squared_difference_s8_params_t"
    left_shift: int = cfield("int32_t")
    input1_multiplier: int = cfield("int32_t")
    input1_shift: int = cfield("int32_t")  # <= 0: a right shift
    input2_multiplier: int = cfield("int32_t")
    input2_shift: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")  # > 0 shifts left


def squared_difference_params(s1: float, s2: float, so: float) -> dict[str, int]:
    """SquaredDifferencePrepare: double arithmetic on the float32 scales; 2^14 * s_out is a float32 product."""
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier(s1 / twice_max)  # both in (0, 1/2]: SmallerThanOneExp's checks hold
    m2, sh2 = quantize_multiplier(s2 / twice_max)
    denominator = float(np.float32(1 << (2 * LEFT_SHIFT_S8)) * np.float32(so))
    mo, sho = quantize_multiplier(twice_max * twice_max / denominator)
    if mo == 0:
        raise Unsupported(f"SQUARED_DIFFERENCE output multiplier {twice_max * twice_max / denominator:g} underflows")
    return dict(left_shift=LEFT_SHIFT_S8, input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2,
                input2_shift=sh2, output_multiplier=mo, output_shift=sho)


def lower_squared_difference(op: Operator, graph: Graph) -> list[KernelCall]:
    ops = _prepare(op, graph)
    arith = squared_difference_params(ops.first.scale, ops.second.scale, ops.out.scale)
    params = SquaredDifferenceParams(**ops.geometry, **_offsets(ops), **arith)
    return [_call("squared_difference_s8", params, ops, op)]


def squared_difference_s8_ref(p: SquaredDifferenceParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.broadcast_to(np.asarray(a).reshape(p.in1_shape), p.out_shape).astype(np.int64) + p.input1_offset
    x2 = np.broadcast_to(np.asarray(b).reshape(p.in2_shape), p.out_shape).astype(np.int64) + p.input2_offset
    s1 = multiply_by_quantized_multiplier(x1 << p.left_shift, p.input1_multiplier, p.input1_shift)
    s2 = multiply_by_quantized_multiplier(x2 << p.left_shift, p.input2_multiplier, p.input2_shift)
    d = s1 - s2
    raw = multiply_by_quantized_multiplier(d * d, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(raw, p.act_min, p.act_max).astype(np.int8)


LOWERINGS = {"SQUARED_DIFFERENCE": lower_squared_difference}
REFERENCES = {"squared_difference_s8": squared_difference_s8_ref}
