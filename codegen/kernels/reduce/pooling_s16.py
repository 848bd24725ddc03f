"""AVERAGE_POOL_2D and MAX_POOL_2D on int16 NHWC tensors (16x8), as TFLite Micro's reference integer kernels.

The int16 kernels of TFLM (reference_integer_ops::AveragePool / MaxPool on int16_t) compute exactly as the int8
ones (pooling.py, whose checks and parameters this family reuses): input and output share one quantization;
average = int32 sum of the in-bounds window elements divided by their count, rounded half away from zero with
C's truncating division; max = the largest in-bounds element; then the fused activation clamp. With |x| <=
32768 the int32 sum is exact for windows of fewer than 2^16 elements; larger ones are refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint_s16 import activation_range
from codegen.kernels.reduce.pooling import PoolParams, _window_bounds, make_pool_params

HEADER = "pooling_s16.h"

MAX_WINDOW_S16 = 1 << 16


@dataclass(frozen=True)
class PoolS16Params(PoolParams):
    C_TYPE = "pool_s16_params_t"


def _act_range_s16(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    return activation_range(activation, scale, zero_point, "int16")


def _lower(kernel: str, op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("without an input tensor")
    p = make_pool_params(op, x, y, dtype="int16", max_window=MAX_WINDOW_S16, act_range=_act_range_s16)
    params = PoolS16Params(**dataclasses.asdict(p))
    macs = y.size * p.filter_h * p.filter_w
    return [KernelCall(kernel, params, (x.index,), (), (y.index,), op.index, macs=macs)]


def _pool_s16_ref(p: PoolS16Params, x: np.ndarray, average: bool) -> np.ndarray:
    x = np.asarray(x, dtype=np.int16).reshape(p.in_shape)
    out = np.empty(p.out_shape, dtype=np.int16)
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
                value = np.sign(total) * ((np.abs(total) + count // 2) // count)  # half away from zero
            else:
                value = window.max(axis=(1, 2))
            out[:, oy, ox, :] = np.clip(value, p.act_min, p.act_max)
    return out


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {
    "AVERAGE_POOL_2D": (_int16_input, partial(_lower, "avg_pool2d_s16")),
    "MAX_POOL_2D": (_int16_input, partial(_lower, "max_pool2d_s16")),
}
REFERENCES = {
    "avg_pool2d_s16": partial(_pool_s16_ref, average=True),
    "max_pool2d_s16": partial(_pool_s16_ref, average=False),
}
