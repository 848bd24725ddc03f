#include "depthwise_conv2d_lowbit.h"

#include "conv_window.h"
#include "lowbit_codes.h"

/* Input channels unpacked and output channels accumulated together (stack: 2 and 4 bytes each). */
#define DW_LOWBIT_BLOCK 32

void depthwise_conv2d_lowbit(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input,
                             const int8_t *filter, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             uint8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t out_c = p->out_c;
    const int32_t dm = p->depth_multiplier;
    const int32_t in_bytes = lowbit_pixel_bytes(in_c, p->in_bits);
    const int32_t out_bytes = lowbit_pixel_bytes(out_c, p->out_bits);
    const int32_t level_bias = lowbit_level_bias(p->in_bits, p->in_m_lo, p->input_offset);
    const int32_t k = lowbit_level_shift(p->in_bits, p->in_shift);
    int32_t acc[DW_LOWBIT_BLOCK];
    int16_t lv[DW_LOWBIT_BLOCK];

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            for (int32_t i = 0; i < out_bytes; ++i) {
                out[i] = 0;
            }
            for (int32_t oc0 = 0; oc0 < out_c; oc0 += DW_LOWBIT_BLOCK) {
                const int32_t n = out_c - oc0 < DW_LOWBIT_BLOCK ? out_c - oc0 : DW_LOWBIT_BLOCK;
                /* Input channels [ic0, ic1] feed the block's output channels. */
                const int32_t ic0 = oc0 / dm;
                const int32_t ic_n = (oc0 + n - 1) / dm - ic0 + 1;
                for (int32_t j = 0; j < n; ++j) {
                    acc[j] = 0;
                }
                /* Taps outside the input are skipped: they are level 0. */
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        lowbit_levels(input + (iy * p->in_w + ix) * in_bytes, ic0, ic_n, p->in_bits, level_bias, lv);
                        const int8_t *w = filter + (ky * p->kernel_w + kx) * out_c + oc0;
                        if (dm == 1) {
                            for (int32_t j = 0; j < n; ++j) {
                                acc[j] += (int32_t)lv[j] * (int32_t)w[j];
                            }
                        } else {
                            for (int32_t j = 0; j < n; ++j) {
                                acc[j] += (int32_t)lv[(oc0 + j) / dm - ic0] * (int32_t)w[j];
                            }
                        }
                    }
                }
                for (int32_t j = 0; j < n; ++j) {
                    const int32_t oc = oc0 + j;
                    int32_t r = lowbit_scaled_acc(acc[j], k, bias[oc]);
                    r = multiply_by_quantized_multiplier(r, mult[oc], shift[oc]) + p->output_offset;
                    lowbit_store(out, oc, clamp_s32(r, p->act_min, p->act_max), p->out_bits, p->output_offset,
                                 p->out_shift, p->out_m_lo, p->out_m_hi);
                }
            }
        }
    }
}
