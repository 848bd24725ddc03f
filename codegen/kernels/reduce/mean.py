"""MEAN of an int8 tensor over constant axes, as TFLite Micro computes it.

TFLM (and TFLite 2.14's reference kernel, checked on single-op models) runs every int8 MEAN through
QuantizedMeanOrSum, whether or not the input and output quantization agree and whatever the axes:
  sum the raw int8 values in int32, subtract input_zp * count, multiply by the input/output scale
  ratio with 1/count folded into the multiplier, add output_zp, saturate to int8.
The folding of 1/count is integer arithmetic done once here, at compile time.

The kernel sees the input as at most MAX_DIMS dims, after dropping size-1 dims and merging neighbours
that are both reduced or both kept: the sum does not depend on grouping, and the output keeps the
kept elements in the input's row-major order (keep_dims only changes the output's declared shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "mean_s8.h"

MAX_DIMS = 6  # dims of the canonical view; must match MEAN_S8_MAX_DIMS in mean_s8.h
MAX_INPUT_RANK = 5  # TFLM's MEAN keeps a 5-entry index array on the stack
# The int32 sum of int8 values (and input_zp * count) cannot overflow below this many elements.
_MAX_COUNT = 1 << 24


@dataclass(frozen=True)
class MeanParams(KernelParams):
    C_TYPE = "mean_s8_params_t"
    d0: int = cfield("int32_t")  # canonical dims, outermost first, padded in front with 1s
    d1: int = cfield("int32_t")
    d2: int = cfield("int32_t")
    d3: int = cfield("int32_t")
    d4: int = cfield("int32_t")
    d5: int = cfield("int32_t")
    reduce_mask: int = cfield("int32_t")  # bit i set: dim i is summed over
    count: int = cfield("int32_t")  # elements summed per output
    input_zp: int = cfield("int32_t")
    output_zp: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")  # input_scale / output_scale / count, TFLM's fixed-point form
    shift: int = cfield("int32_t")

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.d0, self.d1, self.d2, self.d3, self.d4, self.d5)

    @property
    def reduced_axes(self) -> tuple[int, ...]:
        return tuple(i for i in range(MAX_DIMS) if self.reduce_mask >> i & 1)


def resolve_axes(axes: np.ndarray, rank: int) -> tuple[int, ...]:
    """TFLite's ResolveAxis: negative axes count from the end, duplicates collapse, order is kept."""
    if rank == 0:
        return ()  # TFLite ignores the axes of a scalar
    out: list[int] = []
    for a in (int(v) for v in np.asarray(axes).reshape(-1)):
        current = a + rank if a < 0 else a
        if not 0 <= current < rank:
            raise Unsupported(f"with axis {a} out of range for a rank-{rank} input")
        if current not in out:
            out.append(current)
    return tuple(out)


def canonical_view(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Merge the input shape into alternating kept/reduced groups: (dims padded to MAX_DIMS, reduce mask)."""
    groups: list[list[int]] = []  # [size, reduced]
    for i, size in enumerate(shape):
        if size == 1:
            continue
        reduced = int(i in axes)
        if groups and groups[-1][1] == reduced:
            groups[-1][0] *= size
        else:
            groups.append([size, reduced])
    if len(groups) > MAX_DIMS:
        raise Unsupported(f"over axes {axes} of shape {shape} (more than {MAX_DIMS} alternating groups)")
    lead = MAX_DIMS - len(groups)
    dims = (1,) * lead + tuple(g[0] for g in groups)
    mask = sum(1 << (lead + j) for j, g in enumerate(groups) if g[1])
    return dims, mask


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's rescaling: divide the multiplier by count, keeping precision via a shift."""
    s = count.bit_length() - 1  # 63 - CountLeadingZeros(count)
    s = min(s, 32, 31 + shift)
    return (multiplier << s) // count, shift - s


def _quant(t: Tensor, what: str) -> tuple[float, int]:
    if t.quant is None:
        raise Unsupported(f"with an unquantized int8 {what}")
    if t.quant.per_channel:
        raise Unsupported(f"with a per-channel quantized {what}")
    return t.scale, t.zero_point


def _expected_out_shape(shape: tuple[int, ...], axes: tuple[int, ...], keep_dims: bool) -> tuple[int, ...]:
    if keep_dims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def make_mean_params(op: Operator, x: Tensor, axis: Tensor, y: Tensor, dtype: str = "int8",
                     max_count: int = _MAX_COUNT) -> MeanParams:
    """dtype: the element type of input and output (mean_s16.py passes int16 and its own count limit)."""
    if x.dtype != dtype or y.dtype != dtype:
        raise Unsupported(f"on {x.dtype} -> {y.dtype} (only {dtype})")
    # An empty axis list has no bytes to store, so the reader cannot mark it constant: it is anyway.
    axis_values = axis.data if axis.data is not None or axis.size != 0 else np.zeros(0, dtype=np.int32)
    if axis_values is None:
        raise Unsupported("with non-constant axes")
    if axis.dtype != "int32":
        raise Unsupported(f"with {axis.dtype} axes (TFLM requires int32)")
    rank = len(x.shape)
    if rank > MAX_INPUT_RANK:
        raise Unsupported(f"of a rank-{rank} input (at most {MAX_INPUT_RANK})")
    if x.size == 0:
        raise Unsupported(f"of an empty input {x.shape}")
    in_scale, in_zp = _quant(x, "input")
    out_scale, out_zp = _quant(y, "output")
    axes = resolve_axes(axis_values, rank)
    keep_dims = bool(op.options.get("keep_dims", False))
    expected = _expected_out_shape(tuple(x.shape), axes, keep_dims)
    # TFLM never resizes and writes the kept elements in input order, so only the element count matters.
    if y.size != int(np.prod(expected, dtype=np.int64)):
        raise Unsupported(f"whose output shape {tuple(y.shape)} does not hold the {expected} result")
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count >= max_count:
        raise Unsupported(f"over {count} elements per output (at most {max_count - 1})")
    # PrepareMeanOrSum: the float32 scales widened to double, divided in double.
    multiplier, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    multiplier, shift = fold_count(multiplier, shift, count)
    dims, mask = canonical_view(tuple(x.shape), axes)
    return MeanParams(*dims, reduce_mask=mask, count=count, input_zp=in_zp, output_zp=out_zp,
                      multiplier=multiplier, shift=shift)


def lower_mean(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(ins)} inputs (needs the tensor and its axes)")
    x, axis = ins
    (y,) = graph.op_outputs(op)
    p = make_mean_params(op, x, axis, y)
    return [KernelCall("mean_s8", p, (x.index,), (), (y.index,), op.index, macs=x.size)]


def mean_s8_ref(p: MeanParams, x: np.ndarray) -> np.ndarray:
    view = np.asarray(x, dtype=np.int8).reshape(p.dims)
    total = view.astype(np.int64).sum(axis=p.reduced_axes) - p.input_zp * p.count
    out = multiply_by_quantized_multiplier(total, p.multiplier, p.shift) + p.output_zp
    return np.clip(out, -128, 127).astype(np.int8).reshape(-1)


LOWERINGS = {"MEAN": lower_mean}
REFERENCES = {"mean_s8": mean_s8_ref}
