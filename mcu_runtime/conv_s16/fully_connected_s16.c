#include "fully_connected_s16.h"

#include "fixedpoint_s64.h"

static int64_t dot_s16(const int16_t *x, const int8_t *w, int32_t n)
{
    int64_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)w[i]; /* each product < 2^22 */
    }
    return acc;
}

void fully_connected_s16(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                         const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = input + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; ++o) {
            const int64_t acc = dot_s16(x, filter + o * p->in_features, p->in_features) + bias[o];
            const int32_t y = multiply_by_quantized_multiplier_s64(acc, mult[o], shift[o]);
            *output++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
        }
    }
}

void fully_connected_s16_b32(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = input + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; ++o) {
            /* TFLite's int32 accumulator, wrapping through uint32 */
            const uint32_t acc = (uint32_t)dot_s16(x, filter + o * p->in_features, p->in_features) + (uint32_t)bias[o];
            const int32_t y = multiply_by_quantized_multiplier((int32_t)acc, mult[o], shift[o]);
            *output++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
        }
    }
}
