"""MUL 16x8: two int16 tensors with zero point 0, NumPy broadcasting over up to 4 dimensions.

Semantics are TFLite Micro's reference kernel (mul_common.cc, reference_integer_ops::Mul on int16): the
product of the two operands (|a * b| <= 2^30, so it fits int32) is requantized once by
double(s1) * double(s2) / double(so), exactly as int8 MUL, then clamped to the fused activation's range.
TFLM requires all three zero points to be 0 for int16 and refuses other models; so does this lowering.

Operand order follows elementwise.py: the non-constant operands come first; when only the model's first
operand is constant the two swap places (the integer product commutes exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _ext4, mul_params
from codegen.kernels.base import ConstArray, KernelCall, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.kernels.fixedpoint_s16 import activation_range

HEADER = "mul_s16.h"


@dataclass(frozen=True)
class MulS16Params(BroadcastParams):
    C_TYPE = "mul_s16_params_t"
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")  # > 0 shifts left


def lower_mul_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None or len(op.outputs) != 1:
        raise Unsupported("MUL needs exactly two inputs and one output")
    a, b = ins
    (y,) = graph.op_outputs(op)
    if not a.dtype == b.dtype == y.dtype == "int16":
        raise Unsupported(f"MUL of {a.dtype}, {b.dtype} -> {y.dtype} (int16 throughout for 16x8)")
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        if t.quant is None or t.quant.per_channel:
            raise Unsupported(f"MUL whose {role} is not per-tensor quantized")
        if len(t.shape) > 4:
            raise Unsupported(f"MUL of a rank-{len(t.shape)} tensor (at most 4)")
        if not t.scale > 0.0:
            raise Unsupported(f"MUL whose {role} has scale {t.scale}")
        if t.zero_point != 0:
            raise Unsupported(f"MUL of int16 whose {role} has zero point {t.zero_point} (TFLite Micro needs 0)")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"MUL of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"MUL output shape {y.shape} is not the broadcast shape {expected}")
    if a.is_const and not b.is_const:
        a, b = b, a
    try:
        act_min, act_max = activation_range(op.options.get("activation", "NONE"), y.scale, 0, "int16")
    except ValueError as exc:
        raise Unsupported(f"MUL {exc}") from None
    out4, in1, in2 = _ext4(y.shape), _ext4(a.shape), _ext4(b.shape)
    geometry = {f"out_d{i}": out4[i] for i in range(4)}
    geometry |= {f"in1_d{i}": in1[i] for i in range(4)}
    geometry |= {f"in2_d{i}": in2[i] for i in range(4)}
    geometry["broadcast"] = int(not (in1 == in2 == out4))
    params = MulS16Params(**geometry, input1_offset=0, input2_offset=0, output_offset=0, act_min=act_min,
                          act_max=act_max, **mul_params(a.scale, b.scale, y.scale))
    inputs = tuple(t.index for t in (a, b) if not t.is_const)
    consts = tuple(
        ConstArray(f"operand{i}", np.ascontiguousarray(t.data, dtype=np.int16))
        for i, t in enumerate((a, b), start=1)
        if t.is_const
    )
    in_place = bool(inputs) and not params.broadcast
    return [KernelCall("mul_s16", params, inputs, consts, (y.index,), op.index, in_place=in_place)]


def mul_s16_ref(p: MulS16Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.broadcast_to(np.asarray(a).reshape(p.in1_shape), p.out_shape).astype(np.int64)
    x2 = np.broadcast_to(np.asarray(b).reshape(p.in2_shape), p.out_shape).astype(np.int64)
    raw = multiply_by_quantized_multiplier(x1 * x2, p.output_multiplier, p.output_shift)
    return np.clip(raw, p.act_min, p.act_max).astype(np.int16)


def _int16_output(op: Operator, graph: Graph) -> bool:
    return len(op.outputs) == 1 and graph.tensor(op.outputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"MUL": (_int16_output, lower_mul_s16)}
REFERENCES = {"mul_s16": mul_s16_ref}
