"""gemmlowp-style fixed-point math (exp, 1/(1+x), logistic, log) in NumPy, bit-exact with TFLite's kernels.

A fixed-point value with `k` integer bits is an int32 `raw` meaning raw / 2^(31 - k) (gemmlowp's
FixedPoint<int32_t, k>). Products of such values are saturating rounding doubling high multiplies, sums
wrap like int32 registers, and every function below reproduces the exact integer steps TFLite (Micro)
performs, so `mcu_runtime/common/fixedpoint_exp.h` (the C twin) can be checked against it bit for bit.

Functions take scalars or int arrays and return int64 arrays holding int32 values.
"""

from __future__ import annotations

import numpy as np

from codegen.kernels.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

srdhm = saturating_rounding_doubling_high_mul

# Q0.31 constants of exp_on_interval_between_negative_one_quarter_and_0_excl.
EXP_MINUS_ONE_EIGHTH = 1895147668  # exp(-1/8)
ONE_THIRD = 715827883
# exp(-2^e) in Q0.31 for e = -2..4: the barrel shifter multiplies these in, one per remainder bit.
EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
              (3, 720401), (4, 242))
# Newton-Raphson division seed constants, Q2.29.
FORTY_EIGHT_OVER_17 = 1515870810
MINUS_THIRTY_TWO_OVER_17 = -1010580540
# Q0.31 constants of the log approximation.
LOG_2 = 1488522236
SQRT_SQRT_HALF = 1805811301
SQRT_HALF = 1518500250
ONE_QUARTER = 536870912
ALPHA_N = 117049297
ALPHA_D = 127690142
ALPHA_I = 1057819769
ALPHA_F = 638450708


def wrap32(x) -> np.ndarray:
    """Wrap to int32 two's complement: the non-saturating add/sub of a 32-bit register."""
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32) - 2**31


def clz32(x) -> np.ndarray:
    """Leading zeros of x's 32-bit pattern (32 for zero), as TFLite's CountLeadingZeros(uint32_t)."""
    u = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    orig = u
    n = np.zeros_like(u)
    for step in (16, 8, 4, 2, 1):
        small = u < (1 << (32 - step))
        n = n + np.where(small, step, 0)
        u = np.where(small, u << step, u)
    return np.where(orig == 0, 32, n)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2^exponent: saturating for a left shift, rounding half away from zero for a right shift."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return saturating_left_shift(x, exponent)


def saturating_left_shift(x, exponent) -> np.ndarray:
    """x * 2^exponent for exponent in [0, 31] (scalar or per element), clamped to the int32 range.

    TFLite's SaturatingRoundingMultiplyByPOTParam for the non-negative exponents it is used with.
    """
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    shifted = wrap32(x << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp Rescale: the same real value with a different number of integer bits."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded half away from zero (gemmlowp RoundingHalfSum for int32)."""
    s = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    t = s + np.where(s >= 0, 1, -1)
    # C division truncates toward zero.
    return np.where(t >= 0, t // 2, -((-t) // 2))


def saturating_add(a, b) -> np.ndarray:
    s = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    return np.clip(s, INT32_MIN, INT32_MAX)


def saturating_sub(a, b) -> np.ndarray:
    s = np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64)
    return np.clip(s, INT32_MIN, INT32_MAX)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a Q0.31 `a` in [-1/4, 0): 4th-order Taylor expansion around -1/8."""
    x = wrap32(np.asarray(a, dtype=np.int64) + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = wrap32(srdhm(wrap32(x4_over_4 + x3), ONE_THIRD) + x2)
    poly = saturating_rounding_multiply_by_pot(poly, -1)
    return wrap32(EXP_MINUS_ONE_EIGHTH + srdhm(EXP_MINUS_ONE_EIGHTH, wrap32(x + poly)))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) in Q0.31 for a <= 0 held with `integer_bits` integer bits (1..5, as TFLite uses it).

    a = (a mod 1/4) - 1/4 - remainder: the first part goes through the Taylor polynomial, and each set bit
    of the remainder multiplies in exp(-2^e).
    """
    if not 1 <= integer_bits <= 5:
        raise ValueError(f"exp_on_negative_values supports 1..5 integer bits, not {integer_bits}")
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_quarter, integer_bits, 0))
    remainder = wrap32(a_mod_quarter_minus_quarter - a)
    for exponent, multiplier in EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a Q0.31 `a` in [0, 1): three Newton-Raphson steps on the half denominator, in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap32(FORTY_EIGHT_OVER_17 + srdhm(half_denominator, MINUS_THIRTY_TWO_OVER_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32((1 << 29) - half_denominator_times_x)
        # The product of two Q2.29 values is Q4.27: back to Q2.29.
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    # x approximates 2/(1+a) in Q2.29; halving by reinterpretation gives Q1.30, then Q0.31.
    return rescale(x, 1, 0)


def logistic(a, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) in Q0.31 for any `a` with `integer_bits` integer bits."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, wrap32(-a))
    exp_minus_abs = exp_on_negative_values(wrap32(-abs_input), integer_bits)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_minus_abs)
    result_if_negative = wrap32(INT32_MAX - result_if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, result_if_positive, result_if_negative))


def log_x_for_x_greater_than_or_equal_to_1(a, input_integer_bits: int,
                                           output_integer_bits: int) -> np.ndarray:
    """log(a) with `output_integer_bits` integer bits, for a >= 1 with `input_integer_bits` (TFLite's
    log_x_for_x_greater_than_or_equal_to_1_impl): split a = 2^z * r with r in [sqrt(1/2), sqrt(2)), then a
    rational approximation of log(r) around sqrt(sqrt(1/2)).
    """
    accum_bits = output_integer_bits + 1  # one bit of headroom for z * log(2) + log(r)
    shifted_quarter = rescale(ONE_QUARTER, 0, accum_bits)
    z_a = np.asarray(a, dtype=np.int64)  # reinterpreted as Q0.31

    z_a_headroom_plus_1 = clz32(z_a)
    r_a_tmp = saturating_left_shift(z_a, z_a_headroom_plus_1 - 1)
    r_a_raw = saturating_left_shift(srdhm(r_a_tmp, SQRT_HALF), 1)
    z_a_pow_2_adj = saturating_add(
        saturating_left_shift(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter)

    z_b = srdhm(z_a, SQRT_HALF)
    z_b_headroom = clz32(z_b) - 1
    r_b_raw = saturating_left_shift(z_a, z_b_headroom)
    z_b_pow_2_adj = saturating_sub(
        saturating_left_shift(input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter)

    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, SQRT_SQRT_HALF)
    q = wrap32(r - SQRT_SQRT_HALF)
    q = wrap32(q + q)
    common_sq = srdhm(q, q)
    num = wrap32(srdhm(q, r) + srdhm(srdhm(q, common_sq), ALPHA_N))
    denom_minus_one = wrap32(
        srdhm(p, wrap32(ALPHA_I + q + srdhm(ALPHA_D, common_sq))) + srdhm(ALPHA_F, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one)

    num_scaled = rescale(num, 0, accum_bits)
    total = wrap32(srdhm(z_pow_2_adj, LOG_2) + srdhm(num_scaled, recip_denom))
    return rescale(total, accum_bits, output_integer_bits)


def get_reciprocal(x, x_integer_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal: 1/x as (Q0.31 mantissa, num_bits_over_unit) for a positive x with
    `x_integer_bits` integer bits; the reciprocal is mantissa * 2^-num_bits_over_unit.
    """
    x = np.asarray(x, dtype=np.int64)
    headroom_plus_one = clz32(x)
    num_bits_over_unit = x_integer_bits - headroom_plus_one
    # uint32 arithmetic: normalise x to [1, 2) in Q1.31 and subtract 1.
    shifted_minus_one = wrap32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), num_bits_over_unit


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest |input| whose rescaled value fits the fixed-point format.

    floor((2^ib - 1) * 2^(total - ib) / 2^shift), computed exactly with integers (TFLite's double
    expression is exact here: every operand is a small integer or a power of two).
    """
    if input_left_shift < 0:
        raise ValueError(f"negative input_left_shift {input_left_shift}")
    return (((1 << input_integer_bits) - 1) << (total_signed_bits - input_integer_bits)) >> input_left_shift
