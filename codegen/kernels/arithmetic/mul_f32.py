"""MUL of two float32 tensors (same shape, or either one a single value), as TFLite Micro's float MUL:
one IEEE single multiply per element, then the fused activation as min(max(v, low), high) (NaN passes;
without an activation the bounds are -FLT_MAX and FLT_MAX, so an infinite product becomes FLT_MAX).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "mul_f32.h"

ACTIVATION_CODES = {"NONE": 0, "RELU": 1, "RELU6": 2, "RELU_N1_TO_1": 3}
_MAX = float(np.finfo(np.float32).max)
# TFLM's CalculateActivationRange for float: "none" is [lowest, max], so +-inf become +-FLT_MAX.
_BOUNDS = {0: (-_MAX, _MAX), 1: (0.0, _MAX), 2: (0.0, 6.0), 3: (-1.0, 1.0)}


@dataclass(frozen=True)
class MulF32Params(KernelParams):
    C_TYPE = "mul_f32_params_t"
    size: int = cfield("int32_t")
    a_step: int = cfield("int32_t")  # 1, or 0 for a single value broadcast over the output
    b_step: int = cfield("int32_t")
    activation: int = cfield("int32_t")


def _float_output(op: Operator, graph: Graph) -> bool:
    return graph.op_outputs(op)[0].dtype == "float32"


def lower_mul_f32(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported("MUL needs exactly two inputs")
    a, b = ins
    (y,) = graph.op_outputs(op)
    if a.dtype != "float32" or b.dtype != "float32" or y.dtype != "float32":
        raise Unsupported(f"MUL of {a.dtype} x {b.dtype} -> {y.dtype} (float32 needs all three float32)")
    activation = op.options.get("activation", "NONE")
    if activation not in ACTIVATION_CODES:
        raise Unsupported(f"MUL with fused activation {activation}")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"MUL of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"MUL output shape {y.shape} is not the broadcast shape {expected}")
    for t in (a, b):
        if t.size != 1 and tuple(t.shape) != expected:
            raise Unsupported(f"MUL float32 broadcasting {t.shape} to {expected} (only equal shapes or one value)")
    if a.is_const and b.is_const:
        raise Unsupported("MUL of two constants")
    inputs, consts = [], []
    for i, t in enumerate((a, b)):
        tin, tconst = operand(t, f"in{i}")
        inputs += list(tin)
        consts += list(tconst)
    if a.is_const:  # the C argument order is inputs then constants: swap (MUL commutes bit for bit)
        a, b = b, a
    params = MulF32Params(y.size, int(a.size != 1 or y.size == 1), int(b.size != 1 or y.size == 1),
                          ACTIVATION_CODES[activation])
    return [KernelCall("mul_f32", params, tuple(inputs), tuple(consts), (y.index,), op.index, macs=y.size,
                       in_place=a.size == y.size)]


def mul_f32_ref(p: MulF32Params, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32).reshape(-1)
    b = np.asarray(b, np.float32).reshape(-1)
    a = a if p.a_step else np.full(p.size, a[0], np.float32)
    b = b if p.b_step else np.full(p.size, b[0], np.float32)
    with np.errstate(all="ignore"):
        v = a * b
    low, high = _BOUNDS[p.activation]
    v = np.where(v < low, np.float32(low), v)
    return np.where(v > high, np.float32(high), v).astype(np.float32)


LOWERINGS: dict = {}
VARIANTS = {"MUL": (_float_output, lower_mul_f32)}
REFERENCES = {"mul_f32": mul_f32_ref}
