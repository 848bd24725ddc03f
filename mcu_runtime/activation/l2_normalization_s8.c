#include "l2_normalization_s8.h"

#include "fixedpoint_s32.h"

/* x * 2^exponent (exponent in 1..31), saturated to int32: gemmlowp's SaturatingRoundingMultiplyByPOT. */
static int32_t saturating_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* 1/sqrt(value) as a Q0.31 multiplier and a left shift (<= 0): TFLite's GetInvSqrtQuantizedMultiplierExp
 * with kReverseShift. Newton-Raphson on the value normalised to [2^27, 2^29) in Q3.28. */
static void inv_sqrt(int32_t value, int32_t *multiplier, int32_t *shift)
{
    if (value <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t right = 11;
    while (value >= ((int32_t)1 << 29)) {
        value /= 4;
        ++right;
    }
    int32_t leading_zeros = 0;
    for (uint32_t u = (uint32_t)value; (u & 0x80000000u) == 0u; u <<= 1) {
        ++leading_zeros;
    }
    const int32_t pairs = (leading_zeros - 1) / 2 - 1;
    right -= pairs;
    value <<= 2 * pairs;
    const int32_t half_input = rounding_divide_by_pot(value >> 1, 1);
    const int32_t half_three = ((int32_t)1 << 28) + ((int32_t)1 << 27);
    int32_t x = (int32_t)1 << 28;
    for (int32_t i = 0; i < 5; ++i) {
        const int32_t x3 = saturating_shift_left(
            sat_rounding_doubling_high_mul(sat_rounding_doubling_high_mul(x, x), x), 6);
        const uint32_t diff = (uint32_t)sat_rounding_doubling_high_mul(half_three, x)
            - (uint32_t)sat_rounding_doubling_high_mul(half_input, x3); /* wraps, as gemmlowp's Sub */
        x = saturating_shift_left((int32_t)diff, 3);
    }
    int32_t m = sat_rounding_doubling_high_mul(x, 1518500250); /* times sqrt(2)/2 */
    if (right < 0) {
        m = (int32_t)((uint32_t)m << -right);
        right = 0;
    }
    *multiplier = m;
    *shift = -right;
}

void l2_normalization_s8(const l2_normalization_s8_params_t *p, const int8_t *input, int8_t *output)
{
    for (int32_t r = 0; r < p->outer; ++r) {
        const int8_t *in = input + r * p->depth;
        int8_t *out = output + r * p->depth;
        int32_t acc = 0;
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t v = in[i] - p->input_zero_point;
            acc += v * v;
        }
        int32_t multiplier;
        int32_t shift;
        inv_sqrt(acc, &multiplier, &shift);
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t y = multiply_by_quantized_multiplier(in[i] - p->input_zero_point, multiplier, shift + 7);
            out[i] = (int8_t)clamp_s32(y, INT8_MIN, INT8_MAX);
        }
    }
}
