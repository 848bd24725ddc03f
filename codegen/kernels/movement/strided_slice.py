"""STRIDED_SLICE of tensors of any element type (rank <= 4), as TFLite Micro computes it.

Data movement only: quantization passes through unchanged. TFLite Micro's Prepare (strided_slice_common.cc)
resolves each axis with StartForAxis / StopForAxis (strided_slice_logic.h): a negative index counts from the
end, begin_mask / end_mask take the whole extent in the stride's direction, indices clamp to [0, size] for a
positive stride and [-1, size - 1] for a negative one, and a shrink_axis_mask axis takes the one element at
its begin (and disappears from the output). All of it is resolved here at compile time, so the kernel only
walks (start, step, count) per axis.

TFLite Micro sets ellipsis_mask and new_axis_mask to 0 whatever the model says (and supports at most 4
dimensions), so a model that uses them gives TFLite and TFLite Micro different results: such operators are
refused, as is a non-constant begin / end / strides, a zero stride, the `offset` option TFLM ignores, and a
shrunk axis whose index lies outside the input or whose stride is negative (TFLM would read past the input or
copy nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "strided_slice.h"


@dataclass(frozen=True)
class StridedSliceParams(KernelParams):
    C_TYPE = "strided_slice_params_t"
    elem_bytes: int = cfield("int32_t")
    in_d0: int = cfield("int32_t")
    in_d1: int = cfield("int32_t")
    in_d2: int = cfield("int32_t")
    in_d3: int = cfield("int32_t")
    start_d0: int = cfield("int32_t")
    start_d1: int = cfield("int32_t")
    start_d2: int = cfield("int32_t")
    start_d3: int = cfield("int32_t")
    step_d0: int = cfield("int32_t")
    step_d1: int = cfield("int32_t")
    step_d2: int = cfield("int32_t")
    step_d3: int = cfield("int32_t")
    count_d0: int = cfield("int32_t")
    count_d1: int = cfield("int32_t")
    count_d2: int = cfield("int32_t")
    count_d3: int = cfield("int32_t")

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.in_d0, self.in_d1, self.in_d2, self.in_d3)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(v, hi))


def resolve_axis(size: int, begin: int, end: int, stride: int, begin_masked: bool, end_masked: bool,
                 shrink: bool) -> tuple[int, int]:
    """(start, count) of one axis: StartForAxis, StopForAxis and the loop TFLite Micro runs."""
    if size == 0:
        return 0, 0
    start = begin
    if begin_masked:
        start = -(2**31) if stride > 0 else 2**31 - 1
    if start < 0:
        start += size
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if shrink:
        stop = start + 1
    else:
        stop = end
        if end_masked:
            stop = 2**31 - 1 if stride > 0 else -(2**31)
        if stop < 0:
            stop += size
        stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
    count = max(0, math.ceil((stop - start) / stride))
    return start, count


def lower_strided_slice(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 4 or any(t is None for t in ins) or len(op.outputs) != 1:
        raise Unsupported("STRIDED_SLICE needs input, begin, end, strides and one output")
    x, begin_t, end_t, strides_t = ins
    (y,) = graph.op_outputs(op)
    if x.dtype not in NUMPY_DTYPES or x.dtype != y.dtype:
        raise Unsupported(f"STRIDED_SLICE of {x.dtype} -> {y.dtype}")
    rank = len(x.shape)
    if rank > 4:
        raise Unsupported(f"STRIDED_SLICE of a rank-{rank} tensor (TFLite Micro supports at most 4)")
    for t, what in ((begin_t, "begin"), (end_t, "end"), (strides_t, "strides")):
        if t.data is None:
            raise Unsupported(f"STRIDED_SLICE with a non-constant {what}")
        if t.data.size != rank:
            raise Unsupported(f"STRIDED_SLICE with {t.data.size} {what} values for a rank-{rank} input")
    o = op.options
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if o.get(mask, 0):
            raise Unsupported(f"STRIDED_SLICE with {mask} {o[mask]} (TFLite Micro ignores it, TFLite does not)")
    if o.get("offset", False):
        raise Unsupported("STRIDED_SLICE with offset=true (TFLite Micro ignores it)")
    if x.dtype in ("int8", "int16") and y.quant != x.quant and (x.quant is None or y.quant is None or
                                                                (x.scale, x.zero_point) != (y.scale, y.zero_point)):
        raise Unsupported("STRIDED_SLICE whose input and output quantization differ")
    begin, end, strides = (np.asarray(t.data, dtype=np.int64).reshape(-1) for t in (begin_t, end_t, strides_t))
    starts, steps, counts, out_shape = [], [], [], []
    for axis in range(rank):
        stride = int(strides[axis])
        if stride == 0:
            raise Unsupported(f"STRIDED_SLICE with stride 0 on axis {axis}")
        shrink = bool(o.get("shrink_axis_mask", 0) >> axis & 1)
        start, count = resolve_axis(x.shape[axis], int(begin[axis]), int(end[axis]), stride,
                                    bool(o.get("begin_mask", 0) >> axis & 1), bool(o.get("end_mask", 0) >> axis & 1),
                                    shrink)
        if shrink and (stride < 0 or not 0 <= start < x.shape[axis]):
            # TFLM would copy nothing (negative stride) or read past the input (index out of range).
            raise Unsupported(f"STRIDED_SLICE shrinking axis {axis} at index {int(begin[axis])} with stride {stride}")
        starts.append(start)
        steps.append(stride)
        counts.append(count)
        if not shrink:
            out_shape.append(count)
    if tuple(out_shape) != tuple(y.shape):
        raise Unsupported(f"STRIDED_SLICE output shape {y.shape}, but the slice gives {tuple(out_shape)}")
    lead = 4 - rank
    in4 = (1,) * lead + tuple(x.shape)
    start4 = (0,) * lead + tuple(starts)
    step4 = (1,) * lead + tuple(steps)
    count4 = (1,) * lead + tuple(counts)
    params = StridedSliceParams(np.dtype(NUMPY_DTYPES[x.dtype]).itemsize, *in4, *start4, *step4, *count4)
    inputs, consts = operand(x, "data")
    return [KernelCall("strided_slice_bytes", params, inputs, consts, (y.index,), op.index)]


def strided_slice_bytes_ref(p: StridedSliceParams, x: np.ndarray) -> np.ndarray:
    data = np.asarray(x).reshape(p.in_shape)
    index = []
    for start, step, count in zip((p.start_d0, p.start_d1, p.start_d2, p.start_d3),
                                  (p.step_d0, p.step_d1, p.step_d2, p.step_d3),
                                  (p.count_d0, p.count_d1, p.count_d2, p.count_d3), strict=True):
        index.append(start + step * np.arange(count))
    return data[np.ix_(*index)].copy()


LOWERINGS = {"STRIDED_SLICE": lower_strided_slice}
REFERENCES = {"strided_slice_bytes": strided_slice_bytes_ref}
