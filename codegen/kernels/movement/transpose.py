"""TRANSPOSE of an int8 tensor of rank <= 4 by a constant permutation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "transpose_s8.h"


@dataclass(frozen=True)
class TransposeParams(KernelParams):
    C_TYPE = "transpose_s8_params_t"
    in_d0: int = cfield("int32_t")
    in_d1: int = cfield("int32_t")
    in_d2: int = cfield("int32_t")
    in_d3: int = cfield("int32_t")
    perm0: int = cfield("int32_t")
    perm1: int = cfield("int32_t")
    perm2: int = cfield("int32_t")
    perm3: int = cfield("int32_t")

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.in_d0, self.in_d1, self.in_d2, self.in_d3)

    @property
    def perm(self) -> tuple[int, int, int, int]:
        return (self.perm0, self.perm1, self.perm2, self.perm3)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(self.in_shape[k] for k in self.perm)


def transpose_params(in_shape: tuple[int, ...], perm: tuple[int, ...]) -> TransposeParams:
    """Pad a rank < 4 transpose to rank 4 with leading unit axes that stay in place."""
    lead = 4 - len(in_shape)
    shape4 = (1,) * lead + tuple(in_shape)
    perm4 = tuple(range(lead)) + tuple(p + lead for p in perm)
    return TransposeParams(*shape4, *perm4)


def lower_transpose(op: Operator, graph: Graph) -> list[KernelCall]:
    x, perm_t = graph.op_inputs(op)[:2]
    (y,) = graph.op_outputs(op)
    if x is None or perm_t is None:
        raise Unsupported("TRANSPOSE without its input or permutation")
    if x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported(f"TRANSPOSE of {x.dtype} to {y.dtype} (only int8)")
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise Unsupported(f"TRANSPOSE of a rank-{rank} tensor (1 to 4)")
    if perm_t.data is None:
        raise Unsupported("TRANSPOSE with a non-constant permutation")
    perm = tuple(int(v) for v in perm_t.data.reshape(-1))
    if sorted(perm) != list(range(rank)):
        raise Unsupported(f"TRANSPOSE permutation {list(perm)} is not a permutation of {rank} axes")
    expected = tuple(x.shape[p] for p in perm)
    if tuple(y.shape) != expected:
        raise Unsupported(f"TRANSPOSE output shape {y.shape}, permutation {list(perm)} of {x.shape} gives {expected}")
    # Like TFLM, the bytes move unchanged: input and output quantization are not compared.
    inputs, consts = operand(x, "data")
    params = transpose_params(tuple(x.shape), perm)
    return [KernelCall("transpose_s8", params, inputs, consts, (y.index,), op.index)]


def transpose_s8_ref(p: TransposeParams, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(p.in_shape).transpose(p.perm))


LOWERINGS = {"TRANSPOSE": lower_transpose}
REFERENCES = {"transpose_s8": transpose_s8_ref}
