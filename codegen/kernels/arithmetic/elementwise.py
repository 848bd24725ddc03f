"""ADD and MUL of two int8 tensors with NumPy broadcasting over up to 4 dimensions.

Semantics are TFLite Micro's reference kernels (add_common.cc / mul_common.cc): ADD rescales both
operands to a common scale with 20 bits of headroom, sums, and requantizes; MUL multiplies the offset
operands and requantizes once.

C argument order: the non-constant operands come first (KernelCall.inputs), then the constant ones
(KernelCall.consts); the kernel reads them as input1, input2 in that order. When only the model's first
operand is constant the two are swapped together with their quantization parameters: both ops are
exactly commutative in TFLite's integer arithmetic (the scaled sum and the product commute), so the
result is bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import activation_range_s8, multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "elementwise_s8.h"

ADD_LEFT_SHIFT_S8 = 20  # TFLite's headroom for int8 ADD (15 is the int16 variant)


@dataclass(frozen=True)
class BroadcastParams(KernelParams):
    """Geometry shared by ADD and MUL (the first members of both C structs).

    Shapes are right-aligned and extended to 4-D with leading 1s; an operand dimension of 1 is repeated
    along the output's. broadcast == 0 means both operands have the output's shape: one flat loop.
    """

    broadcast: int = cfield("int32_t")
    out_d0: int = cfield("int32_t")
    out_d1: int = cfield("int32_t")
    out_d2: int = cfield("int32_t")
    out_d3: int = cfield("int32_t")
    in1_d0: int = cfield("int32_t")
    in1_d1: int = cfield("int32_t")
    in1_d2: int = cfield("int32_t")
    in1_d3: int = cfield("int32_t")
    in2_d0: int = cfield("int32_t")
    in2_d1: int = cfield("int32_t")
    in2_d2: int = cfield("int32_t")
    in2_d3: int = cfield("int32_t")
    input1_offset: int = cfield("int32_t")  # -zero point
    input2_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")  # +zero point
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.out_d0, self.out_d1, self.out_d2, self.out_d3)

    @property
    def in1_shape(self) -> tuple[int, int, int, int]:
        return (self.in1_d0, self.in1_d1, self.in1_d2, self.in1_d3)

    @property
    def in2_shape(self) -> tuple[int, int, int, int]:
        return (self.in2_d0, self.in2_d1, self.in2_d2, self.in2_d3)


@dataclass(frozen=True)
class AddParams(BroadcastParams):
    C_TYPE = "add_s8_params_t"
    left_shift: int = cfield("int32_t")
    input1_multiplier: int = cfield("int32_t")
    input1_shift: int = cfield("int32_t")  # <= 0: a right shift
    input2_multiplier: int = cfield("int32_t")
    input2_shift: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")


@dataclass(frozen=True)
class MulParams(BroadcastParams):
    C_TYPE = "mul_s8_params_t"
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")  # > 0 shifts left


def _ext4(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)


@dataclass
class _Operands:
    """The two operands in C argument order, with the facts every lowering needs."""

    first: Tensor
    second: Tensor
    out: Tensor
    geometry: dict[str, int]
    activation_range: tuple[int, int]


def _prepare(op: Operator, graph: Graph) -> _Operands:
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"{name} needs exactly two inputs")
    a, b = ins
    (y,) = graph.op_outputs(op)
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        if t.dtype != "int8":
            raise Unsupported(f"{name} on {t.dtype} ({role}; only int8)")
        if t.quant is None or t.quant.per_channel:
            raise Unsupported(f"{name} whose {role} is not per-tensor quantized")
        if len(t.shape) > 4:
            raise Unsupported(f"{name} of a rank-{len(t.shape)} tensor (at most 4)")
        if t.scale <= 0.0:
            raise Unsupported(f"{name} whose {role} has scale {t.scale}")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"{name} of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"{name} output shape {y.shape} is not the broadcast shape {expected}")
    if a.is_const and not b.is_const:
        a, b = b, a  # activation first; see the module docstring for why this is exact
    try:
        act = activation_range_s8(op.options.get("activation", "NONE"), y.scale, y.zero_point)
    except ValueError as exc:
        raise Unsupported(f"{name} {exc}") from None
    out4, in1, in2 = _ext4(y.shape), _ext4(a.shape), _ext4(b.shape)
    geometry = {f"out_d{i}": out4[i] for i in range(4)}
    geometry |= {f"in1_d{i}": in1[i] for i in range(4)}
    geometry |= {f"in2_d{i}": in2[i] for i in range(4)}
    geometry["broadcast"] = int(not (in1 == in2 == out4))
    return _Operands(a, b, y, geometry, act)


def _call(kernel: str, params: BroadcastParams, ops: _Operands, op: Operator) -> KernelCall:
    inputs = tuple(t.index for t in (ops.first, ops.second) if not t.is_const)
    consts = tuple(
        ConstArray(f"operand{i}", np.ascontiguousarray(t.data, dtype=np.int8))
        for i, t in enumerate((ops.first, ops.second), start=1)
        if t.is_const
    )
    # In place is safe whenever inputs[0] has the output's shape (each output element reads only its own
    # position of it before writing); it is offered only when nothing broadcasts, the case the planner needs.
    in_place = bool(inputs) and not params.broadcast
    # macs stays 0: like the usual model MAC counts, only CONV/DEPTHWISE/FC multiply-accumulates count.
    return KernelCall(kernel, params, inputs, consts, (ops.out.index,), op.index, in_place=in_place)


def _smaller_than_one(real: float, what: str) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp, whose checks abort TFLM: here they refuse."""
    if not 0.0 < real < 1.0:
        raise Unsupported(f"ADD {what} multiplier {real:g} outside (0, 1) (scales too far apart)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:
        raise Unsupported(f"ADD {what} multiplier {real:g} rounds up to 1")
    return mult, shift


def add_params(s1: float, s2: float, so: float) -> dict[str, int]:
    """add_common.cc: double arithmetic on the float32 scales, left_shift 20 for int8."""
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _smaller_than_one(s1 / twice_max, "input1")
    m2, sh2 = _smaller_than_one(s2 / twice_max, "input2")
    mo, sho = _smaller_than_one(twice_max / ((1 << ADD_LEFT_SHIFT_S8) * so), "output")
    return dict(
        left_shift=ADD_LEFT_SHIFT_S8,
        input1_multiplier=m1,
        input1_shift=sh1,
        input2_multiplier=m2,
        input2_shift=sh2,
        output_multiplier=mo,
        output_shift=sho,
    )


def mul_params(s1: float, s2: float, so: float) -> dict[str, int]:
    """mul_common.cc: double(s1) * double(s2) / double(so)."""
    mult, shift = quantize_multiplier(s1 * s2 / so)
    return dict(output_multiplier=mult, output_shift=shift)


def _offsets(ops: _Operands) -> dict[str, int]:
    return dict(
        input1_offset=-ops.first.zero_point,
        input2_offset=-ops.second.zero_point,
        output_offset=ops.out.zero_point,
        act_min=ops.activation_range[0],
        act_max=ops.activation_range[1],
    )


def lower_add(op: Operator, graph: Graph) -> list[KernelCall]:
    ops = _prepare(op, graph)
    params = AddParams(**ops.geometry, **_offsets(ops), **add_params(ops.first.scale, ops.second.scale, ops.out.scale))
    return [_call("add_s8", params, ops, op)]


def lower_mul(op: Operator, graph: Graph) -> list[KernelCall]:
    ops = _prepare(op, graph)
    params = MulParams(**ops.geometry, **_offsets(ops), **mul_params(ops.first.scale, ops.second.scale, ops.out.scale))
    return [_call("mul_s8", params, ops, op)]


def _broadcast_operands(p: BroadcastParams, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x1 = np.broadcast_to(np.asarray(a).reshape(p.in1_shape), p.out_shape).astype(np.int64) + p.input1_offset
    x2 = np.broadcast_to(np.asarray(b).reshape(p.in2_shape), p.out_shape).astype(np.int64) + p.input2_offset
    return x1, x2


def _finish(p: BroadcastParams, raw: np.ndarray) -> np.ndarray:
    return np.clip(raw + p.output_offset, p.act_min, p.act_max).astype(np.int8)


def add_s8_ref(p: AddParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, x2 = _broadcast_operands(p, a, b)
    s1 = multiply_by_quantized_multiplier(x1 << p.left_shift, p.input1_multiplier, p.input1_shift)
    s2 = multiply_by_quantized_multiplier(x2 << p.left_shift, p.input2_multiplier, p.input2_shift)
    return _finish(p, multiply_by_quantized_multiplier(s1 + s2, p.output_multiplier, p.output_shift))


def mul_s8_ref(p: MulParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, x2 = _broadcast_operands(p, a, b)
    return _finish(p, multiply_by_quantized_multiplier(x1 * x2, p.output_multiplier, p.output_shift))


LOWERINGS = {"ADD": lower_add, "MUL": lower_mul}
REFERENCES = {"add_s8": add_s8_ref, "mul_s8": mul_s8_ref}
