#include "squared_difference_s8.h"

#include "elementwise_s8.h"
#include "fixedpoint_s32.h"

static void sqdiff_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                       int32_t n)
{
    const squared_difference_s8_params_t *p = (const squared_difference_s8_params_t *)params;
    const int32_t headroom = (int32_t)1 << p->left_shift;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t x1 = multiply_by_quantized_multiplier((a[i * sa] + p->input1_offset) * headroom,
                                                            p->input1_multiplier, p->input1_shift);
        const int32_t x2 = multiply_by_quantized_multiplier((b[i * sb] + p->input2_offset) * headroom,
                                                            p->input2_multiplier, p->input2_shift);
        const int32_t d = x1 - x2; /* |d| <= 255 * 2^7: d * d fits int32 */
        const int32_t y = multiply_by_quantized_multiplier(d * d, p->output_multiplier, p->output_shift)
            + p->output_offset;
        out[i] = (int8_t)clamp_s32(y, p->act_min, p->act_max);
    }
}

void squared_difference_s8(const squared_difference_s8_params_t *p, const int8_t *input1, const int8_t *input2,
                           int8_t *output)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    if (!p->broadcast) {
        sqdiff_row(p, input1, 1, input2, 1, output, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d(p, out_dims, in1_dims, in2_dims, input1, input2, output, sqdiff_row);
}
