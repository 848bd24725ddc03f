/* gemmlowp-style fixed-point math (exp, 1/(1+x), logistic, log) used by TFLite's softmax, log-softmax and
 * logistic kernels. Must stay bit-identical to codegen/gemmlowp_fixedpoint.py (the host reference).
 *
 * A value with k integer bits is an int32 raw meaning raw / 2^(31 - k). Products are
 * sat_rounding_doubling_high_mul (fp_mul); sums wrap like the int32 registers TFLite relies on (done
 * through uint32 here, so there is no signed-overflow UB). */
#ifndef MCU_RUNTIME_FIXEDPOINT_EXP_H
#define MCU_RUNTIME_FIXEDPOINT_EXP_H

#include <stdint.h>

#include "fixedpoint_s32.h"

/* The product of two fixed-point values: integer bits add up, the raw result is the rounded high half. */
MCU_INLINE int32_t fp_mul(int32_t a, int32_t b)
{
    return sat_rounding_doubling_high_mul(a, b);
}

MCU_INLINE int32_t fp_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

MCU_INLINE int32_t fp_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* Leading zeros of a 32-bit pattern, 32 for zero (portable: no compiler builtin). */
MCU_INLINE int32_t fp_clz32(uint32_t u)
{
    if (u == 0u) {
        return 32;
    }
    int32_t n = 0;
    if (u < (1u << 16)) { n += 16; u <<= 16; }
    if (u < (1u << 24)) { n += 8; u <<= 8; }
    if (u < (1u << 28)) { n += 4; u <<= 4; }
    if (u < (1u << 30)) { n += 2; u <<= 2; }
    if (u < (1u << 31)) { n += 1; }
    return n;
}

/* x * 2^exponent for exponent in [0, 31], clamped to the int32 range. */
MCU_INLINE int32_t fp_saturating_left_shift(int32_t x, int32_t exponent)
{
    if (exponent == 0) {
        return x;
    }
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp Rescale: change the number of integer bits, keeping the real value. */
MCU_INLINE int32_t fp_rescale(int32_t x, int32_t src_integer_bits, int32_t dst_integer_bits)
{
    const int32_t exponent = src_integer_bits - dst_integer_bits;
    return exponent >= 0 ? fp_saturating_left_shift(x, exponent) : rounding_divide_by_pot(x, -exponent);
}

/* (a + b) / 2 rounded half away from zero. */
MCU_INLINE int32_t fp_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

MCU_INLINE int32_t fp_saturating_add(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return sum > INT32_MAX ? INT32_MAX : (sum < INT32_MIN ? INT32_MIN : (int32_t)sum);
}

MCU_INLINE int32_t fp_saturating_sub(int32_t a, int32_t b)
{
    const int64_t diff = (int64_t)a - (int64_t)b;
    return diff > INT32_MAX ? INT32_MAX : (diff < INT32_MIN ? INT32_MIN : (int32_t)diff);
}

/* exp(a) for a Q0.31 a in [-1/4, 0): Taylor expansion around -1/8. */
static inline int32_t fp_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = fp_add(a, 1 << 28);
    const int32_t x2 = fp_mul(x, x);
    const int32_t x3 = fp_mul(x2, x);
    const int32_t x4 = fp_mul(x2, x2);
    const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
    int32_t poly = fp_add(fp_mul(fp_add(x4_over_4, x3), one_third), x2);
    poly = rounding_divide_by_pot(poly, 1);
    return fp_add(exp_minus_one_eighth, fp_mul(exp_minus_one_eighth, fp_add(x, poly)));
}

/* exp(a) in Q0.31 for a <= 0 with integer_bits integer bits (1..5). The part of a modulo 1/4 goes through
 * the polynomial; each set bit of the rest multiplies in exp(-2^e). */
static inline int32_t fp_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = fp_sub(a & (one_quarter - 1), one_quarter);
    int32_t result = fp_exp_on_interval_between_negative_one_quarter_and_0_excl(
        fp_rescale(a_mod_quarter_minus_quarter, integer_bits, 0));
    const uint32_t remainder = (uint32_t)fp_sub(a_mod_quarter_minus_quarter, a);
    /* Exponents e = -2..4 apply while integer_bits > e. */
    for (int32_t e = -2; e <= 4 && e < integer_bits; ++e) {
        if (remainder & (1u << (fractional_bits + e))) {
            result = fp_mul(result, barrel[e + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a Q0.31 a in [0, 1): Newton-Raphson on the half denominator, in Q2.29. */
static inline int32_t fp_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = fp_rounding_half_sum(a, INT32_MAX);
    int32_t x = fp_add(1515870810, fp_mul(half_denominator, -1010580540));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = fp_mul(half_denominator, x);
        const int32_t one_minus = fp_sub(1 << 29, half_denominator_times_x);
        /* Q2.29 * Q2.29 is Q4.27: back to Q2.29. */
        x = fp_add(x, fp_saturating_left_shift(fp_mul(x, one_minus), 2));
    }
    /* x ~ 2/(1+a) in Q2.29 = 1/(1+a) in Q1.30, then Q0.31. */
    return fp_saturating_left_shift(x, 1);
}

/* 1 / (1 + exp(-a)) in Q0.31, a with integer_bits integer bits. */
static inline int32_t fp_logistic(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return 1 << 30;
    }
    const int32_t abs_input = a > 0 ? a : fp_sub(0, a);
    const int32_t result_if_positive =
        fp_one_over_one_plus_x_for_x_in_0_1(fp_exp_on_negative_values(fp_sub(0, abs_input), integer_bits));
    return a > 0 ? result_if_positive : fp_sub(INT32_MAX, result_if_positive);
}

/* log(a) with output_integer_bits integer bits for a >= 1 with input_integer_bits: a = 2^z * r with r in
 * [sqrt(1/2), sqrt(2)), then a rational approximation of log(r) around sqrt(sqrt(1/2)). */
static inline int32_t fp_log_x_for_x_greater_than_or_equal_to_1(int32_t a, int32_t input_integer_bits,
                                                               int32_t output_integer_bits)
{
    const int32_t log_2 = 1488522236;
    const int32_t sqrt_sqrt_half = 1805811301;
    const int32_t sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297;
    const int32_t alpha_d = 127690142;
    const int32_t alpha_i = 1057819769;
    const int32_t alpha_f = 638450708;
    const int32_t accum_bits = output_integer_bits + 1; /* headroom for z * log(2) + log(r) */
    const int32_t shifted_quarter = rounding_divide_by_pot(536870912, accum_bits);

    const int32_t z_a_headroom_plus_1 = fp_clz32((uint32_t)a);
    const int32_t r_a_tmp = fp_saturating_left_shift(a, z_a_headroom_plus_1 - 1);
    const int32_t r_a_raw = fp_saturating_left_shift(fp_mul(r_a_tmp, sqrt_half), 1);
    const int32_t z_a_pow_2_adj = fp_saturating_add(
        fp_saturating_left_shift(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter);

    const int32_t z_b = fp_mul(a, sqrt_half);
    const int32_t z_b_headroom = fp_clz32((uint32_t)z_b) - 1;
    const int32_t r_b_raw = fp_saturating_left_shift(a, z_b_headroom);
    const int32_t z_b_pow_2_adj = fp_saturating_sub(
        fp_saturating_left_shift(input_integer_bits - z_b_headroom, 31 - accum_bits), shifted_quarter);

    const int32_t r = r_a_raw < r_b_raw ? r_a_raw : r_b_raw;
    const int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;

    const int32_t p = fp_rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = fp_sub(r, sqrt_sqrt_half);
    q = fp_add(q, q);
    const int32_t common_sq = fp_mul(q, q);
    const int32_t q_cubed = fp_mul(q, common_sq);
    const int32_t num = fp_add(fp_mul(q, r), fp_mul(q_cubed, alpha_n));
    const int32_t denom_inner = fp_add(fp_add(alpha_i, q), fp_mul(alpha_d, common_sq));
    const int32_t denom_minus_one = fp_add(fp_mul(p, denom_inner),
                                           fp_mul(alpha_f, q));
    const int32_t recip_denom = fp_one_over_one_plus_x_for_x_in_0_1(denom_minus_one);

    const int32_t num_scaled = rounding_divide_by_pot(num, accum_bits);
    const int32_t total = fp_add(fp_mul(z_pow_2_adj, log_2),
                                 fp_mul(num_scaled, recip_denom));
    return fp_rescale(total, accum_bits, output_integer_bits);
}

/* 1/x for a positive x with x_integer_bits integer bits: returns a Q0.31 mantissa m and sets
 * *num_bits_over_unit so that 1/x = m * 2^-num_bits_over_unit. x must be nonzero. */
static inline int32_t fp_get_reciprocal(uint32_t x, int32_t x_integer_bits, int32_t *num_bits_over_unit)
{
    const int32_t headroom_plus_one = fp_clz32(x);
    *num_bits_over_unit = x_integer_bits - headroom_plus_one;
    /* Normalise x to [1, 2) in Q1.31 and subtract 1, in uint32 arithmetic. */
    const int32_t shifted_minus_one = (int32_t)((x << headroom_plus_one) - (1u << 31));
    return fp_one_over_one_plus_x_for_x_in_0_1(shifted_minus_one);
}

#endif
