#include "conv2d_s16_dsp.h"

#include "dot_s16_dsp.h"
#include "fixedpoint_s64.h"

/* Sums of filter * input over the taps of output pixel (oy, ox) inside the input, for output channel oc and,
 * when `pair`, oc + 1 too (each input word loaded once for both), added to acc[0] (and acc[1]). Each filter
 * tap's in_c weights are re-laid out in groups of four; with whole groups per tap and dilation 1, a row's
 * taps are one contiguous run of input and of weights, else each tap is a run of its own. */
static void conv_dot(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, int32_t oy,
                     int32_t ox, int32_t oc, int32_t pair, int64_t *acc)
{
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    const int32_t x0 = ox * p->stride_w - p->pad_w;
    const int32_t whole_runs = p->dilation_w == 1 && (p->in_c & 3) == 0;
    const int32_t filter_size = p->kernel_h * p->kernel_w * p->in_c;
    const int32_t kx0 = whole_runs && x0 < 0 ? -x0 : 0;
    const int32_t kx1 = whole_runs && p->in_w - x0 < p->kernel_w ? p->in_w - x0 : p->kernel_w;
    for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = y0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        const int8_t *w_row = filter + (oc * p->kernel_h + ky) * p->kernel_w * p->in_c;
        if (whole_runs) {
            if (kx1 > kx0) {
                const int16_t *in = input + (iy * p->in_w + x0 + kx0) * p->in_c;
                const int8_t *w = w_row + kx0 * p->in_c;
                const int32_t n = (kx1 - kx0) * p->in_c;
                if (pair) {
                    dot2_s16_dsp(in, w, w + filter_size, n, &acc[0], &acc[1]);
                } else {
                    acc[0] = dot_s16_dsp(in, w, n, acc[0]);
                }
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
            if (pair) {
                dot2_s16_dsp(in, w, w + filter_size, p->in_c, &acc[0], &acc[1]);
            } else {
                acc[0] = dot_s16_dsp(in, w, p->in_c, acc[0]);
            }
        }
    }
}

void conv2d_s16_dsp(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                    const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                const int32_t pair = oc + 1 < p->out_c;
                int64_t acc[2] = {bias[oc], pair ? bias[oc + 1] : 0};
                conv_dot(p, input, filter, oy, ox, oc, pair, acc);
                for (int32_t k = 0; k <= pair; ++k) {
                    const int32_t y = multiply_by_quantized_multiplier_s64(acc[k], mult[oc + k], shift[oc + k]);
                    *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
                }
            }
        }
    }
}

void conv2d_s16_b32_dsp(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                const int32_t pair = oc + 1 < p->out_c;
                int64_t acc[2] = {0, 0};
                conv_dot(p, input, filter, oy, ox, oc, pair, acc);
                for (int32_t k = 0; k <= pair; ++k) {
                    /* TFLite's int32 accumulator: wrap modulo 2^32 (through uint32, without undefined behaviour). */
                    const uint32_t sum = (uint32_t)acc[k] + (uint32_t)bias[oc + k];
                    const int32_t y = multiply_by_quantized_multiplier((int32_t)sum, mult[oc + k], shift[oc + k]);
                    *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
                }
            }
        }
    }
}
