#include "mean_patch_s8.h"

#include "fixedpoint_s32.h"

void mean_sum_s8(const mean_sum_s8_params_t *p, const int8_t *input, int32_t *sums)
{
    const int32_t channels = p->channels;
    if (p->first) {
        /* The arena is reused between calls: the first patch overwrites whatever the buffer held. */
        for (int32_t c = 0; c < channels; ++c) {
            sums[c] = 0;
        }
    }
    for (int32_t i = 0; i < p->pixels; ++i) {
        const int8_t *px = input + i * channels;
        for (int32_t c = 0; c < channels; ++c) {
            sums[c] += px[c];
        }
    }
}

void mean_lines_s8(const mean_lines_s8_params_t *p, const int8_t *input, int32_t *sums)
{
    const int32_t channels = p->channels;
    for (int32_t pass = p->first ? 0 : 1; pass < 2; ++pass) {
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                int32_t *line = sums + (p->base + i * p->row_step + j * p->col_step) * channels;
                const int8_t *px = input + (i * p->cols + j) * channels;
                for (int32_t c = 0; c < channels; ++c) {
                    /* Pass 0 clears every vector the patch touches, pass 1 adds. */
                    line[c] = pass == 0 ? 0 : line[c] + px[c];
                }
            }
        }
    }
}

/* The same arithmetic as mean_s8 on the whole tensor: the int32 sum is the same whatever the patch order. */
void mean_finish_s8(const mean_finish_s8_params_t *p, const int32_t *sums, int8_t *output)
{
    const int32_t zp_total = p->input_zp * p->count;
    for (int32_t c = 0; c < p->channels; ++c) {
        const int32_t value =
            multiply_by_quantized_multiplier(sums[c] - zp_total, p->multiplier, p->shift) + p->output_zp;
        output[c] = (int8_t)clamp_s32(value, INT8_MIN, INT8_MAX);
    }
}
