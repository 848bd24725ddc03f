/* SVDF, int8 with int16 state: see svdf_s8.h. */
#include "svdf_s8.h"

#include "fixedpoint_s32.h"

void svdf_s8(const svdf_s8_params_t *p, const int8_t *input, const int16_t *state_in,
             const int8_t *weights_feature, const int16_t *weights_time, const int32_t *bias, int8_t *output,
             int16_t *state)
{
    const int32_t row = p->filters * p->memory;
    const int32_t total = p->batches * row;
    const int32_t units = p->filters / p->rank;

    /* Every element moves one place towards the start of the buffer (forward, so in place is safe). */
    for (int32_t k = 0; k + 1 < total; ++k) {
        state[k] = state_in[k + 1];
    }

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->in_features;
        int16_t *s = state + b * row;
        for (int32_t f = 0; f < p->filters; ++f) {
            const int8_t *w = weights_feature + f * p->in_features;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_features; ++i) {
                acc += (int32_t)w[i] * ((int32_t)x[i] + p->input_offset);
            }
            acc = multiply_by_quantized_multiplier(acc, p->feature_multiplier, p->feature_shift);
            acc = clamp_s32(acc + p->state_zero_point, INT16_MIN, INT16_MAX);
            s[f * p->memory + p->memory - 1] = (int16_t)acc;
        }

        for (int32_t u = 0; u < units; ++u) {
            /* Sums wrap modulo 2^32 as TFLM's int32 accumulators do on its targets; unsigned avoids C's UB. */
            uint32_t sum = (uint32_t)bias[u];
            for (int32_t r = 0; r < p->rank; ++r) {
                const int32_t f = u * p->rank + r;
                const int16_t *wt = weights_time + f * p->memory;
                const int16_t *sf = s + f * p->memory;
                uint32_t dot = 0;
                for (int32_t m = 0; m < p->memory; ++m) {
                    dot += (uint32_t)((int32_t)wt[m] * ((int32_t)sf[m] - p->state_zero_point));
                }
                sum += dot;
            }
            int32_t out = multiply_by_quantized_multiplier((int32_t)sum, p->time_multiplier, p->time_shift);
            out = clamp_s32(out + p->output_offset, INT8_MIN, INT8_MAX);
            output[b * units + u] = (int8_t)out;
        }
    }
}
