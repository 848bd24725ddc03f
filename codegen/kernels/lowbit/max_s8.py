"""max_s8: the largest int8 value of a window of a buffer, the VDPC check of mixed-precision patches.

Stage 1 of a mixed-precision patch schedule (codegen/quantize/mixed_precision.py) computes a patch's region
of the classified map in int8, then keeps the int8 path only if that region's largest value exceeds the
map's threshold qT. The window is `rows` runs of `row_bytes` bytes, `row_stride` bytes apart (a patch region
of rows x cols x channels inside a wider buffer; a whole patch buffer is one row). The DSP variant compares
four bytes per step (SSUB8 sets the per-byte GE flags, SEL keeps the larger byte of each lane).
Only the mixed-precision emitter creates these calls; the C function returns the maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield

HEADER = "max_s8.h"


@dataclass(frozen=True)
class WindowParams(KernelParams):
    C_TYPE = "window_s8_params_t"
    rows: int = cfield("int32_t")
    row_bytes: int = cfield("int32_t")
    row_stride: int = cfield("int32_t")  # bytes between the first bytes of consecutive rows


def window_values(p: WindowParams, buffer: np.ndarray) -> np.ndarray:
    """The window's int8 values, rows x row_bytes (`buffer` starts at the window's first byte)."""
    flat = np.ascontiguousarray(buffer).reshape(-1).view(np.int8)
    rows = [flat[r * p.row_stride : r * p.row_stride + p.row_bytes] for r in range(p.rows)]
    return np.stack(rows) if rows else np.zeros((0, p.row_bytes), np.int8)


def max_s8_ref(p: WindowParams, buffer: np.ndarray) -> int:
    if p.rows < 1 or p.row_bytes < 1:
        raise ValueError("max_s8 needs a window of at least one byte")
    return int(window_values(p, buffer).max())


def whole_buffer(nbytes: int) -> WindowParams:
    """A contiguous buffer of `nbytes` as one row."""
    return WindowParams(1, nbytes, nbytes)


LOWERINGS: dict = {}  # only the mixed-precision emitter creates these calls
REFERENCES = {"max_s8": max_s8_ref, "max_s8_dsp": max_s8_ref}
