#include "leaky_relu.h"

#include "fixedpoint_s32.h"

static inline int32_t leaky_one(const leaky_relu_params_t *p, int32_t x)
{
    const int32_t v = x - p->input_zero_point;
    const int32_t scaled = v >= 0 ? multiply_by_quantized_multiplier(v, p->identity_multiplier, p->identity_shift)
                                  : multiply_by_quantized_multiplier(v, p->alpha_multiplier, p->alpha_shift);
    return scaled + p->output_zero_point;
}

void leaky_relu_s8(const leaky_relu_params_t *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)clamp_s32(leaky_one(p, input[i]), INT8_MIN, INT8_MAX);
    }
}

void leaky_relu_s16(const leaky_relu_params_t *p, const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int16_t)clamp_s32(leaky_one(p, input[i]), INT16_MIN, INT16_MAX);
    }
}
