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

/* Strides (in elements) and the spill interval, fixed for the call. */
typedef struct {
    int32_t in_row, in_col;   /* input: next kernel row, next kernel column */
    int32_t w_row;            /* filter: next kernel row (a column is out_c) */
    int32_t rows_per_sum;     /* kernel rows whose taps an int32 partial sum holds exactly */
} dw16_geom_t;

/* The taps of one output pixel that land inside the input: `rows` x `cols` of them from kernel position
 * (ky0, kx0), whose input pixel starts at element `first` and whose weights at `w_first`. Found once per
 * pixel: the channel loops test no bounds. */
typedef struct {
    int32_t rows, cols, first, w_first;
} dw16_taps_t;

/* First k in [0, n) with 0 <= start + k * step, and the count of k from there with start + k * step < size. */
static int32_t dw16_range(int32_t start, int32_t step, int32_t n, int32_t size, int32_t *count)
{
    const int32_t k0 = start < 0 ? (-start + step - 1) / step : 0;
    int32_t k1 = size > start ? (size - start + step - 1) / step : 0;
    k1 = k1 < n ? k1 : n;
    *count = k1 > k0 ? k1 - k0 : 0;
    return k0;
}

/* Sums s[0..3] of output channels oc..oc+3 over kernel rows [r0, r1) of the taps of t (weights from w, input
 * channel from x, both at the pixel's first tap), in int32: exact for at most DW16_DSP_MAX_TAPS taps.
 * SXTB16 of a weight word stored {w0, w2, w1, w3} gives the int16 pair {w0, w1}, rotated by 8 {w2, w3}.
 * `form` is the depth multiplier's, a constant once inlined: 1 reads two input words {x0, x1}, {x2, x3};
 * 2 one word {x0, x1} for channels {0, 0, 1, 1}; 4 (any multiple of 4) one halfword for all four. */
DSP_INLINE void dw16_sum4(const dw16_geom_t *g, int32_t out_c, const dw16_taps_t *t, int32_t r0, int32_t r1,
                          const int16_t *x, const int8_t *w, int32_t form, int32_t *s)
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    x += r0 * g->in_row;
    w += r0 * g->w_row;
    for (int32_t r = r0; r < r1; ++r, x += g->in_row, w += g->w_row) {
        const int16_t *xk = x;
        const int8_t *wk = w;
        for (int32_t c = 0; c < t->cols; ++c, xk += g->in_col, wk += out_c) {
            const uint32_t wq = dsp_load_s8x4(wk);
            const uint32_t w01 = dsp_sxtb16(wq);
            const uint32_t w23 = dsp_sxtb16_ror8(wq);
            if (form == 1) {
                const uint32_t x01 = dsp_load_s16x2(xk);
                const uint32_t x23 = dsp_load_s16x2(xk + 2);
                s0 = dw16_smlabb(x01, w01, s0);
                s1 = dw16_smlatt(x01, w01, s1);
                s2 = dw16_smlabb(x23, w23, s2);
                s3 = dw16_smlatt(x23, w23, s3);
            } else if (form == 2) {
                const uint32_t x01 = dsp_load_s16x2(xk);
                s0 = dw16_smlabb(x01, w01, s0);
                s1 = dw16_smlabt(x01, w01, s1);
                s2 = dw16_smlatb(x01, w23, s2);
                s3 = dw16_smlatt(x01, w23, s3);
            } else {
                const uint32_t x0 = (uint16_t)*xk; /* SMLABx reads the bottom half only */
                s0 = dw16_smlabb(x0, w01, s0);
                s1 = dw16_smlabt(x0, w01, s1);
                s2 = dw16_smlabb(x0, w23, s2);
                s3 = dw16_smlabt(x0, w23, s3);
            }
        }
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* One output channel as the portable kernel sums it (the out_c % 4 channels at the end keep their order). */
static int64_t dw16_sum1(const dw16_geom_t *g, int32_t out_c, const dw16_taps_t *t, const int16_t *x,
                         const int8_t *w)
{
    int64_t acc = 0;
    for (int32_t r = 0; r < t->rows; ++r) {
        for (int32_t c = 0; c < t->cols; ++c) {
            acc += (int32_t)x[r * g->in_row + c * g->in_col] * (int32_t)w[r * g->w_row + c * out_c];
        }
    }
    return acc;
}

DSP_INLINE void dw16_pixel(const depthwise_conv2d_s8_params_t *p, const dw16_geom_t *g, const dw16_taps_t *t,
                           const int16_t *input, const int8_t *filter, const int64_t *bias, const int32_t *mult,
                           const int32_t *shift, int32_t form, int16_t *out)
{
    const int32_t full = p->out_c & ~3;
    const int16_t *x = input + t->first;
    const int8_t *w = filter + t->w_first;
    for (int32_t oc = 0; oc < full; oc += 4) {
        const int32_t ic = form == 1 ? oc : (form == 2 ? oc >> 1 : oc / p->depth_multiplier);
        /* One int32 partial sum per channel; a kernel of more than DW16_DSP_MAX_TAPS taps adds more. */
        const int32_t r1 = t->rows < g->rows_per_sum ? t->rows : g->rows_per_sum;
        int32_t s[4];
        dw16_sum4(g, p->out_c, t, 0, r1, x + ic, w + oc, form, s);
        int64_t acc[4] = {bias[oc] + s[0], bias[oc + 1] + s[1], bias[oc + 2] + s[2], bias[oc + 3] + s[3]};
        for (int32_t r0 = r1; r0 < t->rows; r0 += g->rows_per_sum) {
            const int32_t r_end = r0 + g->rows_per_sum < t->rows ? r0 + g->rows_per_sum : t->rows;
            dw16_sum4(g, p->out_c, t, r0, r_end, x + ic, w + oc, form, s);
            for (int32_t k = 0; k < 4; ++k) {
                acc[k] += s[k];
            }
        }
        for (int32_t k = 0; k < 4; ++k) {
            const int32_t y = multiply_by_quantized_multiplier_s64(acc[k], mult[oc + k], shift[oc + k]);
            out[oc + k] = (int16_t)clamp_s32(y, p->act_min, p->act_max);
        }
    }
    for (int32_t oc = full; oc < p->out_c; ++oc) {
        const int64_t acc = dw16_sum1(g, p->out_c, t, x + oc / p->depth_multiplier, w + oc) + bias[oc];
        const int32_t y = multiply_by_quantized_multiplier_s64(acc, mult[oc], shift[oc]);
        out[oc] = (int16_t)clamp_s32(y, p->act_min, p->act_max);
    }
}

void depthwise_conv2d_s16_dsp(const depthwise_conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                              const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    /* The specializer takes depth multipliers 1, 2 and multiples of 4 only. */
    const int32_t form = p->depth_multiplier < 4 ? p->depth_multiplier : 4;
    const dw16_geom_t g = {
        .in_row = p->dilation_h * p->in_w * p->in_c,
        .in_col = p->dilation_w * p->in_c,
        .w_row = p->kernel_w * p->out_c,
        .rows_per_sum = DW16_DSP_MAX_TAPS / p->kernel_w,
    };
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        dw16_taps_t t;
        const int32_t ky0 = dw16_range(y0, p->dilation_h, p->kernel_h, p->in_h, &t.rows);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t kx0 = dw16_range(x0, p->dilation_w, p->kernel_w, p->in_w, &t.cols);
            /* Offsets of the first tap inside (no tap when a count is 0: then never read). */
            t.first = t.rows && t.cols ? ((y0 + ky0 * p->dilation_h) * p->in_w + x0 + kx0 * p->dilation_w) * p->in_c
                                       : 0;
            t.w_first = t.rows && t.cols ? (ky0 * p->kernel_w + kx0) * p->out_c : 0;
            if (form == 1) {
                dw16_pixel(p, &g, &t, input, filter, bias, mult, shift, 1, out);
            } else if (form == 2) {
                dw16_pixel(p, &g, &t, input, filter, bias, mult, shift, 2, out);
            } else {
                dw16_pixel(p, &g, &t, input, filter, bias, mult, shift, 4, out);
            }
            out += p->out_c;
        }
    }
}
