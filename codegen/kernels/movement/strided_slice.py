"""STRIDED_SLICE of tensors of any element type (rank <= 4), as TFLite Micro computes it.

Data movement only: quantization passes through unchanged. TFLite Micro's Prepare (strided_slice_common.cc)
resolves each axis with StartForAxis / StopForAxis (strided_slice_logic.h): a negative index counts from the
end, begin_mask / end_mask take the whole extent in the stride's direction, indices clamp to [0, size] for a
positive stride and [-1, size - 1] for a negative one, and a shrink_axis_mask axis takes the one element at
its begin (and disappears from the output). All of it is resolved here at compile time, so the kernel only
walks (start, step, count) per axis.

ellipsis_mask and new_axis_mask follow TFLite (dense_spec: an ellipsis stands for the whole axes the other
entries leave, a new axis adds an output dimension of 1). TFLite Micro zeroes both masks: for nearly every
model that uses them its shape check then fails and it refuses the model; where its reading would also fit
the output and select other elements, the operator is refused here as ambiguous. Also refused: input rank
above 4 (as TFLM), a non-constant begin / end / strides, a zero stride, the `offset` option TFLM ignores, and
a shrunk axis whose index lies outside the input or whose stride is negative (TFLM would read past the input
or copy nothing).
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


# One input axis's slice: (begin, end, stride, begin_masked, end_masked, shrink).
AxisSlice = tuple[int, int, int, bool, bool, bool]
_FULL: AxisSlice = (0, 0, 1, True, True, False)


def dense_spec(rank: int, begin: list[int], end: list[int], strides: list[int],
               o: dict) -> tuple[list[AxisSlice], list[int | None]]:
    """TFLite's reading of the sparse slice spec: each input axis's slice, and the output's axes in order
    (an input axis, or None for a new axis of size 1). An ellipsis stands for as many whole axes as the other
    entries leave; without one, the axes after the spec are whole; a new_axis entry consumes no input axis
    (at the ellipsis's position the ellipsis wins); a shrunk axis leaves the output."""
    n = len(begin)
    ellipsis = [i for i in range(n) if o.get("ellipsis_mask", 0) >> i & 1]
    if len(ellipsis) > 1:
        raise Unsupported(f"STRIDED_SLICE with {len(ellipsis)} ellipses")
    new_axis = {i for i in range(n) if o.get("new_axis_mask", 0) >> i & 1} - set(ellipsis)
    consuming = n - len(ellipsis) - len(new_axis)
    if consuming > rank:
        raise Unsupported(f"STRIDED_SLICE with {consuming} slice entries for a rank-{rank} input")
    if ellipsis and consuming == rank:
        # NumPy and TF read it as no axes; TFLite's kernel expands an ellipsis over at least one.
        raise Unsupported("STRIDED_SLICE with an ellipsis that stands for no axis (TFLite reads it differently)")
    axes: list[AxisSlice] = []
    layout: list[int | None] = []
    for i in range(n):
        if i in ellipsis:
            for _ in range(rank - consuming):
                layout.append(len(axes))
                axes.append(_FULL)
        elif i in new_axis:
            layout.append(None)
        else:
            shrink = bool(o.get("shrink_axis_mask", 0) >> i & 1)
            if not shrink:
                layout.append(len(axes))
            axes.append((int(begin[i]), int(end[i]), int(strides[i]), bool(o.get("begin_mask", 0) >> i & 1),
                         bool(o.get("end_mask", 0) >> i & 1), shrink))
    while len(axes) < rank:
        layout.append(len(axes))
        axes.append(_FULL)
    return axes, layout


def _resolve(shape: tuple[int, ...], axes: list[AxisSlice]) -> list[tuple[int, int, int]]:
    """(start, step, count) per input axis; refuses what TFLite Micro cannot run well-defined."""
    out = []
    for axis, (b, e, stride, bm, em, shrink) in enumerate(axes):
        if stride == 0:
            raise Unsupported(f"STRIDED_SLICE with stride 0 on axis {axis}")
        start, count = resolve_axis(shape[axis], b, e, stride, bm, em, shrink)
        if shrink and (stride < 0 or not 0 <= start < shape[axis]):
            # TFLM would copy nothing (negative stride) or read past the input (index out of range).
            raise Unsupported(f"STRIDED_SLICE shrinking axis {axis} at index {b} with stride {stride}")
        out.append((start, stride, count))
    return out


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
    n = begin_t.data.size if begin_t.data is not None else -1
    for t, what in ((begin_t, "begin"), (end_t, "end"), (strides_t, "strides")):
        if t.data is None:
            raise Unsupported(f"STRIDED_SLICE with a non-constant {what}")
        if t.data.size != n or n < 1:
            raise Unsupported(f"STRIDED_SLICE with {t.data.size} {what} values ({n} begin values)")
    o = op.options
    if o.get("offset", False):
        raise Unsupported("STRIDED_SLICE with offset=true (TFLite Micro ignores it)")
    if x.dtype in ("int8", "int16") and y.quant != x.quant and (x.quant is None or y.quant is None or
                                                                (x.scale, x.zero_point) != (y.scale, y.zero_point)):
        raise Unsupported("STRIDED_SLICE whose input and output quantization differ")
    begin, end, strides = ([int(v) for v in np.asarray(t.data).reshape(-1)] for t in (begin_t, end_t, strides_t))
    axes, layout = dense_spec(rank, begin, end, strides, o)
    resolved = _resolve(x.shape, axes)
    out_shape = tuple(1 if a is None else resolved[a][2] for a in layout)
    if out_shape != tuple(y.shape):
        raise Unsupported(f"STRIDED_SLICE output shape {y.shape}, but the slice gives {out_shape}")
    if (o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0)) and n == rank:
        # TFLite Micro reads the spec with both masks zeroed. Where that also fits the output it runs the
        # model, and must then select the same elements; elsewhere it refuses the model and TFLite's meaning
        # (followed here) is the only one.
        plain = {**o, "ellipsis_mask": 0, "new_axis_mask": 0}
        try:
            tflm_axes, tflm_layout = dense_spec(rank, begin, end, strides, plain)
            tflm = _resolve(x.shape, tflm_axes)
        except Unsupported:
            tflm = None
        tflm_shape = None if tflm is None else tuple(tflm[a][2] for a in tflm_layout if a is not None)
        if tflm_shape == out_shape and tflm != resolved:
            raise Unsupported("STRIDED_SLICE whose ellipsis / new_axis masks TFLite honours and TFLite Micro ignores, "
                              "selecting different elements")
    starts, steps, counts = ([r[k] for r in resolved] for k in range(3))
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
