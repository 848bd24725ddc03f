"""RESIZE_BILINEAR of an int8 NHWC tensor: TFLite's integer algorithm, which TFLite Micro runs for int8.

Scales are input/output size ratios in 1/1024 units, rounded to nearest ((1024 * in + out / 2) / out; with
align_corners (1024 * (in - 1) + (out - 1) / 2) / (out - 1)). Output coordinate v sits at s = v * scale
(half_pixel_centers: + scale / 2 - 512) between input coordinates max(s / 1024, 0) and min((s + 1023) / 1024,
in - 1), with C's truncating division; the four neighbours are weighted in 64 bits and the sum is divided by 2^20
rounding half away from zero. Like TFLite Micro, the bytes are not requantized: input and output quantization
are not compared. int16 is refused (TFLite Micro has no int16 kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand
from codegen.kernels.resize.resize_nearest import size_operand

HEADER = "resize_bilinear_s8.h"


@dataclass(frozen=True)
class ResizeBilinearParams(KernelParams):
    C_TYPE = "resize_bilinear_s8_params_t"
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    height_scale_10: int = cfield("int32_t")
    width_scale_10: int = cfield("int32_t")
    half_pixel_centers: int = cfield("int32_t")


def scale_10(in_size: int, out_size: int, align_corners: bool) -> int:
    if align_corners and out_size > 1:
        return (1024 * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return (1024 * in_size + out_size // 2) // out_size


def lower_resize_bilinear(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, out_h, out_w = size_operand(op, graph)
    if x.dtype != "int8":
        raise Unsupported(f"RESIZE_BILINEAR of {x.dtype} (only int8: TFLite Micro's integer kernel)")
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    if align and half:
        raise Unsupported("RESIZE_BILINEAR with both align_corners and half_pixel_centers (TFLite Micro refuses it)")
    n, in_h, in_w, c = x.shape
    params = ResizeBilinearParams(n, in_h, in_w, out_h, out_w, c, scale_10(in_h, out_h, align),
                                  scale_10(in_w, out_w, align), int(half))
    inputs, consts = operand(x, "data")
    return [KernelCall("resize_bilinear_s8", params, inputs, consts, (y.index,), op.index)]


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (truncating toward zero) for a positive divisor."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def _locate(out_size: int, scale: int, half: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.arange(out_size, dtype=np.int64) * scale
    if half:
        s = s + scale // 2 - 512
    lo = np.maximum(_c_div(s, 1024), 0)
    hi = np.minimum(_c_div(s + 1023, 1024), in_size - 1)
    return s - 1024 * lo, lo, hi  # (weight of the upper neighbour, lower, upper)


def resize_bilinear_s8_ref(p: ResizeBilinearParams, x: np.ndarray) -> np.ndarray:
    img = np.asarray(x, dtype=np.int64).reshape(p.batches, p.in_h, p.in_w, p.depth)
    wy1, y0, y1 = _locate(p.out_h, p.height_scale_10, p.half_pixel_centers, p.in_h)
    wx1, x0, x1 = _locate(p.out_w, p.width_scale_10, p.half_pixel_centers, p.in_w)
    wy1, wy0 = wy1[:, None, None], 1024 - wy1[:, None, None]
    wx1, wx0 = wx1[None, :, None], 1024 - wx1[None, :, None]

    def at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return img[:, rows][:, :, cols]

    total = at(y0, x0) * wy0 * wx0 + at(y1, x0) * wy1 * wx0 + at(y0, x1) * wy0 * wx1 + at(y1, x1) * wy1 * wx1
    half = np.where(total > 0, 1 << 19, -(1 << 19))
    return _c_div(total + half, 1 << 20).astype(np.int8)


LOWERINGS = {"RESIZE_BILINEAR": lower_resize_bilinear}
REFERENCES = {"resize_bilinear_s8": resize_bilinear_s8_ref}
