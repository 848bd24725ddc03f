"""SQUEEZE and EXPAND_DIMS: only the shape changes, so like RESHAPE the kernel is a byte copy that the memory
planner aliases away (copy_bytes, registered by the reshape family)."""

from __future__ import annotations

from codegen.ir import NUMPY_DTYPES, Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.movement.reshape import CopyBytesParams, operand

HEADER = "copy_s8.h"


def _copy(op: Operator, graph: Graph, expected: tuple[int, ...]) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    assert x is not None
    if x.dtype != y.dtype or x.dtype not in NUMPY_DTYPES:
        raise Unsupported(f"{op.op_type} from {x.dtype} to {y.dtype}")
    if tuple(y.shape) != expected:
        raise Unsupported(f"{op.op_type} output shape {y.shape}, {expected} expected from {x.shape}")
    inputs, consts = operand(x, "data")
    return [KernelCall("copy_bytes", CopyBytesParams(num_bytes=x.nbytes), inputs, consts, (y.index,), op.index,
                       in_place=bool(inputs), alias_offset=0 if inputs else None)]


def lower_squeeze(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    if x is None:
        raise Unsupported("SQUEEZE without an input")
    rank = len(x.shape)
    dims = tuple(op.options.get("squeeze_dims", ()))
    if any(not -rank <= d < rank for d in dims):
        raise Unsupported(f"SQUEEZE of axes {list(dims)} of a rank-{rank} tensor")
    drop = {d % rank for d in dims} if dims else {d for d in range(rank) if x.shape[d] == 1}
    if any(x.shape[d] != 1 for d in drop):
        raise Unsupported(f"SQUEEZE of axes {sorted(drop)} of {x.shape}: not all of extent 1")
    return _copy(op, graph, tuple(n for d, n in enumerate(x.shape) if d not in drop))


def lower_expand_dims(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None:
        raise Unsupported("EXPAND_DIMS needs an input and an axis")
    x, axis_t = ins
    if axis_t is None or axis_t.data is None or axis_t.data.size != 1:
        raise Unsupported("EXPAND_DIMS with a non-constant axis")
    rank = len(x.shape)
    axis = int(axis_t.data.reshape(-1)[0])
    if not -rank - 1 <= axis <= rank:
        raise Unsupported(f"EXPAND_DIMS at axis {axis} of a rank-{rank} tensor")
    axis = axis + rank + 1 if axis < 0 else axis
    return _copy(op, graph, tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis:]))


LOWERINGS = {"SQUEEZE": lower_squeeze, "EXPAND_DIMS": lower_expand_dims}
REFERENCES: dict = {}
