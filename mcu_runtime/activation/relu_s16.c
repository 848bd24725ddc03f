#include "relu_s16.h"

#include "fixedpoint_s32.h"

void relu_s16(const relu_s16_params_t *p, const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t v = input[i];
        if (p->requantize) {
            v = multiply_by_quantized_multiplier(v - p->input_zero_point, p->multiplier, p->shift)
                + p->output_zero_point;
        }
        output[i] = (int16_t)clamp_s32(v, p->act_min, p->act_max);
    }
}
