"""SLICE, SPLIT, SPLIT_V and UNPACK: each output is a box of the input, copied byte by byte (any element type).

Every output gets a call of its own (one C output pointer per call, like CONCATENATION's one call per input),
so the memory planner can make each output a view of the input on its own. The box is counted in bytes: the
element size becomes the innermost axis, then axes are merged from the inside out wherever the box spans the
inner axis whole or takes a single index of the outer one. A box that merges into one axis is a contiguous run
of the input's bytes (a SLICE or SPLIT along the outermost non-unit axis, any UNPACK along it): the call then
carries alias_offset and usually disappears.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand

HEADER = "slice_bytes.h"

# Element types the emitter has a C type for; the kernel only moves bytes.
DTYPES = ("int8", "uint8", "int16", "int32", "float32")


@dataclass(frozen=True)
class SliceBytesParams(KernelParams):
    C_TYPE = "slice_bytes_params_t"
    in_d0: int = cfield("int32_t")
    in_d1: int = cfield("int32_t")
    in_d2: int = cfield("int32_t")
    in_d3: int = cfield("int32_t")
    begin0: int = cfield("int32_t")
    begin1: int = cfield("int32_t")
    begin2: int = cfield("int32_t")
    begin3: int = cfield("int32_t")
    out_d0: int = cfield("int32_t")
    out_d1: int = cfield("int32_t")
    out_d2: int = cfield("int32_t")
    out_d3: int = cfield("int32_t")

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.in_d0, self.in_d1, self.in_d2, self.in_d3)

    @property
    def begin(self) -> tuple[int, int, int, int]:
        return (self.begin0, self.begin1, self.begin2, self.begin3)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.out_d0, self.out_d1, self.out_d2, self.out_d3)


def box_params(
    shape: tuple[int, ...], begin: tuple[int, ...], size: tuple[int, ...], itemsize: int
) -> tuple[SliceBytesParams, int | None]:
    """The kernel's params for the box [begin, begin + size) of `shape`, and the box's byte offset when its bytes
    are contiguous in the input (None otherwise). Raises Unsupported when more than 4 axes remain after merging."""
    axes = [(int(d), int(b), int(s)) for d, b, s in zip(shape, begin, size, strict=True)]
    merged = [(itemsize, 0, itemsize)]  # innermost first
    for d, b, s in reversed(axes):
        inner_d, inner_b, inner_s = merged[-1]
        if inner_b == 0 and inner_s == inner_d:  # the box spans the inner axis whole
            merged[-1] = (d * inner_d, b * inner_d, s * inner_d)
        elif s == 1:  # a single index of this axis: an offset into the inner run
            merged[-1] = (d * inner_d, b * inner_d + inner_b, inner_s)
        else:
            merged.append((d, b, s))
    if len(merged) > 4:
        raise Unsupported(f"box {list(size)} at {list(begin)} of {list(shape)} needs {len(merged)} axes (at most 4)")
    merged += [(1, 0, 1)] * (4 - len(merged))
    outer_first = merged[::-1]
    params = SliceBytesParams(*(d for d, _, _ in outer_first), *(b for _, b, _ in outer_first),
                              *(s for _, _, s in outer_first))
    contiguous = all(a == (1, 0, 1) for a in outer_first[:3])
    return params, (outer_first[3][1] if contiguous else None)


def _check_dtypes(name: str, x: Tensor, ys: list[Tensor]) -> None:
    if x.dtype not in DTYPES:
        raise Unsupported(f"{name} of {x.dtype} (supported: {', '.join(DTYPES)})")
    for i, y in enumerate(ys):
        if y.dtype != x.dtype:
            raise Unsupported(f"{name} output {i} is {y.dtype}, the input {x.dtype}")
        if y.size == 0:
            raise Unsupported(f"{name} output {i} is empty {y.shape}")


def _const_ints(t: Tensor | None, name: str, what: str) -> list[int]:
    if t is None or t.data is None:
        raise Unsupported(f"{name} with a non-constant {what}")
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _axis(value: int, rank: int, name: str) -> int:
    if not -rank <= value < rank:
        raise Unsupported(f"{name} along axis {value} of a rank-{rank} tensor")
    return value % rank


def _box_call(op: Operator, x: Tensor, y: Tensor, begin: tuple[int, ...], size: tuple[int, ...]) -> KernelCall:
    params, offset = box_params(tuple(x.shape), begin, size, x.nbytes // x.size)
    inputs, consts = operand(x, "data")
    return KernelCall("slice_bytes", params, inputs, consts, (y.index,), op.index,
                      alias_offset=offset if inputs else None)


def _along_axis(op: Operator, x: Tensor, ys: list[Tensor], axis: int, keep_axis: bool) -> list[KernelCall]:
    """One box per output: consecutive pieces of the input along `axis`, as long as each output's extent."""
    name = op.op_type
    rank = len(x.shape)
    calls, start = [], 0
    for i, y in enumerate(ys):
        extent = y.shape[axis] if keep_axis else 1
        expected = tuple(x.shape[:axis]) + ((extent,) if keep_axis else ()) + tuple(x.shape[axis + 1 :])
        if tuple(y.shape) != expected:
            raise Unsupported(f"{name} output {i} has shape {y.shape}, {expected} expected")
        begin = tuple(start if d == axis else 0 for d in range(rank))
        size = tuple(extent if d == axis else x.shape[d] for d in range(rank))
        calls.append(_box_call(op, x, y, begin, size))
        start += extent
    if start != x.shape[axis]:
        raise Unsupported(f"{name} outputs cover {start} of the {x.shape[axis]} entries along axis {axis}")
    return calls


def lower_slice(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 3 or ins[0] is None:
        raise Unsupported("SLICE needs its input, begin and size")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    _check_dtypes("SLICE", x, [y])
    rank = len(x.shape)
    begin = _const_ints(ins[1], "SLICE", "begin")
    size = _const_ints(ins[2], "SLICE", "size")
    if len(begin) != rank or len(size) != rank:
        raise Unsupported(f"SLICE begin {begin} / size {size} do not match the rank {rank} of the input")
    # size -1 takes everything from begin on (TFLite's rule).
    size = [d - b if s == -1 else s for d, b, s in zip(x.shape, begin, size, strict=True)]
    for d, b, s in zip(x.shape, begin, size, strict=True):
        if b < 0 or s < 0 or b + s > d:
            raise Unsupported(f"SLICE begin {begin} size {size} outside the input {x.shape}")
    if tuple(y.shape) != tuple(size):
        raise Unsupported(f"SLICE output shape {y.shape} is not the size {size}")
    return [_box_call(op, x, y, tuple(begin), tuple(size))]


def lower_split(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[1] is None:
        raise Unsupported("SPLIT needs an axis and an input")
    x, ys = ins[1], graph.op_outputs(op)
    _check_dtypes("SPLIT", x, ys)
    (axis_value,) = _const_ints(ins[0], "SPLIT", "axis")
    axis = _axis(axis_value, len(x.shape), "SPLIT")
    if x.shape[axis] % len(ys) or any(y.shape[axis] != x.shape[axis] // len(ys) for y in ys):
        raise Unsupported(f"SPLIT of extent {x.shape[axis]} into {len(ys)} equal parts")
    return _along_axis(op, x, ys, axis, keep_axis=True)


def lower_split_v(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 3 or ins[0] is None:
        raise Unsupported("SPLIT_V needs an input, size_splits and an axis")
    x, ys = ins[0], graph.op_outputs(op)
    _check_dtypes("SPLIT_V", x, ys)
    (axis_value,) = _const_ints(ins[2], "SPLIT_V", "axis")
    axis = _axis(axis_value, len(x.shape), "SPLIT_V")
    sizes = _const_ints(ins[1], "SPLIT_V", "size_splits")
    if len(sizes) != len(ys) or any(s not in (-1, y.shape[axis]) for s, y in zip(sizes, ys, strict=True)):
        raise Unsupported(f"SPLIT_V size_splits {sizes} do not match the outputs' extents")
    return _along_axis(op, x, ys, axis, keep_axis=True)


def lower_unpack(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None:
        raise Unsupported("UNPACK needs one input")
    x, ys = ins[0], graph.op_outputs(op)
    _check_dtypes("UNPACK", x, ys)
    axis = _axis(int(op.options.get("axis", 0)), len(x.shape), "UNPACK")
    if len(ys) != x.shape[axis]:
        raise Unsupported(f"UNPACK into {len(ys)} outputs of an axis of extent {x.shape[axis]}")
    return _along_axis(op, x, ys, axis, keep_axis=False)


def slice_bytes_ref(p: SliceBytesParams, x: np.ndarray) -> np.ndarray:
    raw = np.ascontiguousarray(x).reshape(-1).view(np.uint8)
    if raw.size != int(np.prod(p.in_shape)):
        raise ValueError(f"slice_bytes of a {p.in_shape} byte box given {raw.size} bytes")
    box = raw.reshape(p.in_shape)[tuple(slice(b, b + n) for b, n in zip(p.begin, p.out_shape, strict=True))]
    return np.ascontiguousarray(box).reshape(-1).view(x.dtype)


LOWERINGS = {"SLICE": lower_slice, "SPLIT": lower_split, "SPLIT_V": lower_split_v, "UNPACK": lower_unpack}
REFERENCES = {"slice_bytes": slice_bytes_ref}
