"""CONCATENATION: one strided byte copy per input into its slice of every output row.

The N calls of one operator all name the concatenation output; each writes only its own slice, so the
reference takes the output written so far (`out`) and fills in its part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "copy_s8.h"

# Same element types TFLM concatenates (int64 lacks a C type in the emitter, so it is left out).
_DTYPES = ("int8", "int16", "int32", "float32")


@dataclass(frozen=True)
class CopyStridedParams(KernelParams):
    C_TYPE = "copy_strided_params_t"
    outer_count: int = cfield("int32_t")
    inner_bytes: int = cfield("int32_t")
    out_row_bytes: int = cfield("int32_t")
    out_offset: int = cfield("int32_t")


def _qparams(t: Tensor) -> tuple | None:
    return None if t.quant is None else (t.quant.scale, t.quant.zero_point)


def lower_concatenation(op: Operator, graph: Graph) -> list[KernelCall]:
    xs = graph.op_inputs(op)
    (y,) = graph.op_outputs(op)
    if not xs or any(x is None for x in xs):
        raise Unsupported("CONCATENATION with a missing input")
    activation = op.options.get("activation", "NONE")
    if activation != "NONE":
        raise Unsupported(f"CONCATENATION with fused activation {activation} (TFLM requires NONE)")
    if y.dtype not in _DTYPES:
        raise Unsupported(f"CONCATENATION of {y.dtype} (supported: {', '.join(_DTYPES)})")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    pos_axis = axis + rank if axis < 0 else axis
    if not 0 <= pos_axis < rank:
        raise Unsupported(f"CONCATENATION along axis {axis} of a rank-{rank} output")
    for i, x in enumerate(xs):
        assert x is not None
        if x.dtype != y.dtype:
            raise Unsupported(f"CONCATENATION input {i} is {x.dtype}, the output {y.dtype}")
        if len(x.shape) != rank or any(
            a != b for d, (a, b) in enumerate(zip(x.shape, y.shape, strict=True)) if d != pos_axis
        ):
            raise Unsupported(f"CONCATENATION input {i} shape {x.shape} does not fit output {y.shape} on axis {axis}")
        # TFLM copies int8 bytes unchanged, which is only right when every tensor shares one quantization.
        if y.dtype in ("int8", "int16") and _qparams(x) != _qparams(y):
            raise Unsupported(
                f"CONCATENATION input {i} quantization (scale, zero point) {_qparams(x)} differs from the "
                f"output's {_qparams(y)}"
            )
    if sum(x.shape[pos_axis] for x in xs if x is not None) != y.shape[pos_axis]:
        raise Unsupported(f"CONCATENATION inputs do not add up to the output extent {y.shape[pos_axis]} on axis {axis}")

    itemsize = y.nbytes // y.size if y.size else 0
    outer = math.prod(y.shape[:pos_axis])
    row_bytes = math.prod(y.shape[pos_axis:]) * itemsize
    calls = []
    offset = 0
    for i, x in enumerate(xs):
        assert x is not None
        inner = math.prod(x.shape[pos_axis:]) * itemsize
        inputs, consts = operand(x, f"in{i}")
        params = CopyStridedParams(outer_count=outer, inner_bytes=inner, out_row_bytes=row_bytes, out_offset=offset)
        calls.append(KernelCall("copy_strided", params, inputs, consts, (y.index,), op.index))
        offset += inner
    return calls


def copy_strided_ref(p: CopyStridedParams, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The output after this call: `out` (the output so far; zeros when None) with this input's slice written."""
    total = p.outer_count * p.out_row_bytes
    if out is None:
        buf = np.zeros(total, dtype=np.uint8)
        dtype = x.dtype
    else:
        buf = np.ascontiguousarray(out).view(np.uint8).reshape(-1).copy()
        dtype = out.dtype
    if buf.size != total or x.nbytes != p.outer_count * p.inner_bytes:
        raise ValueError("copy_strided: array sizes do not match its params")
    rows = buf.reshape(p.outer_count, p.out_row_bytes)
    src = np.ascontiguousarray(x).view(np.uint8).reshape(p.outer_count, p.inner_bytes)
    rows[:, p.out_offset : p.out_offset + p.inner_bytes] = src
    return buf.view(dtype)


LOWERINGS = {"CONCATENATION": lower_concatenation}
REFERENCES = {"copy_strided": copy_strided_ref}
