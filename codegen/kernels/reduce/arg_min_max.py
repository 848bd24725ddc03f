"""ARG_MAX and ARG_MIN of an int8 tensor along one constant axis, with an int32 or int64 index output.

TFLite Micro (reference_ops::ArgMinMax): the input is seen as [outer, axis_size, inner]; for each
(outer, inner) the first value is the running best and a later value replaces it only if strictly greater
(ARG_MAX) or smaller (ARG_MIN), so ties give the lowest index. The quantization does not matter (one
monotonic scale for the whole tensor), and the output shape drops the axis. TFLM runs only int32 axes and
indices; TFLite's kernel (the same algorithm) also int64 ones, which are accepted here with its semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield

HEADER = "arg_min_max_s8.h"

KERNELS = {"int32": "arg_min_max_s8_i32", "int64": "arg_min_max_s8_i64"}


@dataclass(frozen=True)
class ArgMinMaxParams(KernelParams):
    C_TYPE = "arg_min_max_s8_params_t"
    outer: int = cfield("int32_t")  # product of the dims before the axis
    axis_size: int = cfield("int32_t")
    inner: int = cfield("int32_t")  # product of the dims after the axis
    is_max: int = cfield("int32_t")  # 1: ARG_MAX, 0: ARG_MIN


def lower_arg_min_max(op: Operator, graph: Graph) -> list[KernelCall]:
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(ins)} inputs (needs the tensor and its axis)")
    x, axis_t = ins
    (y,) = graph.op_outputs(op)
    if x.dtype != "int8":
        raise Unsupported(f"on a {x.dtype} input (only int8)")
    if y.dtype not in KERNELS:
        raise Unsupported(f"with a {y.dtype} output (int32 or int64)")
    if axis_t.data is None or axis_t.size != 1:
        raise Unsupported("without a constant, single-valued axis")
    if axis_t.dtype not in ("int32", "int64"):
        raise Unsupported(f"with a {axis_t.dtype} axis")
    rank = len(x.shape)
    if rank == 0:
        raise Unsupported("of a scalar")
    axis = int(np.asarray(axis_t.data).reshape(-1)[0])
    if not -rank <= axis < rank:
        raise Unsupported(f"with axis {axis} out of range for a rank-{rank} input")
    axis %= rank
    expected = tuple(d for i, d in enumerate(x.shape) if i != axis)
    if tuple(y.shape) != expected:
        raise Unsupported(f"whose output shape {tuple(y.shape)} is not {expected}")
    if x.size == 0:
        raise Unsupported(f"of an empty input {x.shape}")
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
    params = ArgMinMaxParams(outer, int(x.shape[axis]), inner, int(name == "ARG_MAX"))
    return [KernelCall(KERNELS[y.dtype], params, (x.index,), (), (y.index,), op.index)]


def _ref(p: ArgMinMaxParams, x: np.ndarray, dtype: type) -> np.ndarray:
    view = np.asarray(x, dtype=np.int8).reshape(p.outer, p.axis_size, p.inner)
    # NumPy's argmax/argmin also return the first of equal values.
    found = view.argmax(axis=1) if p.is_max else view.argmin(axis=1)
    return found.astype(dtype).reshape(-1)


def arg_min_max_s8_i32_ref(p: ArgMinMaxParams, x: np.ndarray) -> np.ndarray:
    return _ref(p, x, np.int32)


def arg_min_max_s8_i64_ref(p: ArgMinMaxParams, x: np.ndarray) -> np.ndarray:
    return _ref(p, x, np.int64)


LOWERINGS = {"ARG_MAX": lower_arg_min_max, "ARG_MIN": lower_arg_min_max}
REFERENCES = {"arg_min_max_s8_i32": arg_min_max_s8_i32_ref, "arg_min_max_s8_i64": arg_min_max_s8_i64_ref}
