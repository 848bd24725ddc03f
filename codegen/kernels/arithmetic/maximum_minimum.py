"""MAXIMUM and MINIMUM of two int8 tensors with NumPy broadcasting over up to 4 dimensions.

TFLite Micro (maximum_minimum.cc) compares the raw int8 values and never looks at the quantization (the
converter gives both operands and the output the same one); so does this kernel. Both ops commute, so the
operand order and the broadcast walk are elementwise.py's (`_prepare` puts a constant operand second).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.elementwise import BroadcastParams, _call, _offsets, _prepare
from codegen.kernels.base import KernelCall

HEADER = "maximum_minimum_s8.h"


@dataclass(frozen=True)
class MinMaxParams(BroadcastParams):
    """The shared broadcast geometry; offsets and bounds are carried but unused (raw values compare)."""

    C_TYPE = "minmax_s8_params_t"


def _lower(kernel: str):
    def lower(op: Operator, graph: Graph) -> list[KernelCall]:
        ops = _prepare(op, graph)
        return [_call(kernel, MinMaxParams(**ops.geometry, **_offsets(ops)), ops, op)]

    return lower


def _operands(p: BroadcastParams, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x1 = np.broadcast_to(np.asarray(a, dtype=np.int8).reshape(p.in1_shape), p.out_shape)
    x2 = np.broadcast_to(np.asarray(b, dtype=np.int8).reshape(p.in2_shape), p.out_shape)
    return x1, x2


def maximum_s8_ref(p: MinMaxParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(*_operands(p, a, b)).astype(np.int8)


def minimum_s8_ref(p: MinMaxParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(*_operands(p, a, b)).astype(np.int8)


LOWERINGS = {"MAXIMUM": _lower("maximum_s8"), "MINIMUM": _lower("minimum_s8")}
REFERENCES = {"maximum_s8": maximum_s8_ref, "minimum_s8": minimum_s8_ref}
