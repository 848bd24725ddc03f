"""lowbit_requantize_s8: in place, each int8 value q of a window becomes z + clamp(RDBPOT(q - z, k), m_lo, m_hi) 2^k.

That is LowBitFormat.requantize (codegen/quantize/mixed_precision.py): the int8 value a consumer reads of a
map held in b bits, on the low-bit path of a mixed-precision patch whose buffers stay int8 (unpacked).
RDBPOT is TFLite's RoundingDivideByPOT (round half away from zero). The window is as max_s8's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield
from codegen.kernels.fixedpoint import rounding_divide_by_pot

HEADER = "lowbit_requantize_s8.h"


@dataclass(frozen=True)
class LowBitRequantizeParams(KernelParams):
    C_TYPE = "lowbit_requantize_s8_params_t"
    rows: int = cfield("int32_t")
    row_bytes: int = cfield("int32_t")
    row_stride: int = cfield("int32_t")
    zero_point: int = cfield("int32_t")
    shift: int = cfield("int32_t")  # k: the low-bit step is 2^k int8 steps
    m_lo: int = cfield("int32_t")  # the levels kept: m_lo .. m_hi (2^b of them at most)
    m_hi: int = cfield("int32_t")


def requantize_values(p: LowBitRequantizeParams, q: np.ndarray) -> np.ndarray:
    m = np.clip(rounding_divide_by_pot(np.asarray(q, np.int64) - p.zero_point, p.shift), p.m_lo, p.m_hi)
    return (p.zero_point + m * (1 << p.shift)).astype(np.int8)


def lowbit_requantize_s8_ref(p: LowBitRequantizeParams, buffer: np.ndarray) -> np.ndarray:
    """The buffer after the call (bytes outside the window unchanged)."""
    out = np.ascontiguousarray(buffer).reshape(-1).view(np.int8).copy()
    for r in range(p.rows):
        row = slice(r * p.row_stride, r * p.row_stride + p.row_bytes)
        out[row] = requantize_values(p, out[row])
    return out.reshape(np.shape(buffer))


LOWERINGS: dict = {}  # only the mixed-precision emitter creates these calls
REFERENCES = {"lowbit_requantize_s8": lowbit_requantize_s8_ref}
