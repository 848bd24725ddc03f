#include "logistic_s8.h"

#include "fixedpoint_exp.h"
#include "fixedpoint_s32.h"

enum { INPUT_INTEGER_BITS = 4, OUTPUT_FRACTIONAL_BITS = 8 };

void logistic_s8(const logistic_s8_params_t *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = (int32_t)input[i] - p->input_zero_point;
        int32_t value;
        if (v <= -p->input_range_radius) {
            value = INT8_MIN;
        } else if (v >= p->input_range_radius) {
            value = INT8_MAX;
        } else {
            /* Inside the radius the Q4.27 rescale cannot overflow. */
            const int32_t q4 = multiply_by_quantized_multiplier(v, p->input_multiplier, p->input_left_shift);
            const int32_t q0 = fp_logistic(q4, INPUT_INTEGER_BITS);
            value = rounding_divide_by_pot(q0, 31 - OUTPUT_FRACTIONAL_BITS) + INT8_MIN;
            value = clamp_s32(value, INT8_MIN, INT8_MAX);
        }
        output[i] = (int8_t)value;
    }
}
