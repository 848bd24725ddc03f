#include "signal_fft.h"

#define SAMP_MAX 32767

void signal_fft_auto_scale_s16(const signal_fft_auto_scale_params_t *p, const int16_t *input, int16_t *output,
                               int32_t *scale_bits) {
    /* The largest magnitude as an int16: a -32768 makes it -32768 (the negation wraps), as in TFLM. */
    int16_t max = 0;
    for (int32_t i = 0; i < p->size; ++i) {
        const int16_t v = input[i];
        if (v > max) {
            max = v;
        } else if (-v > max) {
            max = (int16_t)(-v);
        }
    }
    const uint32_t bits_of = (uint32_t)(int32_t)max;
    int32_t msb = 32;
    if (bits_of != 0u) {
        msb = 0;
        for (uint32_t v = bits_of; v != 0u; v >>= 1) ++msb;
    }
    int32_t shift = 15 - msb;
    if (shift < 0) shift = 0;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int16_t)((int32_t)input[i] * (1 << shift));
    }
    *scale_bits = shift;
}

static inline int16_t sround(int32_t v) { return (int16_t)((v + (1 << 14)) >> 15); }

/* x / k in kissfft's fixed point: x * (32767 / k), rounded. */
static inline int16_t fixdiv(int16_t x, int32_t k) { return sround((int32_t)x * (SAMP_MAX / k)); }

static inline void cmul(int16_t ar, int16_t ai, int16_t br, int16_t bi, int16_t *mr, int16_t *mi) {
    *mr = sround((int32_t)ar * br - (int32_t)ai * bi);
    *mi = sround((int32_t)ar * bi + (int32_t)ai * br);
}

/* A radix-2 stage on one block: c holds [2][m] complex values as [re, im] pairs. */
static void butterfly2(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw) {
    for (int32_t k = 0; k < m; ++k) {
        int16_t *a = c + 2 * k;
        int16_t *b = c + 2 * (k + m);
        const int16_t ar = fixdiv(a[0], 2), ai = fixdiv(a[1], 2);
        int16_t tr, ti;
        cmul(fixdiv(b[0], 2), fixdiv(b[1], 2), tw[2 * k * fstride], tw[2 * k * fstride + 1], &tr, &ti);
        b[0] = (int16_t)(ar - tr);
        b[1] = (int16_t)(ai - ti);
        a[0] = (int16_t)(ar + tr);
        a[1] = (int16_t)(ai + ti);
    }
}

/* A radix-4 stage on one block: c holds [4][m] complex values; `inverse` swaps the roles of +i and -i. */
static void butterfly4(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw, int32_t inverse) {
    for (int32_t k = 0; k < m; ++k) {
        int16_t *f0 = c + 2 * k;
        int16_t *f1 = c + 2 * (k + m);
        int16_t *f2 = c + 2 * (k + 2 * m);
        int16_t *f3 = c + 2 * (k + 3 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1, t3 = 3 * t1;
        const int16_t x0r = fixdiv(f0[0], 4), x0i = fixdiv(f0[1], 4);
        int16_t s0r, s0i, s1r, s1i, s2r, s2i;
        cmul(fixdiv(f1[0], 4), fixdiv(f1[1], 4), tw[t1], tw[t1 + 1], &s0r, &s0i);
        cmul(fixdiv(f2[0], 4), fixdiv(f2[1], 4), tw[t2], tw[t2 + 1], &s1r, &s1i);
        cmul(fixdiv(f3[0], 4), fixdiv(f3[1], 4), tw[t3], tw[t3 + 1], &s2r, &s2i);
        const int16_t s5r = (int16_t)(x0r - s1r), s5i = (int16_t)(x0i - s1i);
        const int16_t a0r = (int16_t)(x0r + s1r), a0i = (int16_t)(x0i + s1i);
        const int16_t s3r = (int16_t)(s0r + s2r), s3i = (int16_t)(s0i + s2i);
        const int16_t s4r = (int16_t)(s0r - s2r), s4i = (int16_t)(s0i - s2i);
        f2[0] = (int16_t)(a0r - s3r);
        f2[1] = (int16_t)(a0i - s3i);
        f0[0] = (int16_t)(a0r + s3r);
        f0[1] = (int16_t)(a0i + s3i);
        if (inverse) {
            f1[0] = (int16_t)(s5r - s4i);
            f1[1] = (int16_t)(s5i + s4r);
            f3[0] = (int16_t)(s5r + s4i);
            f3[1] = (int16_t)(s5i - s4r);
        } else {
            f1[0] = (int16_t)(s5r + s4i);
            f1[1] = (int16_t)(s5i - s4r);
            f3[0] = (int16_t)(s5r - s4i);
            f3[1] = (int16_t)(s5i + s4r);
        }
    }
}

/* The complex FFT of n points already in decimation-in-time order, in place: innermost stage first; stage s
 * works on `fstride` blocks of radix * m points. */
static void complex_fft(int16_t *y, int32_t n, int32_t stages, const int32_t *factors, const int16_t *twiddles,
                        int32_t inverse) {
    int32_t fstride = n;
    for (int32_t s = stages - 1; s >= 0; --s) {
        const int32_t radix = factors[2 * s], m = factors[2 * s + 1];
        fstride /= radix;
        for (int32_t b = 0; b < fstride; ++b) {
            int16_t *block = y + 2 * b * radix * m;
            if (radix == 4) {
                butterfly4(block, m, fstride, twiddles, inverse);
            } else {
                butterfly2(block, m, fstride, twiddles);
            }
        }
    }
}

void signal_rfft_s16(const signal_rfft_params_t *p, const int16_t *input, const int32_t *factors,
                     const int16_t *twiddles, const int16_t *split_twiddles, const int16_t *perm, int16_t *output) {
    const int32_t ncfft = p->fft_length / 2;
    for (int32_t row = 0; row < p->rows; ++row) {
        const int16_t *x = input + row * p->input_length;
        int16_t *y = output + row * p->output_length;
        /* The complex points in decimation-in-time order, read from the zero-padded row. */
        for (int32_t o = 0; o < ncfft; ++o) {
            const int32_t at = 2 * (int32_t)perm[o];
            y[2 * o] = at < p->input_length ? x[at] : 0;
            y[2 * o + 1] = at + 1 < p->input_length ? x[at + 1] : 0;
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0;
        complex_fft(y, ncfft, p->stages, factors, twiddles, 0);
        /* The split into the bins of the real spectrum, in place: step k reads and writes k and ncfft - k. */
        const int16_t dcr = fixdiv(y[0], 2), dci = fixdiv(y[1], 2);
        y[0] = (int16_t)(dcr + dci);
        y[1] = 0;
        y[2 * ncfft] = (int16_t)(dcr - dci);
        y[2 * ncfft + 1] = 0;
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const int16_t fr = fixdiv(y[2 * k], 2), fi = fixdiv(y[2 * k + 1], 2);
            const int16_t gr = fixdiv(y[2 * j], 2), gi = fixdiv((int16_t)(-y[2 * j + 1]), 2);
            const int16_t sr = (int16_t)(fr + gr), si = (int16_t)(fi + gi);
            const int16_t dr = (int16_t)(fr - gr), di = (int16_t)(fi - gi);
            int16_t tr, ti;
            cmul(dr, di, split_twiddles[2 * (k - 1)], split_twiddles[2 * (k - 1) + 1], &tr, &ti);
            y[2 * k] = (int16_t)(((int32_t)sr + tr) >> 1);
            y[2 * k + 1] = (int16_t)(((int32_t)si + ti) >> 1);
            y[2 * j] = (int16_t)(((int32_t)sr - tr) >> 1);
            y[2 * j + 1] = (int16_t)(((int32_t)ti - si) >> 1);
        }
    }
}

void signal_irfft_s16(const signal_irfft_params_t *p, const int16_t *input, const int32_t *factors,
                      const int16_t *twiddles, const int16_t *split_twiddles, const int16_t *inverse_perm,
                      int16_t *output) {
    const int32_t ncfft = p->fft_length / 2;
    for (int32_t row = 0; row < p->rows; ++row) {
        const int16_t *x = input + row * p->input_length;
        int16_t *y = output + row * p->output_length;
        /* The bins merged into ncfft complex points, each stored straight at its decimation-in-time place. */
        int16_t *t0 = y + 2 * inverse_perm[0];
        t0[0] = fixdiv((int16_t)(x[0] + x[2 * ncfft]), 2);
        t0[1] = fixdiv((int16_t)(x[0] - x[2 * ncfft]), 2);
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const int16_t fr = fixdiv(x[2 * k], 2), fi = fixdiv(x[2 * k + 1], 2);
            const int16_t gr = fixdiv(x[2 * j], 2), gi = fixdiv((int16_t)(-x[2 * j + 1]), 2);
            const int16_t er = (int16_t)(fr + gr), ei = (int16_t)(fi + gi);
            const int16_t dr = (int16_t)(fr - gr), di = (int16_t)(fi - gi);
            int16_t okr, oki;
            cmul(dr, di, split_twiddles[2 * (k - 1)], split_twiddles[2 * (k - 1) + 1], &okr, &oki);
            int16_t *tk = y + 2 * inverse_perm[k];
            int16_t *tj = y + 2 * inverse_perm[j];
            tk[0] = (int16_t)(er + okr);
            tk[1] = (int16_t)(ei + oki);
            tj[0] = (int16_t)(er - okr);
            tj[1] = (int16_t)(-(int16_t)(ei - oki));
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0;
        complex_fft(y, ncfft, p->stages, factors, twiddles, 1);
    }
}
