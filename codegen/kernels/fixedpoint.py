"""TFLite's integer arithmetic, in NumPy, written to match `mcu_runtime/common/fixedpoint_s32.h` bit for bit.

Functions take scalars or int arrays and return int64 arrays holding int32 values: int64 gives headroom
for the intermediate products; callers cast at the end.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Split a real multiplier into (int32 mantissa, power-of-two shift): |mantissa| in [2^30, 2^31).

    Same as TFLite's QuantizeMultiplier: frexp, round half away from zero, renormalise on overflow,
    and flush multipliers below 2^-31 in magnitude to zero. A negative multiplier (a negative filter scale)
    gets a negative mantissa in [-2^31, -2^30]: frexp keeps the sign, and only +2^31 is renormalised, so a
    mantissa that rounds to -2^31 stays -2^31 (it fits an int32). Zero gives (0, 0).
    """
    if not math.isfinite(real):
        raise ValueError(f"multiplier {real} is not finite")
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = _round_half_away(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q), int(shift)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"multiplier {real} is not greater than one")
    return mult, shift


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 two's complement, as a 32-bit register would."""
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32) - 2**31


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C integer division truncates toward zero.
    q = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    return np.where(overflow, INT32_MAX, q)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding, the default build)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = _wrap32(np.asarray(x, dtype=np.int64) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def activation_range_s8(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Clamp bounds of a fused activation for an int8 output, as TFLite's CalculateActivationRangeQuantized."""
    return activation_range_within(activation, scale, zero_point, -128, 127)


def activation_range_within(activation: str, scale: float, zero_point: int, qmin: int, qmax: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an output whose type holds [qmin, qmax]."""

    def quantize(v: float) -> int:
        # TfLiteRound of a float32 quotient, then offset by the zero point.
        q = _round_half_away(float(np.float32(v) / np.float32(scale)))
        # TFLM compares against float(INT32_MIN) / float(INT32_MAX) == +-2^31 and refuses the model outside.
        if not -(2.0**31) <= q <= 2.0**31:
            raise ValueError(f"activation bound {v} at scale {scale} overflows int32 (TFLite Micro refuses it)")
        return zero_point + int(q)

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")
