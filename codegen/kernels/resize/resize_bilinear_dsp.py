"""RESIZE_BILINEAR int8, the fast variant for cores with the DSP extension: the same sums as
resize_bilinear.py, computed in 32 bits and separably.

The portable kernel locates every output pixel again and weights its four neighbours in 64 bits. Here the
compiler locates the rows and columns once (tables: byte offsets of the two neighbours and their two weights
packed as int16 halves), and the kernel forms, per channel,
    top = a * wx0 + c * wx1,  bottom = b * wx0 + d * wx1,  sum = top * wy0 + bottom * wy1,
which is exactly the portable sum regrouped (integer products distribute), in int32: the specializer checks
that 128 * (|wx0| + |wx1|) * (|wy0| + |wy1|) stays below 2^31 for every row and column (it does for every
scale TFLite computes: weights lie in [-512, 1536]) and keeps the portable kernel otherwise. On DSP cores four
channels share two loads per neighbour: SXTB16 splits them into int16 lanes and the halfword multiplies
(SMULBB/SMLABT and friends) take the packed column weights directly. Rounding is the portable kernel's: half
away from zero, then C's truncating division by 2^20.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, cfield
from codegen.kernels.resize.resize_bilinear import ResizeBilinearParams, _c_div, _locate
from codegen.targets.core import Target

HEADER = "resize_bilinear_s8_dsp.h"
KERNEL = "resize_bilinear_s8_dsp"


@dataclass(frozen=True)
class ResizeBilinearDspParams(KernelParams):
    C_TYPE = "resize_bilinear_s8_dsp_params_t"
    batches: int = cfield("int32_t")
    image_bytes: int = cfield("int32_t")  # one input image: in_h * in_w * depth
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    depth: int = cfield("int32_t")


def _pack(w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """Two int16 weights in one int32: w0 in the low half, w1 in the high half."""
    return ((w1.astype(np.int64) << 16) | (w0.astype(np.int64) & 0xFFFF)).astype(np.uint32).view(np.int32)


def _unpack(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(packed, dtype=np.int32).view(np.uint32).astype(np.int64)
    lo, hi = v & 0xFFFF, v >> 16
    return np.where(lo >= 1 << 15, lo - (1 << 16), lo), np.where(hi >= 1 << 15, hi - (1 << 16), hi)


def specialize_resize_bilinear(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    del graph, target
    p: ResizeBilinearParams = call.params  # type: ignore[assignment]
    if call.consts:  # a constant image is folded elsewhere; keep the portable call
        return None
    wy1, y0, y1 = _locate(p.out_h, p.height_scale_10, p.half_pixel_centers, p.in_h)
    wx1, x0, x1 = _locate(p.out_w, p.width_scale_10, p.half_pixel_centers, p.in_w)
    wy0, wx0 = 1024 - wy1, 1024 - wx1
    weights = np.concatenate([wy0, wy1, wx0, wx1])
    bound = 128 * int((np.abs(wx0) + np.abs(wx1)).max()) * int((np.abs(wy0) + np.abs(wy1)).max())
    if np.abs(weights).max() >= 1 << 15 or bound >= 1 << 31:
        return None
    row_bytes = p.in_w * p.depth
    rows = np.stack([y0 * row_bytes, y1 * row_bytes, _pack(wy0, wy1)], axis=1).astype(np.int32).reshape(-1)
    cols = np.stack([x0 * p.depth, x1 * p.depth, _pack(wx0, wx1)], axis=1).astype(np.int32).reshape(-1)
    params = ResizeBilinearDspParams(p.batches, p.in_h * row_bytes, p.out_h, p.out_w, p.depth)
    consts = (ConstArray("rows", rows), ConstArray("cols", cols))
    return KernelCall(KERNEL, params, call.inputs, consts, call.outputs, call.op_index, macs=call.macs)


def resize_bilinear_s8_dsp_ref(p: ResizeBilinearDspParams, x: np.ndarray, rows: np.ndarray,
                               cols: np.ndarray) -> np.ndarray:
    """The separable int32 sum from the tables, as the kernel computes it."""
    img = np.asarray(x, dtype=np.int64).reshape(p.batches, -1)
    r = np.asarray(rows, dtype=np.int32).reshape(p.out_h, 3)
    c = np.asarray(cols, dtype=np.int32).reshape(p.out_w, 3)
    wy0, wy1 = (w[:, None, None] for w in _unpack(r[:, 2]))
    wx0, wx1 = (w[None, :, None] for w in _unpack(c[:, 2]))
    ch = np.arange(p.depth)

    def at(row_off: np.ndarray, col_off: np.ndarray) -> np.ndarray:
        index = row_off.astype(np.int64)[:, None, None] + col_off.astype(np.int64)[None, :, None] + ch
        return img[:, index]

    top = at(r[:, 0], c[:, 0]) * wx0 + at(r[:, 0], c[:, 1]) * wx1
    bottom = at(r[:, 1], c[:, 0]) * wx0 + at(r[:, 1], c[:, 1]) * wx1
    total = top * wy0 + bottom * wy1
    assert np.abs(total).max(initial=0) < 1 << 31  # the specializer's bound: int32 holds every sum
    half = np.where(total > 0, 1 << 19, -(1 << 19))
    return _c_div(total + half, 1 << 20).astype(np.int8)


LOWERINGS: dict = {}
REFERENCES = {KERNEL: resize_bilinear_s8_dsp_ref}
SPECIALIZERS = {"resize_bilinear_s8": specialize_resize_bilinear}
