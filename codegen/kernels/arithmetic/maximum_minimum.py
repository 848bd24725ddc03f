"""MAXIMUM and MINIMUM of two int8 or two int16 tensors with NumPy broadcasting over up to 4 dimensions.

TFLite Micro (maximum_minimum.cc) compares the raw values and never looks at the quantization (the
converter gives both operands and the output the same one); so do these kernels. Both ops commute, so the
operand order and the broadcast walk are elementwise.py's (`_prepare` puts a constant operand second; the
int16 case repeats its checks for int16, and the C walk steps two bytes per element).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _call, _ext4, _offsets, _Operands, _prepare
from codegen.kernels.base import ConstArray, KernelCall, Unsupported

HEADER = "maximum_minimum.h"


@dataclass(frozen=True)
class MinMaxParams(BroadcastParams):
    """The shared broadcast geometry; offsets and bounds are carried but unused (raw values compare)."""

    C_TYPE = "minmax_params_t"


def _prepare_s16(op: Operator, graph: Graph) -> _Operands:
    """elementwise._prepare for int16 operands (quantization irrelevant here)."""
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"{name} needs exactly two inputs")
    a, b = ins
    (y,) = graph.op_outputs(op)
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        if t.dtype != "int16":
            raise Unsupported(f"{name} mixing int16 with {t.dtype} ({role})")
        if len(t.shape) > 4:
            raise Unsupported(f"{name} of a rank-{len(t.shape)} tensor (at most 4)")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"{name} of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"{name} output shape {y.shape} is not the broadcast shape {expected}")
    if a.is_const and not b.is_const:
        a, b = b, a
    out4, in1, in2 = _ext4(y.shape), _ext4(a.shape), _ext4(b.shape)
    geometry = {f"out_d{i}": out4[i] for i in range(4)}
    geometry |= {f"in1_d{i}": in1[i] for i in range(4)}
    geometry |= {f"in2_d{i}": in2[i] for i in range(4)}
    geometry["broadcast"] = int(not (in1 == in2 == out4))
    return _Operands(a, b, y, geometry, (-(2**15), 2**15 - 1))


def _lower(kind: str):
    def lower(op: Operator, graph: Graph) -> list[KernelCall]:
        first = graph.op_inputs(op)[0]
        if first is not None and first.dtype == "int16":
            ops = _prepare_s16(op, graph)
            params = MinMaxParams(**ops.geometry, input1_offset=0, input2_offset=0, output_offset=0,
                                  act_min=ops.activation_range[0], act_max=ops.activation_range[1])
            inputs = tuple(t.index for t in (ops.first, ops.second) if not t.is_const)
            consts = tuple(ConstArray(f"operand{i}", np.ascontiguousarray(t.data, dtype=np.int16))
                           for i, t in enumerate((ops.first, ops.second), start=1) if t.is_const)
            return [KernelCall(f"{kind}_s16", params, inputs, consts, (ops.out.index,), op.index,
                               in_place=bool(inputs) and not params.broadcast)]
        ops = _prepare(op, graph)
        return [_call(f"{kind}_s8", MinMaxParams(**ops.geometry, **_offsets(ops)), ops, op)]

    return lower


def _operands(p: BroadcastParams, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x1 = np.broadcast_to(np.asarray(a).reshape(p.in1_shape), p.out_shape)
    x2 = np.broadcast_to(np.asarray(b).reshape(p.in2_shape), p.out_shape)
    return x1, x2


def maximum_ref(p: MinMaxParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(*_operands(p, a, b))


def minimum_ref(p: MinMaxParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(*_operands(p, a, b))


LOWERINGS = {"MAXIMUM": _lower("maximum"), "MINIMUM": _lower("minimum")}
REFERENCES = {"maximum_s8": maximum_ref, "minimum_s8": minimum_ref, "maximum_s16": maximum_ref,
              "minimum_s16": minimum_ref}
