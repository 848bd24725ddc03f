"""SUB (int8, int16) and ADD of int16 tensors, with NumPy broadcasting over up to 4 dimensions.

Semantics are TFLite Micro's reference kernels: both ops rescale the operands to a common scale with
`left_shift` bits of headroom (20 for int8, 15 for int16), add or subtract, and requantize once
(add_common.cc / sub_common.cc and reference_ops::AddElementwise / BroadcastQuantSubSlow).

- ADD int16: TFLM always takes this general path (it passes pot_scale = false and ignores the options'
  pot_scale_int16); zero points need not be 0. The multipliers come from double arithmetic on the float32
  scales, like int8 ADD (elementwise.py).
- SUB: the same parameters as ADD, from double arithmetic. Some sub_common.cc revisions compute them in
  float32; the TFLite Micro the tests run (and the SEANet SUB models' golden outputs, 3 of 5 of which differ
  by 1 in a few elements otherwise) use double: checked on scales where the two disagree.

C argument order: the non-constant operands come first (KernelCall.inputs), then the constant ones. When only
the model's first SUB operand is constant the two swap places and `swapped` = 1 tells the kernel to compute
second - first; ADD commutes exactly and needs no flag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _ext4
from codegen.kernels.base import ConstArray, KernelCall, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.fixedpoint_s16 import activation_range

HEADER = "add_sub.h"

LEFT_SHIFT = {"int8": 20, "int16": 15}
_NUMPY = {"int8": np.int8, "int16": np.int16}


@dataclass(frozen=True)
class AddSubParams(BroadcastParams):
    C_TYPE = "add_sub_params_t"
    left_shift: int = cfield("int32_t")
    input1_multiplier: int = cfield("int32_t")
    input1_shift: int = cfield("int32_t")  # <= 0: a right shift
    input2_multiplier: int = cfield("int32_t")
    input2_shift: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")
    swapped: int = cfield("int32_t", 0)  # SUB only: 1 computes input2 - input1 (the model's operands swapped)


def _smaller_than_one(name: str, real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, whose checks abort TFLM: here they refuse."""
    if not 0.0 < real < 1.0:
        raise Unsupported(f"{name} {what} multiplier {real:g} outside (0, 1) (scales too far apart)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:
        raise Unsupported(f"{name} {what} multiplier {real:g} rounds up to 1")
    return mult, shift


def add_sub_multipliers(op_type: str, dtype: str, s1: float, s2: float, so: float) -> dict[str, int]:
    shift = LEFT_SHIFT[dtype]
    # double arithmetic on the float32 scales, as add_common.cc does (and the TFLite Micro the tests run for
    # SUB: some sub_common.cc revisions compute in float32, which the SEANet SUB models' goldens rule out)
    twice_max = 2.0 * max(s1, s2)
    reals = (s1 / twice_max, s2 / twice_max, twice_max / ((1 << shift) * so))
    m1, sh1 = _smaller_than_one(op_type, reals[0], "input1")
    m2, sh2 = _smaller_than_one(op_type, reals[1], "input2")
    mo, sho = _smaller_than_one(op_type, reals[2], "output")
    return dict(left_shift=shift, input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
                output_multiplier=mo, output_shift=sho)


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor, Tensor]:
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None or len(op.outputs) != 1:
        raise Unsupported(f"{name} needs exactly two inputs and one output")
    a, b = ins
    (y,) = graph.op_outputs(op)
    if not a.dtype == b.dtype == y.dtype or y.dtype not in LEFT_SHIFT:
        raise Unsupported(f"{name} of {a.dtype}, {b.dtype} -> {y.dtype} "
                          "(one type throughout: int8, int16, int32 or float32)")
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        if t.quant is None or t.quant.per_channel:
            raise Unsupported(f"{name} whose {role} is not per-tensor quantized")
        if len(t.shape) > 4:
            raise Unsupported(f"{name} of a rank-{len(t.shape)} tensor (at most 4)")
        if not t.scale > 0.0:
            raise Unsupported(f"{name} whose {role} has scale {t.scale}")
        lo, hi = (-128, 127) if t.dtype == "int8" else (-32767, 32767)  # TFLM DCHECKs |offset| < max
        if not lo <= t.zero_point <= hi:
            raise Unsupported(f"{name} whose {role} has zero point {t.zero_point}")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"{name} of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"{name} output shape {y.shape} is not the broadcast shape {expected}")
    return a, b, y


def lower_add_sub(op: Operator, graph: Graph) -> list[KernelCall]:
    name = op.op_type
    a, b, y = _operands(op, graph)
    if name == "ADD" and y.dtype != "int16":
        raise Unsupported("ADD of int8 belongs to the elementwise family")
    swapped = int(a.is_const and not b.is_const)
    first, second = (b, a) if swapped else (a, b)
    try:
        act_min, act_max = activation_range(op.options.get("activation", "NONE"), y.scale, y.zero_point, y.dtype)
    except ValueError as exc:
        raise Unsupported(f"{name} {exc}") from None
    out4, in1, in2 = _ext4(y.shape), _ext4(first.shape), _ext4(second.shape)
    geometry = {f"out_d{i}": out4[i] for i in range(4)}
    geometry |= {f"in1_d{i}": in1[i] for i in range(4)}
    geometry |= {f"in2_d{i}": in2[i] for i in range(4)}
    geometry["broadcast"] = int(not (in1 == in2 == out4))
    # Multipliers follow the model's operand order; the swap only moves them with their operands.
    mults = add_sub_multipliers(name, y.dtype, a.scale, b.scale, y.scale)
    if swapped:
        mults |= dict(input1_multiplier=mults["input2_multiplier"], input1_shift=mults["input2_shift"],
                      input2_multiplier=mults["input1_multiplier"], input2_shift=mults["input1_shift"])
    params = AddSubParams(**geometry, input1_offset=-first.zero_point, input2_offset=-second.zero_point,
                          output_offset=y.zero_point, act_min=act_min, act_max=act_max, **mults,
                          swapped=swapped if name == "SUB" else 0)
    inputs = tuple(t.index for t in (first, second) if not t.is_const)
    consts = tuple(
        ConstArray(f"operand{i}", np.ascontiguousarray(t.data, dtype=_NUMPY[y.dtype]))
        for i, t in enumerate((first, second), start=1)
        if t.is_const
    )
    kernel = f"{name.lower()}_s{8 if y.dtype == 'int8' else 16}"
    in_place = bool(inputs) and not params.broadcast
    return [KernelCall(kernel, params, inputs, consts, (y.index,), op.index, in_place=in_place)]


def _add_sub_ref(p: AddSubParams, a: np.ndarray, b: np.ndarray, sign: int, dtype: type) -> np.ndarray:
    x1 = np.broadcast_to(np.asarray(a).reshape(p.in1_shape), p.out_shape).astype(np.int64) + p.input1_offset
    x2 = np.broadcast_to(np.asarray(b).reshape(p.in2_shape), p.out_shape).astype(np.int64) + p.input2_offset
    s1 = multiply_by_quantized_multiplier(x1 << p.left_shift, p.input1_multiplier, p.input1_shift)
    s2 = multiply_by_quantized_multiplier(x2 << p.left_shift, p.input2_multiplier, p.input2_shift)
    raw = s1 + s2 if sign > 0 else (s2 - s1 if p.swapped else s1 - s2)
    out = multiply_by_quantized_multiplier(raw, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(dtype)


def sub_s8_ref(p: AddSubParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _add_sub_ref(p, a, b, -1, np.int8)


def sub_s16_ref(p: AddSubParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _add_sub_ref(p, a, b, -1, np.int16)


def add_s16_ref(p: AddSubParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _add_sub_ref(p, a, b, 1, np.int16)


def _int16_output(op: Operator, graph: Graph) -> bool:
    return len(op.outputs) == 1 and graph.tensor(op.outputs[0]).dtype == "int16"


LOWERINGS = {"SUB": lower_add_sub}
VARIANTS = {"ADD": (_int16_output, lower_add_sub)}
REFERENCES = {"sub_s8": sub_s8_ref, "sub_s16": sub_s16_ref, "add_s16": add_s16_ref}
