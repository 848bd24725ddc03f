#include "softmax_s8.h"

#include <float.h>

#include "fixedpoint_exp.h"
#include "fixedpoint_s32.h"
#include "float_math.h"

enum {
    SCALED_DIFF_INTEGER_BITS = 5,  /* exp() input: Q5.26 */
    ACCUMULATION_INTEGER_BITS = 12, /* sum of exponentials: Q12.19 */
    LOG_OUTPUT_INTEGER_BITS = 4     /* log-softmax output: Q4.27 before the final shift */
};

static int8_t row_max(const int8_t *row, int32_t depth)
{
    int8_t max = INT8_MIN;
    for (int32_t c = 0; c < depth; ++c) {
        if (row[c] > max) {
            max = row[c];
        }
    }
    return max;
}

/* exp(beta * input_scale * diff) in Q0.31 for diff <= 0. */
static inline int32_t scaled_exp(int32_t diff, int32_t multiplier, int32_t left_shift)
{
    return fp_exp_on_negative_values(multiply_by_quantized_multiplier(diff, multiplier, left_shift),
                                     SCALED_DIFF_INTEGER_BITS);
}

/* Sum of exp() over a row in Q12.19. uint32 so a long row wraps exactly as TFLite's int32 sum does. */
static uint32_t row_sum_of_exps(const int8_t *row, int32_t depth, int32_t max, int32_t diff_min,
                                int32_t multiplier, int32_t left_shift)
{
    uint32_t sum = 0;
    for (int32_t c = 0; c < depth; ++c) {
        const int32_t diff = (int32_t)row[c] - max;
        if (diff >= diff_min) {
            const int32_t e = scaled_exp(diff, multiplier, left_shift);
            /* Rescale Q0.31 -> Q12.19. */
            sum += (uint32_t)rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS);
        }
    }
    return sum;
}

void softmax_s8(const softmax_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->depth;
    const int32_t mult = p->input_multiplier;
    const int32_t shift = p->input_left_shift;
    for (int32_t i = 0; i < p->outer_size; ++i) {
        const int8_t *in = input + i * depth;
        int8_t *out = output + i * depth;
        const int32_t max = row_max(in, depth);
        const uint32_t sum = row_sum_of_exps(in, depth, max, p->diff_min, mult, shift);

        int32_t bits_over_unit;
        const int32_t recip = fp_get_reciprocal(sum, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
        /* exp * recip is a Q0.31 probability scaled by 2^bits_over_unit; the output has 8 fractional bits. */
        const int32_t exponent = bits_over_unit + 31 - 8;
        if (exponent > 31) {
            /* Sum of exps >= 512: every probability is <= 1/512, i.e. rounds to the lowest output. TFLM
             * aborts here (TFLITE_CHECK); -128 is the value it would compute with a wider shift. */
            for (int32_t c = 0; c < depth; ++c) {
                out[c] = INT8_MIN;
            }
            continue;
        }
        /* Read in[c] before writing out[c]: in-place use is safe once max and sum are known. */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t value = INT8_MIN;
            if (diff >= p->diff_min) {
                const int32_t e = scaled_exp(diff, mult, shift);
                value = rounding_divide_by_pot(sat_rounding_doubling_high_mul(recip, e), exponent) + INT8_MIN;
                value = clamp_s32(value, INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)value;
        }
    }
}

void log_softmax_s8(const log_softmax_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->depth;
    const int32_t mult = p->input_multiplier;
    const int32_t shift = p->input_left_shift;
    const int32_t out_shift = 31 - SCALED_DIFF_INTEGER_BITS - LOG_OUTPUT_INTEGER_BITS;
    for (int32_t i = 0; i < p->outer_size; ++i) {
        const int8_t *in = input + i * depth;
        int8_t *out = output + i * depth;
        const int32_t max = row_max(in, depth);
        const uint32_t sum = row_sum_of_exps(in, depth, max, p->diff_min, mult, shift);

        const int32_t log_sum = fp_log_x_for_x_greater_than_or_equal_to_1(
            (int32_t)sum, ACCUMULATION_INTEGER_BITS, SCALED_DIFF_INTEGER_BITS);
        /* Differences whose scaled value minus log_sum would leave Q5.26 give the lowest output; map that
         * bound back to the input scale. */
        const int32_t bound = multiply_by_quantized_multiplier(
            fp_add(log_sum, INT32_MIN), p->reverse_scaling_divisor, -p->reverse_scaling_right_shift);
        const int32_t adjusted_diff_min = (p->diff_min - 1) > bound ? (p->diff_min - 1) : bound;

        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max;
            int32_t value = INT8_MIN;
            if (diff > adjusted_diff_min) {
                const int32_t scaled = multiply_by_quantized_multiplier(diff, mult, shift);
                value = rounding_divide_by_pot(fp_sub(scaled, log_sum), out_shift) + INT8_MAX;
                value = clamp_s32(value, INT8_MIN, INT8_MAX);
            }
            out[c] = (int8_t)value;
        }
    }
}

void log_softmax_f32(const log_softmax_f32_params_t *p, const float *input, float *output)
{
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->outer_size; ++i) {
        const float *in = input + i * depth;
        float *out = output + i * depth;
        float max = -FLT_MAX;
        for (int32_t c = 0; c < depth; ++c) {
            max = max < in[c] ? in[c] : max;
        }
        /* Same float operations in the same order as TFLM; correctly rounded exp/log instead of the C
         * library's, whose last bit varies between libms (glibc vs newlib). */
        float sum = 0.0f;
        for (int32_t c = 0; c < depth; ++c) {
            sum += mcu_expf(in[c] - max);
        }
        const float log_sum = mcu_logf(sum);
        for (int32_t c = 0; c < depth; ++c) {
            out[c] = in[c] - max - log_sum;
        }
    }
}
