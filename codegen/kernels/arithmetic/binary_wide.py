"""ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM of int32 tensors and ADD, SUB, DIV, MAXIMUM, MINIMUM of float32 (the
unquantized arithmetic of front-end graphs), NumPy broadcasting up to rank 4, as TFLite Micro computes them:
int32 results wrap modulo 2^32 (TFLM's signed arithmetic does on its hosts), then the fused activation clamps
(int32: NONE is the whole range, RELU [0, max], RELU6 [0, 6], RELU_N1_TO_1 [-1, 1]; float32 the same with
+-FLT_MAX, NaN passing), except that TFLM's int32 ADD ignores the activation. MAXIMUM is a > b ? a : b and
MINIMUM a < b ? a : b, as maximum_minimum.cc writes them. int32 DIV truncates toward zero; where TFLM fails the
invoke (a zero divisor) or C leaves it undefined (INT32_MIN / -1) the kernels give 0 and INT32_MIN. float32 MUL
is mul_f32's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "binary_wide.h"

OPS = {"ADD": 0, "SUB": 1, "MUL": 2, "MAXIMUM": 3, "MINIMUM": 4, "DIV": 5}
_ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU6": 2, "RELU_N1_TO_1": 3}
_INT32_BOUNDS = {0: (-(2**31), 2**31 - 1), 1: (0, 2**31 - 1), 2: (0, 6), 3: (-1, 1)}
_FLT_MAX = float(np.finfo(np.float32).max)
_FLOAT_BOUNDS = {0: (-_FLT_MAX, _FLT_MAX), 1: (0.0, _FLT_MAX), 2: (0.0, 6.0), 3: (-1.0, 1.0)}


@dataclass(frozen=True)
class BinaryWideParams(KernelParams):
    C_TYPE = "binary_wide_params_t"
    op: int = cfield("int32_t")
    swapped: int = cfield("int32_t")  # 1: the first pointer is the operator's second operand
    activation: int = cfield("int32_t")
    d0: int = cfield("int32_t")  # output dims, rank 4 (leading 1s)
    d1: int = cfield("int32_t")
    d2: int = cfield("int32_t")
    d3: int = cfield("int32_t")
    a0: int = cfield("int32_t")  # first pointer's element strides per output dim (0: broadcast)
    a1: int = cfield("int32_t")
    a2: int = cfield("int32_t")
    a3: int = cfield("int32_t")
    b0: int = cfield("int32_t")
    b1: int = cfield("int32_t")
    b2: int = cfield("int32_t")
    b3: int = cfield("int32_t")


def _strides(shape: tuple[int, ...], out4: tuple[int, ...]) -> list[int]:
    ext = (1,) * (4 - len(shape)) + tuple(shape)
    strides, step = [0] * 4, 1
    for d in range(3, -1, -1):
        strides[d] = step if ext[d] != 1 or out4[d] == 1 else 0
        step *= ext[d]
    return strides


def _accepts(dtypes: tuple[str, ...]):
    def accepts(op: Operator, graph: Graph) -> bool:
        return graph.op_outputs(op)[0].dtype in dtypes

    return accepts


def lower_binary_wide(op: Operator, graph: Graph) -> list[KernelCall]:
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"{name} needs exactly two inputs")
    a, b = ins
    (y,) = graph.op_outputs(op)
    dtype = y.dtype
    if a.dtype != dtype or b.dtype != dtype or dtype not in ("int32", "float32") or (
            dtype == "float32" and name == "MUL"):
        raise Unsupported(f"{name} of {a.dtype} x {b.dtype} -> {dtype}")
    if a.quant is not None or b.quant is not None or y.quant is not None:
        raise Unsupported(f"{name} of quantized {dtype} tensors (only plain integers)")
    activation = op.options.get("activation", "NONE")
    if activation not in _ACTIVATIONS:
        raise Unsupported(f"{name} with fused activation {activation}")
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise Unsupported(f"{name} of a tensor of rank above 4")
    try:
        expected = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise Unsupported(f"{name} of shapes {a.shape} and {b.shape} that do not broadcast") from None
    if tuple(y.shape) != expected:
        raise Unsupported(f"{name} output shape {y.shape} is not the broadcast shape {expected}")
    if a.is_const and b.is_const:
        raise Unsupported(f"{name} of two constants")
    # TFLM's int32 ADD ignores the fused activation (its int32 SUB and MUL apply it): so does this lowering.
    code = 0 if (name, dtype) == ("ADD", "int32") else _ACTIVATIONS[activation]
    swapped = int(a.is_const)
    first, second = (b, a) if swapped else (a, b)
    in1, c1 = operand(first, "in0")
    in2, c2 = operand(second, "in1")
    out4 = (1,) * (4 - len(y.shape)) + tuple(y.shape)
    params = BinaryWideParams(OPS[name], swapped, code, *out4, *_strides(first.shape, out4),
                              *_strides(second.shape, out4))
    kernel = "binary_i32" if dtype == "int32" else "binary_f32"
    return [KernelCall(kernel, params, in1 + in2, c1 + c2, (y.index,), op.index, macs=y.size,
                       in_place=first.shape == y.shape)]


def _gather(p: BinaryWideParams, x: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    idx = np.zeros((p.d0, p.d1, p.d2, p.d3), np.int64)
    for d, (n, s) in enumerate(zip((p.d0, p.d1, p.d2, p.d3), strides, strict=True)):
        shape = [1, 1, 1, 1]
        shape[d] = n
        idx = idx + (np.arange(n) * s).reshape(shape)
    return np.asarray(x).reshape(-1)[idx.reshape(-1)]


def _operands(p: BinaryWideParams, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = _gather(p, x, (p.a0, p.a1, p.a2, p.a3))
    v = _gather(p, z, (p.b0, p.b1, p.b2, p.b3))
    return (v, u) if p.swapped else (u, v)


def binary_i32_ref(p: BinaryWideParams, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    u, v = (w.astype(np.int64) for w in _operands(p, x, z))
    if p.op == OPS["DIV"]:
        safe = np.where(v == 0, 1, v)
        r = np.where(v == 0, 0, np.sign(u) * np.sign(safe) * (np.abs(u) // np.abs(safe)))
    else:
        r = [u + v, u - v, u * v, np.where(u > v, u, v), np.where(u < v, u, v)][p.op]
    r = ((r + 2**31) % 2**32) - 2**31
    low, high = _INT32_BOUNDS[p.activation]
    return np.clip(r, low, high).astype(np.int32)


def binary_f32_ref(p: BinaryWideParams, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    u, v = (w.astype(np.float32) for w in _operands(p, x, z))
    with np.errstate(all="ignore"):
        r = [u + v, u - v, u * v, np.where(u > v, u, v), np.where(u < v, u, v), u / v][p.op].astype(np.float32)
    if p.op in (OPS["ADD"], OPS["SUB"], OPS["MUL"], OPS["DIV"]):  # MAXIMUM and MINIMUM have no activation
        low, high = _FLOAT_BOUNDS[p.activation]
        r = np.where(r < low, np.float32(low), r)
        r = np.where(r > high, np.float32(high), r)
    return r.astype(np.float32)


LOWERINGS: dict = {}
VARIANTS = {
    "ADD": (_accepts(("int32", "float32")), lower_binary_wide),
    "SUB": (_accepts(("int32", "float32")), lower_binary_wide),
    "MUL": (_accepts(("int32",)), lower_binary_wide),
    "DIV": (_accepts(("int32", "float32")), lower_binary_wide),
    "MAXIMUM": (_accepts(("int32", "float32")), lower_binary_wide),
    "MINIMUM": (_accepts(("int32", "float32")), lower_binary_wide),
}
REFERENCES = {"binary_i32": binary_i32_ref, "binary_f32": binary_f32_ref}
