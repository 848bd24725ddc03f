#include "conv2d_lowbit.h"

#include "lowbit_codes.h"

/* One output pixel's receptive field as int16 levels in filter (HWC) order; padding is level 0. Unpacking once
 * per pixel serves every output channel. */
static void conv_lowbit_gather(const conv2d_lowbit_params_t *p, const uint8_t *input, int32_t oy, int32_t ox,
                               int16_t *col)
{
    const int32_t in_c = p->in_c;
    const int32_t px_bytes = lowbit_pixel_bytes(in_c, p->in_bits);
    const int32_t bias = lowbit_level_bias(p->in_bits, p->in_m_lo, p->input_offset);
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                lowbit_levels(input + (iy * p->in_w + ix) * px_bytes, 0, in_c, p->in_bits, bias, col);
            } else {
                for (int32_t c = 0; c < in_c; ++c) {
                    col[c] = 0;
                }
            }
            col += in_c;
        }
    }
}

void conv2d_lowbit(const conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter, const int32_t *bias,
                   const int32_t *mult, const int32_t *shift, uint8_t *output, int8_t *scratch)
{
    int16_t *col = (int16_t *)(void *)scratch;
    const int32_t n = p->kernel_h * p->kernel_w * p->in_c;
    const int32_t out_bytes = lowbit_pixel_bytes(p->out_c, p->out_bits);
    const int32_t k = lowbit_level_shift(p->in_bits, p->in_shift);

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            conv_lowbit_gather(p, input, oy, ox, col);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            for (int32_t i = 0; i < out_bytes; ++i) {
                out[i] = 0;
            }
            const int8_t *w = filter;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (int32_t i = 0; i < n; ++i) {
                    acc += (int32_t)col[i] * (int32_t)w[i];
                }
                w += n;
                acc = lowbit_scaled_acc(acc, k, bias[oc]);
                acc = multiply_by_quantized_multiplier(acc, mult[oc], shift[oc]) + p->output_offset;
                lowbit_store(out, oc, clamp_s32(acc, p->act_min, p->act_max), p->out_bits, p->output_offset,
                             p->out_shift, p->out_m_lo, p->out_m_hi);
            }
        }
    }
}
