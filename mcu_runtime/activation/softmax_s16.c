#include "softmax_s16.h"

#include "fixedpoint_exp.h"
#include "fixedpoint_s32.h"

enum {
    S8_SCALED_DIFF_INTEGER_BITS = 5,  /* exp() input: Q5.26 */
    S8_ACCUMULATION_INTEGER_BITS = 12 /* sum of exponentials: Q12.19 */
};

/* Table lookup with linear interpolation: the top 9 bits of v pick an interval of the 513-entry table, the
 * low 7 bits interpolate inside it, rounding to nearest. */
static inline int32_t lut_interp_s16(int32_t v, const int16_t *lut)
{
    const int32_t index = 256 + (v >> 7);
    const int32_t offset = v & 0x7f;
    const int32_t base = lut[index];
    const int32_t slope = (int16_t)(lut[index + 1] - base);
    return (int16_t)(base + ((slope * offset + 64) >> 7));
}

static inline int32_t clamp_s16(int32_t v)
{
    return v < INT16_MIN ? INT16_MIN : (v > INT16_MAX ? INT16_MAX : v);
}

void softmax_s16(const softmax_s16_params_t *p, const int16_t *input, const int16_t *exp_lut,
                 const int16_t *recip_lut, int16_t *output)
{
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->outer_size; ++i) {
        const int16_t *in = input + i * depth;
        int16_t *out = output + i * depth;
        int32_t max = INT16_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        /* exp of each scaled difference, kept in the output row (in[c] is read before out[c] is written) */
        int32_t sum = 0; /* Q16.15 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t scaled = multiply_by_quantized_multiplier((int32_t)in[c] - max, p->input_multiplier,
                                                                    p->input_left_shift);
            const int32_t e = lut_interp_s16(clamp_s16(scaled + 32767), exp_lut);
            out[c] = (int16_t)e;
            sum += e;
        }
        /* The row maximum contributes exp(0) ~ 1, so sum > 0: normalise it to [1, 2) in Q1.15 (rounded), then
         * 1 / sum = 1 / (1 + x) from the second table, x = sum - 1 recentred to the int16 range. */
        const int32_t headroom_plus_one = fp_clz32((uint32_t)sum);
        const int32_t shifted = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        const int32_t recip = lut_interp_s16(clamp_s16(shifted - ((1 << 15) + (1 << 16))), recip_lut);
        const int32_t right_shift = 31 - headroom_plus_one;
        const int64_t round = (int64_t)1 << (right_shift - 1);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t v = (int32_t)(((int64_t)out[c] * recip + round) >> right_shift);
            out[c] = (int16_t)(v < 0 ? 0 : (v > INT16_MAX ? INT16_MAX : v));
        }
    }
}

/* exp(beta * input_scale * diff) in Q0.31 for diff <= 0. */
static inline int32_t scaled_exp_s8(int32_t diff, int32_t multiplier, int32_t left_shift)
{
    return fp_exp_on_negative_values(multiply_by_quantized_multiplier(diff, multiplier, left_shift),
                                     S8_SCALED_DIFF_INTEGER_BITS);
}

void softmax_s8_s16(const softmax_s8_s16_params_t *p, const int8_t *input, int16_t *output)
{
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->outer_size; ++i) {
        const int8_t *in = input + i * depth;
        int16_t *out = output + i * depth;
        int32_t max = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max = in[c] > max ? in[c] : max;
        }
        uint32_t sum = 0; /* Q12.19; uint32 wraps exactly as TFLite's int32 sum */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t e = scaled_exp_s8(diff, p->input_multiplier, p->input_left_shift);
                sum += (uint32_t)rounding_divide_by_pot(e, S8_ACCUMULATION_INTEGER_BITS);
            }
        }
        int32_t bits_over_unit;
        const int32_t recip = fp_get_reciprocal(sum, S8_ACCUMULATION_INTEGER_BITS, &bits_over_unit);
        const int32_t exponent = bits_over_unit + 31 - 16; /* 16 output bits: at most 27 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t value = INT16_MIN;
            if (diff >= p->diff_min) {
                const int32_t e = scaled_exp_s8(diff, p->input_multiplier, p->input_left_shift);
                value = clamp_s16(rounding_divide_by_pot(sat_rounding_doubling_high_mul(recip, e), exponent)
                                  + INT16_MIN);
            }
            out[c] = (int16_t)value;
        }
    }
}
