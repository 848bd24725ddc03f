"""PACK: N tensors of one shape stacked along a new axis. Each input goes to its slot of every output row with
the concatenation's strided byte copy (copy_strided, registered by the concatenation family), so any element
type works; TFLite Micro copies bytes without comparing quantization, and so does this."""

from __future__ import annotations

import math

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.movement.concatenation import CopyStridedParams
from codegen.kernels.movement.reshape import operand
from codegen.kernels.movement.slice_split import DTYPES

HEADER = "copy_s8.h"


def lower_pack(op: Operator, graph: Graph) -> list[KernelCall]:
    xs = graph.op_inputs(op)
    (y,) = graph.op_outputs(op)
    if not xs or any(x is None for x in xs):
        raise Unsupported("PACK with a missing input")
    first = xs[0]
    assert first is not None
    shape = tuple(first.shape)
    rank = len(shape) + 1
    axis = int(op.options.get("axis", 0))
    if not -rank <= axis < rank:
        raise Unsupported(f"PACK along axis {axis} of a rank-{rank} output")
    axis %= rank
    if y.dtype not in DTYPES:
        raise Unsupported(f"PACK of {y.dtype} (supported: {', '.join(DTYPES)})")
    for i, x in enumerate(xs):
        assert x is not None
        if x.dtype != y.dtype or tuple(x.shape) != shape:
            raise Unsupported(f"PACK input {i} is {x.dtype} {x.shape}, input 0 {first.dtype} {shape}")
    expected = shape[:axis] + (len(xs),) + shape[axis:]
    if tuple(y.shape) != expected:
        raise Unsupported(f"PACK output shape {y.shape}, {expected} expected")
    itemsize = y.nbytes // y.size if y.size else 0
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis:]) * itemsize
    calls = []
    for i, x in enumerate(xs):
        assert x is not None
        inputs, consts = operand(x, f"in{i}")
        params = CopyStridedParams(outer_count=outer, inner_bytes=inner, out_row_bytes=inner * len(xs),
                                   out_offset=inner * i)
        calls.append(KernelCall("copy_strided", params, inputs, consts, (y.index,), op.index))
    return calls


LOWERINGS = {"PACK": lower_pack}
REFERENCES: dict = {}
