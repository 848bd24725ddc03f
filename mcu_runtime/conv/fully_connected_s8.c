#include "fully_connected_s8.h"

#include "fixedpoint_s32.h"

/* Dot product of one input row with one filter row, both offset. Accumulating in int32 mirrors TFLM. */
static inline int32_t fc_dot(const int8_t *x, const int8_t *w, int32_t n, int32_t x_off, int32_t w_off)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += ((int32_t)w[i] + w_off) * ((int32_t)x[i] + x_off);
    }
    return acc;
}

void fully_connected_s8(const fully_connected_s8_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const int32_t n_in = p->in_features;
    const int32_t n_out = p->out_features;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * n_in;
        int8_t *y = output + b * n_out;
        for (int32_t o = 0; o < n_out; ++o) {
            const int32_t acc =
                fc_dot(x, filter + o * n_in, n_in, p->input_offset, p->filter_offset) + bias[o];
            const int32_t v = multiply_by_quantized_multiplier(acc, p->output_multiplier, p->output_shift)
                + p->output_offset;
            y[o] = (int8_t)clamp_s32(v, p->act_min, p->act_max);
        }
    }
}

void fully_connected_per_channel_s8(const fully_connected_s8_params_t *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                    const int32_t *shift, int8_t *output)
{
    const int32_t n_in = p->in_features;
    const int32_t n_out = p->out_features;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * n_in;
        int8_t *y = output + b * n_out;
        for (int32_t o = 0; o < n_out; ++o) {
            const int32_t acc = fc_dot(x, filter + o * n_in, n_in, p->input_offset, 0) + bias[o];
            const int32_t v =
                multiply_by_quantized_multiplier(acc, multiplier[o], shift[o]) + p->output_offset;
            y[o] = (int8_t)clamp_s32(v, p->act_min, p->act_max);
        }
    }
}
