"""PRELU of an int8 tensor with an int8 alpha tensor broadcast against it (NumPy rules, up to 4-D).

TFLite Micro (prelu_common.cc, BroadcastPrelu4DSlow): x = input - input_zp; x >= 0 gives
x * (s_in / s_out), otherwise x * (alpha - alpha_zp) * (s_in * s_alpha / s_out), each factor a
QuantizeMultiplier pair; plus the output zero point, saturated to int8. The broadcast geometry, the C walk
and the operand checks are elementwise.py's; unlike ADD the operands do not commute, so the input must be
the model's first operand and not a constant while alpha is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _call, _offsets, _prepare
from codegen.kernels.base import KernelCall, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "prelu_s8.h"


@dataclass(frozen=True)
class PreluParams(BroadcastParams):
    """in1 is the input, in2 alpha."""

    C_TYPE = "prelu_s8_params_t"
    output_multiplier_1: int = cfield("int32_t")  # s_in / s_out, for input >= zero point
    output_shift_1: int = cfield("int32_t")
    output_multiplier_2: int = cfield("int32_t")  # s_in * s_alpha / s_out, for the rest
    output_shift_2: int = cfield("int32_t")


def lower_prelu(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) == 2 and ins[0] is not None and ins[1] is not None and ins[0].is_const and not ins[1].is_const:
        raise Unsupported("PRELU with a constant input and a runtime alpha")
    ops = _prepare(op, graph)
    s_in, s_alpha, s_out = ops.first.scale, ops.second.scale, ops.out.scale
    m1, sh1 = quantize_multiplier(s_in / s_out)
    m2, sh2 = quantize_multiplier(s_in * s_alpha / s_out)
    params = PreluParams(**ops.geometry, **_offsets(ops), output_multiplier_1=m1, output_shift_1=sh1,
                         output_multiplier_2=m2, output_shift_2=sh2)
    return [_call("prelu_s8", params, ops, op)]


def prelu_s8_ref(p: PreluParams, x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    v = np.broadcast_to(np.asarray(x).reshape(p.in1_shape), p.out_shape).astype(np.int64) + p.input1_offset
    a = np.broadcast_to(np.asarray(alpha).reshape(p.in2_shape), p.out_shape).astype(np.int64) + p.input2_offset
    pos = multiply_by_quantized_multiplier(v, p.output_multiplier_1, p.output_shift_1)
    neg = multiply_by_quantized_multiplier(v * a, p.output_multiplier_2, p.output_shift_2)
    out = np.where(v >= 0, pos, neg) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8)


LOWERINGS = {"PRELU": lower_prelu}
REFERENCES = {"prelu_s8": prelu_s8_ref}
