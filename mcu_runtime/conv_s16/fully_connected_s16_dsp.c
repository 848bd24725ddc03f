#include "fully_connected_s16_dsp.h"

#include "dot_s16_dsp.h"
#include "fixedpoint_s64.h"

/* Rows o and, when `pair`, o + 1 against input row x, added to acc[0] (and acc[1]). */
static void fc_dot(const fully_connected_s8_params_t *p, const int16_t *x, const int8_t *filter, int32_t o,
                   int32_t pair, int64_t *acc)
{
    const int8_t *w = filter + o * p->in_features;
    if (pair) {
        dot2_s16_dsp(x, w, w + p->in_features, p->in_features, &acc[0], &acc[1]);
    } else {
        acc[0] = dot_s16_dsp(x, w, p->in_features, acc[0]);
    }
}

void fully_connected_s16_dsp(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                             const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = input + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; o += 2) {
            const int32_t pair = o + 1 < p->out_features;
            int64_t acc[2] = {bias[o], pair ? bias[o + 1] : 0};
            fc_dot(p, x, filter, o, pair, acc);
            for (int32_t k = 0; k <= pair; ++k) {
                const int32_t y = multiply_by_quantized_multiplier_s64(acc[k], mult[o + k], shift[o + k]);
                *output++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}

void fully_connected_s16_b32_dsp(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                                 const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = input + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; o += 2) {
            const int32_t pair = o + 1 < p->out_features;
            int64_t acc[2] = {0, 0};
            fc_dot(p, x, filter, o, pair, acc);
            for (int32_t k = 0; k <= pair; ++k) {
                /* TFLite's int32 accumulator, wrapping through uint32 */
                const uint32_t sum = (uint32_t)acc[k] + (uint32_t)bias[o + k];
                const int32_t y = multiply_by_quantized_multiplier((int32_t)sum, mult[o + k], shift[o + k]);
                *output++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}
