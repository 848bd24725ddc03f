#include "depthwise_conv2d_s8.h"

#include "conv_window.h"
#include "fixedpoint_s32.h"

/* Output channels accumulated together: each tap then reads contiguous input and filter runs. The
 * accumulators live on the stack (4 * DW_BLOCK bytes). */
#define DW_BLOCK 32

void depthwise_conv2d_s8(const depthwise_conv2d_s8_params_t *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t depth_mult = p->depth_multiplier;
    const int32_t in_row = p->in_w * in_c;
    const int32_t input_offset = p->input_offset;
    int32_t acc[DW_BLOCK];

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);

        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);
            int8_t *out = output + (oy * p->out_w + ox) * out_c;

            for (int32_t oc0 = 0; oc0 < out_c; oc0 += DW_BLOCK) {
                const int32_t n = out_c - oc0 < DW_BLOCK ? out_c - oc0 : DW_BLOCK;
                /* First input channel of the block and the position of oc0 within its multiplier group. */
                const int32_t ic0 = oc0 / depth_mult;
                const int32_t m0 = oc0 - ic0 * depth_mult;
                for (int32_t j = 0; j < n; ++j) {
                    acc[j] = bias[oc0 + j];
                }
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    const int8_t *in_r = input + (iy0 + ky * p->dilation_h) * in_row;
                    const int8_t *w_r = filter + ky * p->kernel_w * out_c + oc0;
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        const int8_t *in_px = in_r + (ix0 + kx * p->dilation_w) * in_c + ic0;
                        const int8_t *w_tap = w_r + kx * out_c;
                        if (depth_mult == 1) {
                            for (int32_t j = 0; j < n; ++j) {
                                acc[j] += ((int32_t)in_px[j] + input_offset) * (int32_t)w_tap[j];
                            }
                        } else {
                            /* Each input value feeds depth_mult consecutive output channels. */
                            int32_t ic = 0;
                            int32_t m = m0;
                            int32_t v = (int32_t)in_px[0] + input_offset;
                            for (int32_t j = 0; j < n; ++j) {
                                acc[j] += v * (int32_t)w_tap[j];
                                if (++m == depth_mult && j + 1 < n) {
                                    m = 0;
                                    v = (int32_t)in_px[++ic] + input_offset;
                                }
                            }
                        }
                    }
                }
                for (int32_t j = 0; j < n; ++j) {
                    const int32_t oc = oc0 + j;
                    const int32_t r = multiply_by_quantized_multiplier(acc[j], mult[oc], shift[oc]) + p->output_offset;
                    out[oc] = (int8_t)clamp_s32(r, p->act_min, p->act_max);
                }
            }
        }
    }
}
