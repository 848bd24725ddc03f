"""AVERAGE_POOL_2D and MAX_POOL_2D for int8 NHWC tensors, as TFLite Micro's reference integer kernels.

Both pools keep the input quantization (TFLM's Prepare insists on it), so no requantization happens:
average = sum of the in-bounds window elements divided by their count, rounded half away from zero
with C's truncating division; max = the largest in-bounds element. Then the fused activation clamp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import activation_range_s8

HEADER = "pooling_s8.h"

# TFLM's PoolingPrepare accepts scales that differ by at most this much (compared as doubles).
_SCALE_TOLERANCE = 1.0e-6
# The int32 window sum of int8 values cannot overflow below this many elements.
_MAX_WINDOW = 1 << 24


@dataclass(frozen=True)
class PoolParams(KernelParams):
    C_TYPE = "pool_s8_params_t"
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    channels: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    filter_h: int = cfield("int32_t")
    filter_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")  # rows of virtual padding above the input (never read)
    pad_w: int = cfield("int32_t")  # columns of virtual padding left of the input
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.in_h, self.in_w, self.channels)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.batches, self.out_h, self.out_w, self.channels)


def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int) -> int:
    """TFLite's ComputeOutSize (dilation 1); C's truncating division, negative means no output."""
    num = in_size + stride - 1 if padding == "SAME" else in_size + stride - filter_size
    return int(num / stride) if num < 0 else num // stride


def compute_padding(in_size: int, filter_size: int, stride: int, out_size: int) -> int:
    """TFLite's ComputePaddingWithOffset: the leading padding; any odd extra goes at the end."""
    total = max((out_size - 1) * stride + filter_size - in_size, 0)
    return total // 2


def _window_bounds(out_index: int, stride: int, pad: int, filter_size: int, in_size: int) -> tuple[int, int]:
    """The in-bounds filter taps [start, end) of one output position, as the TFLM kernels clamp them."""
    origin = out_index * stride - pad
    return max(0, -origin), min(filter_size, in_size - origin)


def _quant(t: Tensor, what: str) -> tuple[float, int]:
    if t.quant is None:
        raise Unsupported(f"with an unquantized int8 {what}")
    if t.quant.per_channel:
        raise Unsupported(f"with a per-channel quantized {what}")
    return t.scale, t.zero_point


def make_pool_params(op: Operator, x: Tensor, y: Tensor, dtype: str = "int8", max_window: int = _MAX_WINDOW,
                     act_range: Callable[[str, float, int], tuple[int, int]] = activation_range_s8) -> PoolParams:
    """Check one pooling operator against what TFLM accepts and derive the kernel parameters.

    dtype, max_window and act_range are the element type's (pooling_s16.py passes int16's)."""
    if x.dtype != dtype or y.dtype != dtype:
        raise Unsupported(f"on {x.dtype} -> {y.dtype} (only {dtype})")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise Unsupported(f"of a rank-{len(x.shape)} tensor (only 4-D NHWC)")
    in_scale, in_zp = _quant(x, "input")
    out_scale, out_zp = _quant(y, "output")
    if abs(in_scale - out_scale) > _SCALE_TOLERANCE or in_zp != out_zp:
        raise Unsupported(
            f"whose input quantization ({in_scale}, {in_zp}) differs from the output's "
            f"({out_scale}, {out_zp})"
        )
    o = op.options
    padding = o.get("padding")
    if padding not in ("SAME", "VALID"):
        raise Unsupported(f"with padding {padding!r} (only SAME or VALID)")
    fh, fw, sh, sw = (int(o.get(k, 0)) for k in ("filter_h", "filter_w", "stride_h", "stride_w"))
    if min(fh, fw, sh, sw) < 1:
        raise Unsupported(f"with filter {fh}x{fw} and stride {sh}x{sw} (all must be positive)")
    if fh * fw >= max_window:
        raise Unsupported(f"with a {fh}x{fw} window (at most {max_window - 1} elements)")
    try:
        act_min, act_max = act_range(o.get("activation", "NONE"), out_scale, out_zp)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    n, in_h, in_w, c = x.shape
    out_h = compute_out_size(padding, in_h, fh, sh)
    out_w = compute_out_size(padding, in_w, fw, sw)
    if out_h <= 0 or out_w <= 0 or n <= 0 or c <= 0:
        raise Unsupported(f"whose {padding} {fh}x{fw} window leaves no output for a {in_h}x{in_w} input")
    if tuple(y.shape) != (n, out_h, out_w, c):
        expected = (n, out_h, out_w, c)
        raise Unsupported(f"whose output shape {tuple(y.shape)} is not {expected} as {padding} gives")
    pad_h = compute_padding(in_h, fh, sh, out_h)
    pad_w = compute_padding(in_w, fw, sw, out_w)
    # TFLM fails at run time on an empty window; refuse such a model now instead.
    for count, stride, pad, f, size in ((out_h, sh, pad_h, fh, in_h), (out_w, sw, pad_w, fw, in_w)):
        for i in range(count):
            start, end = _window_bounds(i, stride, pad, f, size)
            if end <= start:
                raise Unsupported(f"with an output whose {fh}x{fw} window lies wholly in the padding")
    return PoolParams(n, in_h, in_w, c, out_h, out_w, fh, fw, sh, sw, pad_h, pad_w, act_min, act_max)


def _lower(kernel: str, op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("without an input tensor")
    p = make_pool_params(op, x, y)
    macs = y.size * p.filter_h * p.filter_w
    return [KernelCall(kernel, p, (x.index,), (), (y.index,), op.index, macs=macs)]


def lower_avg_pool(op: Operator, graph: Graph) -> list[KernelCall]:
    return _lower("avg_pool2d_s8", op, graph)


def lower_max_pool(op: Operator, graph: Graph) -> list[KernelCall]:
    return _lower("max_pool2d_s8", op, graph)


def _pool_ref(p: PoolParams, x: np.ndarray, average: bool) -> np.ndarray:
    x = np.asarray(x, dtype=np.int8).reshape(p.in_shape)
    out = np.empty(p.out_shape, dtype=np.int8)
    for oy in range(p.out_h):
        y0, y1 = _window_bounds(oy, p.stride_h, p.pad_h, p.filter_h, p.in_h)
        iy = oy * p.stride_h - p.pad_h
        for ox in range(p.out_w):
            x0, x1 = _window_bounds(ox, p.stride_w, p.pad_w, p.filter_w, p.in_w)
            ix = ox * p.stride_w - p.pad_w
            window = x[:, iy + y0 : iy + y1, ix + x0 : ix + x1, :].astype(np.int64)
            if average:
                total = window.sum(axis=(1, 2))
                count = (y1 - y0) * (x1 - x0)
                # Round half away from zero: C truncating division of |sum| + count/2, sign restored.
                value = np.sign(total) * ((np.abs(total) + count // 2) // count)
            else:
                value = window.max(axis=(1, 2))
            out[:, oy, ox, :] = np.clip(value, p.act_min, p.act_max)
    return out


def avg_pool2d_s8_ref(p: PoolParams, x: np.ndarray) -> np.ndarray:
    return _pool_ref(p, x, average=True)


def max_pool2d_s8_ref(p: PoolParams, x: np.ndarray) -> np.ndarray:
    return _pool_ref(p, x, average=False)


LOWERINGS = {"AVERAGE_POOL_2D": lower_avg_pool, "MAX_POOL_2D": lower_max_pool}
REFERENCES = {"avg_pool2d_s8": avg_pool2d_s8_ref, "max_pool2d_s8": max_pool2d_s8_ref}
