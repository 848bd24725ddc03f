#include "depthwise_conv2d_s16_dsp.h"

#include "dsp_intrinsics.h"
#include "fixedpoint_s64.h"

/* Halfword multiply-accumulates (SMLAxy: acc + one int16 half of a times one of b), private to this kernel.
 * The sums never wrap here: a partial sum holds at most DW16_DSP_MAX_TAPS products. */
#if MCU_HAS_DSP
DSP_INLINE int32_t dw16_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb((int32_t)a, (int32_t)b, acc); }
DSP_INLINE int32_t dw16_smlabt(uint32_t a, uint32_t b, int32_t acc) { return __smlabt((int32_t)a, (int32_t)b, acc); }
DSP_INLINE int32_t dw16_smlatb(uint32_t a, uint32_t b, int32_t acc) { return __smlatb((int32_t)a, (int32_t)b, acc); }
DSP_INLINE int32_t dw16_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt((int32_t)a, (int32_t)b, acc); }
#else
DSP_INLINE int32_t dw16_lo(uint32_t x) { return (int16_t)(uint16_t)(x & 0xFFFFu); }
DSP_INLINE int32_t dw16_hi(uint32_t x) { return (int16_t)(uint16_t)(x >> 16); }
DSP_INLINE int32_t dw16_smlabb(uint32_t a, uint32_t b, int32_t acc) { return acc + dw16_lo(a) * dw16_lo(b); }
DSP_INLINE int32_t dw16_smlabt(uint32_t a, uint32_t b, int32_t acc) { return acc + dw16_lo(a) * dw16_hi(b); }
DSP_INLINE int32_t dw16_smlatb(uint32_t a, uint32_t b, int32_t acc) { return acc + dw16_hi(a) * dw16_lo(b); }
DSP_INLINE int32_t dw16_smlatt(uint32_t a, uint32_t b, int32_t acc) { return acc + dw16_hi(a) * dw16_hi(b); }
#endif

/* The taps of one output pixel that land inside the input: rows [ky0, ky1), columns [kx0, kx1), and the input
 * element (pixel times in_c) of the first of them. Found once per pixel, so the channel loops test no bounds. */
typedef struct {
    int32_t ky0, ky1, kx0, kx1;
    int32_t first;
} dw16_taps_t;

/* First k in [0, n) with 0 <= start + k * step, and one past the last with start + k * step < size. */
static void dw16_range(int32_t start, int32_t step, int32_t n, int32_t size, int32_t *lo, int32_t *hi)
{
    const int32_t k0 = start < 0 ? (-start + step - 1) / step : 0;
    int32_t k1 = size > start ? (size - start + step - 1) / step : 0;
    k1 = k1 < n ? k1 : n;
    *lo = k0;
    *hi = k1 > k0 ? k1 : k0;
}

/* Partial sums of output channels oc..oc+3 (weights from w, input channel ic) over the taps of t, added to
 * acc[0..3] after every DW16_DSP_MAX_TAPS taps at most, so the int32 sums are exact. SXTB16 of a weight word
 * stored {w0, w2, w1, w3} gives the int16 pair {w0, w1}, rotated by 8 {w2, w3}. `form` is the depth
 * multiplier's, a constant once inlined: 1 reads two input words {x0, x1}, {x2, x3}; 2 one word {x0, x1} for
 * channels {0, 0, 1, 1}; 4 (any multiple of 4) one halfword for all four. */
DSP_INLINE void dw16_sum4(const depthwise_conv2d_s8_params_t *p, const dw16_taps_t *t, const int16_t *input,
                          int32_t ic, const int8_t *w, int32_t form, int64_t *acc)
{
    const int32_t in_row = p->dilation_h * p->in_w * p->in_c;
    const int32_t in_col = p->dilation_w * p->in_c;
    const int32_t rows_per_sum = DW16_DSP_MAX_TAPS / p->kernel_w;
    const int32_t w_row = (t->ky0 * p->kernel_w + t->kx0) * p->out_c;
    for (int32_t ky = t->ky0; ky < t->ky1; ky += rows_per_sum) {
        const int32_t ky_end = ky + rows_per_sum < t->ky1 ? ky + rows_per_sum : t->ky1;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int32_t r = ky; r < ky_end; ++r) {
            const int16_t *x = input + t->first + (r - t->ky0) * in_row + ic;
            const int8_t *wk = w + w_row + (r - t->ky0) * p->kernel_w * p->out_c;
            for (int32_t kx = t->kx0; kx < t->kx1; ++kx, x += in_col, wk += p->out_c) {
                const uint32_t wq = dsp_load_s8x4(wk);
                const uint32_t w01 = dsp_sxtb16(wq);
                const uint32_t w23 = dsp_sxtb16_ror8(wq);
                if (form == 1) {
                    const uint32_t x01 = dsp_load_s16x2(x);
                    const uint32_t x23 = dsp_load_s16x2(x + 2);
                    s0 = dw16_smlabb(x01, w01, s0);
                    s1 = dw16_smlatt(x01, w01, s1);
                    s2 = dw16_smlabb(x23, w23, s2);
                    s3 = dw16_smlatt(x23, w23, s3);
                } else if (form == 2) {
                    const uint32_t x01 = dsp_load_s16x2(x);
                    s0 = dw16_smlabb(x01, w01, s0);
                    s1 = dw16_smlabt(x01, w01, s1);
                    s2 = dw16_smlatb(x01, w23, s2);
                    s3 = dw16_smlatt(x01, w23, s3);
                } else {
                    const uint32_t x0 = (uint16_t)*x; /* SMLABx reads the bottom half only */
                    s0 = dw16_smlabb(x0, w01, s0);
                    s1 = dw16_smlabt(x0, w01, s1);
                    s2 = dw16_smlabb(x0, w23, s2);
                    s3 = dw16_smlabt(x0, w23, s3);
                }
            }
        }
        acc[0] += s0;
        acc[1] += s1;
        acc[2] += s2;
        acc[3] += s3;
    }
}

/* One output channel as the portable kernel sums it (the out_c % 4 channels at the end keep their order). */
static int64_t dw16_sum1(const depthwise_conv2d_s8_params_t *p, const dw16_taps_t *t, const int16_t *input,
                         int32_t ic, const int8_t *w)
{
    int64_t acc = 0;
    for (int32_t ky = t->ky0; ky < t->ky1; ++ky) {
        for (int32_t kx = t->kx0; kx < t->kx1; ++kx) {
            const int32_t at = ((ky - t->ky0) * p->dilation_h * p->in_w + (kx - t->kx0) * p->dilation_w) * p->in_c;
            acc += (int32_t)input[t->first + at + ic] * (int32_t)w[(ky * p->kernel_w + kx) * p->out_c];
        }
    }
    return acc;
}

DSP_INLINE void dw16_pixel(const depthwise_conv2d_s8_params_t *p, const dw16_taps_t *t, const int16_t *input,
                           const int8_t *filter, const int64_t *bias, const int32_t *mult, const int32_t *shift,
                           int32_t form, int16_t *out)
{
    const int32_t full = p->out_c & ~3;
    for (int32_t oc = 0; oc < full; oc += 4) {
        int64_t acc[4] = {bias[oc], bias[oc + 1], bias[oc + 2], bias[oc + 3]};
        dw16_sum4(p, t, input, oc / p->depth_multiplier, filter + oc, form, acc);
        for (int32_t k = 0; k < 4; ++k) {
            const int32_t y = multiply_by_quantized_multiplier_s64(acc[k], mult[oc + k], shift[oc + k]);
            out[oc + k] = (int16_t)clamp_s32(y, p->act_min, p->act_max);
        }
    }
    for (int32_t oc = full; oc < p->out_c; ++oc) {
        const int64_t acc = dw16_sum1(p, t, input, oc / p->depth_multiplier, filter + oc) + bias[oc];
        const int32_t y = multiply_by_quantized_multiplier_s64(acc, mult[oc], shift[oc]);
        out[oc] = (int16_t)clamp_s32(y, p->act_min, p->act_max);
    }
}

void depthwise_conv2d_s16_dsp(const depthwise_conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                              const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    /* The specializer takes depth multipliers 1, 2 and multiples of 4 only. */
    const int32_t form = p->depth_multiplier < 4 ? p->depth_multiplier : 4;
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            dw16_taps_t t;
            dw16_range(y0, p->dilation_h, p->kernel_h, p->in_h, &t.ky0, &t.ky1);
            dw16_range(x0, p->dilation_w, p->kernel_w, p->in_w, &t.kx0, &t.kx1);
            if (t.kx0 == t.kx1) {
                t.ky1 = t.ky0; /* no column inside: no tap (and no first tap to point at) */
            }
            t.first = ((y0 + t.ky0 * p->dilation_h) * p->in_w + x0 + t.kx0 * p->dilation_w) * p->in_c;
            if (form == 1) {
                dw16_pixel(p, &t, input, filter, bias, mult, shift, 1, out);
            } else if (form == 2) {
                dw16_pixel(p, &t, input, filter, bias, mult, shift, 2, out);
            } else {
                dw16_pixel(p, &t, input, filter, bias, mult, shift, 4, out);
            }
            out += p->out_c;
        }
    }
}
