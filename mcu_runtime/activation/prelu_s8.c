#include "prelu_s8.h"

#include "elementwise_s8.h"
#include "fixedpoint_s32.h"

static void prelu_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                      int32_t n)
{
    const prelu_s8_params_t *p = (const prelu_s8_params_t *)params;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t x = a[i * sa] + p->input1_offset;
        int32_t y;
        if (x >= 0) {
            y = multiply_by_quantized_multiplier(x, p->output_multiplier_1, p->output_shift_1);
        } else {
            const int32_t alpha = b[i * sb] + p->input2_offset;
            y = multiply_by_quantized_multiplier(x * alpha, p->output_multiplier_2, p->output_shift_2);
        }
        out[i] = (int8_t)clamp_s32(y + p->output_offset, p->act_min, p->act_max);
    }
}

void prelu_s8(const prelu_s8_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    if (!p->broadcast) {
        prelu_row(p, input, 1, alpha, 1, output, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d(p, out_dims, in1_dims, in2_dims, input, alpha, output, prelu_row);
}
