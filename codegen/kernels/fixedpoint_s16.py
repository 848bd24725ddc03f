"""TFLite's integer arithmetic for 16x8 kernels (int16 activations, int8 weights), in NumPy.

Bit-identical to `mcu_runtime/common/fixedpoint_s64.h`. The int8 arithmetic lives in fixedpoint.py; this adds
what the int16 paths use on top: the int64-accumulator MultiplyByQuantizedMultiplier (a 16-bit reduced
multiplier, one rounding) and activation ranges for any integer output type.
"""

from __future__ import annotations

import numpy as np

from codegen.kernels.fixedpoint import activation_range_within

# Value range of each integer element type the kernels write.
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
}


def wrap_int32(x) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32) - 2**31


def reduced_multiplier(multiplier: int) -> int:
    """The 16-bit multiplier TFLite's int64 MultiplyByQuantizedMultiplier uses (rounded, capped at 0x7FFF).

    The shift floors, so for a negative multiplier ties round up too: -(2^30 + 2^15) -> -2^14 (not -(2^14 + 1),
    the negated reduction of 2^30 + 2^15), -2^31 -> -2^15; there is no cap on the negative side."""
    return (int(multiplier) + (1 << 15)) >> 16 if int(multiplier) < 0x7FFF0000 else 0x7FFF


def multiply_by_quantized_multiplier_s64(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int64_t x, ...): round(x * reduced / 2^(15 - shift)), as int32.

    `multiplier` and `shift` may be per-channel arrays broadcasting against x. Valid for |x| < 2^47 and
    shift in [-31, 7], as TFLite requires; the result wraps to int32 as TFLite's static_cast does.
    """
    mult = np.asarray(multiplier, dtype=np.int64)
    reduced = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, dtype=np.int64)
    rounding = np.left_shift(np.int64(1), total_shift - 1)
    result = (np.asarray(x, dtype=np.int64) * reduced + rounding) >> total_shift
    return wrap_int32(result)


def activation_range(activation: str, scale: float, zero_point: int, dtype: str) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int8 or int16 output."""
    return activation_range_within(activation, scale, zero_point, *INT_RANGES[dtype])
