#include "transpose_conv.h"

#include "fixedpoint_s64.h"

/* Input rows iy (and filter rows ky) that reach output row o: iy * stride - pad + ky == o. The first such ky
 * is (o + pad) mod stride; every stride-th one after it also reaches, with iy one smaller each time. */
static inline int32_t first_tap(int32_t o, int32_t pad, int32_t stride)
{
    return (o + pad) % stride;
}

void transpose_conv_s8(const transpose_conv_params_t *p, const int8_t *input, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                uint32_t acc = 0; /* TFLite's int32 sum, wrapping without undefined behaviour */
                for (int32_t ky = first_tap(oy, p->pad_h, p->stride_h); ky < p->kernel_h; ky += p->stride_h) {
                    const int32_t iy = (oy + p->pad_h - ky) / p->stride_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = first_tap(ox, p->pad_w, p->stride_w); kx < p->kernel_w; kx += p->stride_w) {
                        const int32_t ix = (ox + p->pad_w - kx) / p->stride_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int8_t *in = input + (iy * p->in_w + ix) * p->in_c;
                        const int8_t *w = filter + ((oc * p->kernel_h + ky) * p->kernel_w + kx) * p->in_c;
                        for (int32_t c = 0; c < p->in_c; ++c) {
                            acc += (uint32_t)(((int32_t)in[c] + p->input_offset) * (int32_t)w[c]);
                        }
                    }
                }
                acc += (uint32_t)bias[oc];
                const int32_t y = multiply_by_quantized_multiplier((int32_t)acc, mult[oc], shift[oc]) + p->output_offset;
                *out++ = (int8_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}

void transpose_conv_s16(const transpose_conv_params_t *p, const int16_t *input, const int8_t *filter,
                        const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                int64_t acc = 0;
                for (int32_t ky = first_tap(oy, p->pad_h, p->stride_h); ky < p->kernel_h; ky += p->stride_h) {
                    const int32_t iy = (oy + p->pad_h - ky) / p->stride_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = first_tap(ox, p->pad_w, p->stride_w); kx < p->kernel_w; kx += p->stride_w) {
                        const int32_t ix = (ox + p->pad_w - kx) / p->stride_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int16_t *in = input + (iy * p->in_w + ix) * p->in_c;
                        const int8_t *w = filter + ((oc * p->kernel_h + ky) * p->kernel_w + kx) * p->in_c;
                        for (int32_t c = 0; c < p->in_c; ++c) {
                            acc += (int32_t)in[c] * (int32_t)w[c]; /* each product < 2^22: SMLAL */
                        }
                    }
                }
                const int32_t y = multiply_by_quantized_multiplier_s64(acc + bias[oc], mult[oc], shift[oc]);
                *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}
