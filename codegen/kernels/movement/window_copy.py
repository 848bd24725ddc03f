"""Copy a rectangular window of rows between two buffers: the crops and stores of patch-based execution.

A patch's element-wise operator reads only its own window of a larger buffer (crop), and each patch's
result is stored into its tile of the full split tensor (store: several calls, one tensor, like a concat).
Works on bytes, so int8 and float32 tensors alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield

HEADER = "window_copy.h"


@dataclass(frozen=True)
class WindowCopyParams(KernelParams):
    C_TYPE = "copy_window_params_t"
    rows: int = cfield("int32_t")
    row_bytes: int = cfield("int32_t")
    src_offset: int = cfield("int32_t")  # bytes from the source buffer's start to the window's first byte
    src_stride: int = cfield("int32_t")  # bytes between consecutive rows in the source
    dst_offset: int = cfield("int32_t")
    dst_stride: int = cfield("int32_t")
    dst_bytes: int = cfield("int32_t")  # size of the whole destination buffer


def copy_window_ref(p: WindowCopyParams, src: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    src_bytes = np.ascontiguousarray(src).reshape(-1).view(np.uint8)
    if out is None:
        dst = np.zeros(p.dst_bytes, np.uint8)
    else:
        dst = np.ascontiguousarray(out).reshape(-1).view(np.uint8).copy()
    for r in range(p.rows):
        s = p.src_offset + r * p.src_stride
        d = p.dst_offset + r * p.dst_stride
        dst[d : d + p.row_bytes] = src_bytes[s : s + p.row_bytes]
    return dst.view(np.asarray(src).dtype)


@dataclass(frozen=True)
class PlanarWindowParams(KernelParams):
    """A window of an NCHW (planar) int8 tensor copied into an NHWC buffer: stage 1 reading its tiles straight
    from an NCHW model input whose TRANSPOSE to NHWC was folded into it (codegen/schedule/patch_schedule.py)."""

    C_TYPE = "copy_window_planar_params_t"
    channels: int = cfield("int32_t")
    rows: int = cfield("int32_t")
    cols: int = cfield("int32_t")
    src_offset: int = cfield("int32_t")  # bytes from the source's start to channel 0, the window's first pixel
    src_row_stride: int = cfield("int32_t")  # bytes between rows of one channel plane (the tensor's width)
    src_plane_stride: int = cfield("int32_t")  # bytes between channel planes (height x width)
    dst_offset: int = cfield("int32_t")
    dst_stride: int = cfield("int32_t")  # bytes between rows of the destination (NHWC: cols x channels at least)
    dst_bytes: int = cfield("int32_t")


def planar_window_ref(p: PlanarWindowParams, src: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    src_bytes = np.ascontiguousarray(src).reshape(-1).view(np.uint8)
    dst = (np.zeros(p.dst_bytes, np.uint8) if out is None
           else np.ascontiguousarray(out).reshape(-1).view(np.uint8).copy())
    for r in range(p.rows):
        for c in range(p.channels):
            s = p.src_offset + c * p.src_plane_stride + r * p.src_row_stride
            d = p.dst_offset + r * p.dst_stride + c
            dst[d : d + p.cols * p.channels : p.channels] = src_bytes[s : s + p.cols]
    return dst.view(np.asarray(src).dtype)


LOWERINGS: dict = {}  # only the patch scheduler creates these calls
REFERENCES = {"copy_window": copy_window_ref, "copy_window_planar": planar_window_ref}
