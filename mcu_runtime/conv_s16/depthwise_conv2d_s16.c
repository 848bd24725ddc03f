#include "depthwise_conv2d_s16.h"

#include "fixedpoint_s64.h"

void depthwise_conv2d_s16(const depthwise_conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                          const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t ic = oc / p->depth_multiplier;
                int64_t acc = 0;
                for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
                    const int32_t iy = y0 + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
                        const int32_t ix = x0 + kx * p->dilation_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int32_t v = input[(iy * p->in_w + ix) * p->in_c + ic];
                        acc += v * (int32_t)filter[(ky * p->kernel_w + kx) * p->out_c + oc];
                    }
                }
                const int32_t y = multiply_by_quantized_multiplier_s64(acc + bias[oc], mult[oc], shift[oc]);
                *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}
