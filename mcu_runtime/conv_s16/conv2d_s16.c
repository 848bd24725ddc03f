#include "conv2d_s16.h"

#include "fixedpoint_s64.h"

/* Sum of filter * input over the taps of output (oy, ox, oc) that fall inside the input. Each product is at
 * most 2^22 in magnitude; the int64 sum compiles to multiply-accumulate-long instructions. */
static int64_t dot_s16(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, int32_t oy,
                       int32_t ox, int32_t oc)
{
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    const int32_t x0 = ox * p->stride_w - p->pad_w;
    /* Filter columns [kx0, kx1) land inside the input when the dilation is 1: one contiguous run per row. */
    const int32_t kx0 = x0 < 0 ? -x0 : 0;
    const int32_t kx1 = p->in_w - x0 < p->kernel_w ? p->in_w - x0 : p->kernel_w;
    int64_t acc = 0;
    for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = y0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        const int8_t *w_row = filter + (oc * p->kernel_h + ky) * p->kernel_w * p->in_c;
        if (p->dilation_w == 1) {
            if (kx1 <= kx0) {
                continue;
            }
            const int16_t *in = input + (iy * p->in_w + x0 + kx0) * p->in_c;
            const int8_t *w = w_row + kx0 * p->in_c;
            const int32_t n = (kx1 - kx0) * p->in_c;
            for (int32_t i = 0; i < n; ++i) {
                acc += (int32_t)in[i] * (int32_t)w[i];
            }
            continue;
        }
        for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = x0 + kx * p->dilation_w;
            if (ix < 0 || ix >= p->in_w) {
                continue;
            }
            const int16_t *in = input + (iy * p->in_w + ix) * p->in_c;
            const int8_t *w = w_row + kx * p->in_c;
            for (int32_t c = 0; c < p->in_c; ++c) {
                acc += (int32_t)in[c] * (int32_t)w[c];
            }
        }
    }
    return acc;
}

void conv2d_s16(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int64_t acc = dot_s16(p, input, filter, oy, ox, oc) + bias[oc];
                const int32_t y = multiply_by_quantized_multiplier_s64(acc, mult[oc], shift[oc]);
                *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}

void conv2d_s16_b32(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                /* TFLite's int32 accumulator: wrap modulo 2^32 (through uint32, without undefined behaviour). */
                const uint32_t sum = (uint32_t)dot_s16(p, input, filter, oy, ox, oc) + (uint32_t)bias[oc];
                const int32_t y = multiply_by_quantized_multiplier((int32_t)sum, mult[oc], shift[oc]);
                *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
            }
        }
    }
}
