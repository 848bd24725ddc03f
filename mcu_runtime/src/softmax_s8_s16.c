/* SOFTMAX int8 -> int16: see softmax_s8_s16.h. */
#include "softmax_s8_s16.h"

#include "fixedpoint_exp.h"
#include "fixedpoint_s32.h"

enum {
    S16_SCALED_DIFF_INTEGER_BITS = 5,   /* exp() input: Q5.26 */
    S16_ACCUMULATION_INTEGER_BITS = 12  /* sum of exponentials: Q12.19 */
};

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
        /* uint32 so a long row wraps as TFLite's int32 sum does. */
        uint32_t sum = 0;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = multiply_by_quantized_multiplier(diff, p->input_multiplier,
                                                                        p->input_left_shift);
                const int32_t e = fp_exp_on_negative_values(scaled, S16_SCALED_DIFF_INTEGER_BITS);
                sum += (uint32_t)rounding_divide_by_pot(e, S16_ACCUMULATION_INTEGER_BITS);
            }
        }
        int32_t bits_over_unit;
        const int32_t recip = fp_get_reciprocal(sum, S16_ACCUMULATION_INTEGER_BITS, &bits_over_unit);
        const int32_t exponent = bits_over_unit + 31 - 16;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t value = INT16_MIN;
            if (diff >= p->diff_min) {
                const int32_t scaled = multiply_by_quantized_multiplier(diff, p->input_multiplier,
                                                                        p->input_left_shift);
                const int32_t e = fp_exp_on_negative_values(scaled, S16_SCALED_DIFF_INTEGER_BITS);
                value = rounding_divide_by_pot(sat_rounding_doubling_high_mul(recip, e), exponent) + INT16_MIN;
                value = clamp_s32(value, INT16_MIN, INT16_MAX);
            }
            out[c] = (int16_t)value;
        }
    }
}
