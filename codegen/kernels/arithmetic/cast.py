"""CAST between integer types and to / from float32, as TFLite Micro's cast.cc does it: static_cast per element.

An integer value converts to another integer type modulo 2^bits (e.g. uint32 4294967295 -> int32 -1), to float32
rounded to nearest (exact below 2^24); a float32 converts to an integer type truncated toward zero (C leaves
values outside the target range undefined; the kernels go through int64 and wrap, the reference likewise).
The C kernel reads each element as int64 (or float) by its type code and writes it by the output's code; a cast
between integers of one width (int32 <-> uint32) keeps the bits, so it is a byte copy the planner may elide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import CopyBytesParams

HEADER = "cast.h"

# Type codes shared with mcu_runtime/arithmetic/cast.h.
TYPE_CODES = {"int8": 0, "uint8": 1, "int16": 2, "uint16": 3, "int32": 4, "uint32": 5, "float32": 6}
# The types lowered: all pairs among them run in TFLite Micro and are tested against it (TFLM refuses e.g.
# uint8 -> int32, so uint8 and uint16 stay out although the C kernel reads and writes them).
ACCEPTED = ("int8", "int16", "int32", "uint32", "float32")


@dataclass(frozen=True)
class CastParams(KernelParams):
    C_TYPE = "cast_params_t"
    size: int = cfield("int32_t")
    in_type: int = cfield("int32_t")
    out_type: int = cfield("int32_t")


def lower_cast(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported("CAST needs one input and one output")
    (x,) = ins
    (y,) = graph.op_outputs(op)
    if x.dtype not in ACCEPTED or y.dtype not in ACCEPTED:
        raise Unsupported(f"CAST of {x.dtype} -> {y.dtype} (supported: {', '.join(ACCEPTED)})")
    if x.size != y.size:
        raise Unsupported(f"CAST of {x.shape} to {y.shape}: the element counts differ")
    if x.is_const:
        raise Unsupported("CAST of a constant tensor")
    if x.dtype != "float32" and y.dtype != "float32" and x.nbytes == y.nbytes:
        # Same-width integers (int32 <-> uint32): the bits do not change. A RESHAPE-like copy the planner may
        # drop by making the output a view of the input.
        return [KernelCall("copy_bytes", CopyBytesParams(x.nbytes), (x.index,), (), (y.index,), op.index,
                           in_place=True, alias_offset=0)]
    params = CastParams(x.size, TYPE_CODES[x.dtype], TYPE_CODES[y.dtype])
    same_size = x.nbytes == y.nbytes
    return [KernelCall("cast_elements", params, (x.index,), (), (y.index,), op.index, in_place=same_size)]


def cast_elements_ref(p: CastParams, x: np.ndarray) -> np.ndarray:
    out_name = next(k for k, v in TYPE_CODES.items() if v == p.out_type)
    out_dtype = NUMPY_DTYPES[out_name]
    x = np.asarray(x).reshape(-1)
    if x.dtype == np.float32:
        if out_dtype == np.float32:
            return x.copy()
        with np.errstate(invalid="ignore"):
            wide = np.trunc(x).astype(np.int64)
    else:
        wide = x.astype(np.int64)
    if out_dtype == np.float32:
        return wide.astype(np.float32)
    return wide.astype(out_dtype)  # NumPy wraps integer narrowing modulo 2^bits, as the C conversion does


LOWERINGS = {"CAST": lower_cast}
REFERENCES = {"cast_elements": cast_elements_ref}
