"""GATHER with batch_dims 0: slices of the data along one axis, picked by an int32 or int16 index tensor.

The data is seen as [outer, axis, inner] and moved in slices of inner bytes, so any element type works. TFLite
Micro fails the invoke on an index out of range; constant indices are checked here, and at run time the kernel
writes a zero slice for one instead of reading outside the tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.slice_split import DTYPES

HEADER = "gather_bytes.h"

_KERNELS = {"int32": "gather_bytes_i32", "int16": "gather_bytes_i16"}


@dataclass(frozen=True)
class GatherParams(KernelParams):
    C_TYPE = "gather_bytes_params_t"
    outer_count: int = cfield("int32_t")
    axis_size: int = cfield("int32_t")
    inner_bytes: int = cfield("int32_t")
    num_indices: int = cfield("int32_t")
    indices_first: int = cfield("int32_t")


def lower_gather(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported("GATHER needs data and indices")
    data, indices = ins
    (y,) = graph.op_outputs(op)
    if int(op.options.get("batch_dims", 0)) != 0:
        raise Unsupported(f"GATHER with batch_dims {op.options['batch_dims']} (only 0)")
    if data.dtype not in DTYPES or y.dtype != data.dtype:
        raise Unsupported(f"GATHER of {data.dtype} into {y.dtype} (supported: {', '.join(DTYPES)})")
    if indices.dtype not in _KERNELS:
        raise Unsupported(f"GATHER with {indices.dtype} indices (int32 or int16)")
    rank = len(data.shape)
    axis = int(op.options.get("axis", 0))
    if not -rank <= axis < rank:
        raise Unsupported(f"GATHER along axis {axis} of a rank-{rank} tensor")
    axis %= rank
    expected = tuple(data.shape[:axis]) + tuple(indices.shape) + tuple(data.shape[axis + 1 :])
    if tuple(y.shape) != expected:
        raise Unsupported(f"GATHER output shape {y.shape}, {expected} expected")
    if y.size == 0:
        raise Unsupported(f"GATHER output is empty {y.shape}")
    axis_size = data.shape[axis]
    if indices.is_const:
        assert indices.data is not None
        bad = [int(v) for v in indices.data.reshape(-1) if not 0 <= int(v) < axis_size]
        if bad:
            raise Unsupported(f"GATHER index {bad[0]} outside 0..{axis_size - 1}")
    itemsize = data.nbytes // data.size
    params = GatherParams(
        outer_count=math.prod(data.shape[:axis]),
        axis_size=axis_size,
        inner_bytes=math.prod(data.shape[axis + 1 :]) * itemsize,
        num_indices=indices.size,
        indices_first=int(data.is_const and not indices.is_const),
    )
    inputs = tuple(t.index for t in (data, indices) if not t.is_const)
    consts = tuple(ConstArray(role, np.ascontiguousarray(t.data)) for t, role in ((data, "data"), (indices, "indices"))
                   if t.data is not None)
    return [KernelCall(_KERNELS[indices.dtype], params, inputs, consts, (y.index,), op.index)]


def gather_bytes_ref(p: GatherParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    data, indices = (b, a) if p.indices_first else (a, b)
    raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8).reshape(p.outer_count, p.axis_size, p.inner_bytes)
    idx = np.asarray(indices).reshape(-1).astype(np.int64)
    if idx.size != p.num_indices:
        raise ValueError(f"gather of {p.num_indices} indices given {idx.size}")
    valid = (idx >= 0) & (idx < p.axis_size)
    out = np.zeros((p.outer_count, p.num_indices, p.inner_bytes), dtype=np.uint8)
    out[:, valid] = raw[:, idx[valid]]
    return out.reshape(-1).view(data.dtype)


LOWERINGS = {"GATHER": lower_gather}
REFERENCES = {"gather_bytes_i32": gather_bytes_ref, "gather_bytes_i16": gather_bytes_ref}
