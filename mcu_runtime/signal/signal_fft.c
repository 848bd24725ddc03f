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
static void butterfly2_s16(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw) {
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
static void butterfly4_s16(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw, int32_t inverse) {
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

static inline int16_t smul(int16_t a, int16_t b) { return sround((int32_t)a * b); }

/* A radix-3 stage on one block (kf_bfly3): e3i is the imaginary part of the table's exp(-+2 pi i / 3). */
static void butterfly3_s16(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw) {
    const int16_t e3i = tw[2 * fstride * m + 1];
    for (int32_t k = 0; k < m; ++k) {
        int16_t *f0 = c + 2 * k, *f1 = c + 2 * (k + m), *f2 = c + 2 * (k + 2 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1;
        const int16_t x0r = fixdiv(f0[0], 3), x0i = fixdiv(f0[1], 3);
        int16_t s1r, s1i, s2r, s2i;
        cmul(fixdiv(f1[0], 3), fixdiv(f1[1], 3), tw[t1], tw[t1 + 1], &s1r, &s1i);
        cmul(fixdiv(f2[0], 3), fixdiv(f2[1], 3), tw[t2], tw[t2 + 1], &s2r, &s2i);
        const int16_t s3r = (int16_t)(s1r + s2r), s3i = (int16_t)(s1i + s2i);
        const int16_t s0r = smul((int16_t)(s1r - s2r), e3i), s0i = smul((int16_t)(s1i - s2i), e3i);
        const int16_t hr = (int16_t)(x0r - (s3r >> 1)), hi = (int16_t)(x0i - (s3i >> 1));
        f0[0] = (int16_t)(x0r + s3r);
        f0[1] = (int16_t)(x0i + s3i);
        f2[0] = (int16_t)(hr + s0i);
        f2[1] = (int16_t)(hi - s0r);
        f1[0] = (int16_t)(hr - s0i);
        f1[1] = (int16_t)(hi + s0r);
    }
}

/* A radix-5 stage on one block (kf_bfly5): ya, yb are the table's exp(-+2 pi i / 5) and exp(-+4 pi i / 5). */
static void butterfly5_s16(int16_t *c, int32_t m, int32_t fstride, const int16_t *tw) {
    const int16_t yar = tw[2 * fstride * m], yai = tw[2 * fstride * m + 1];
    const int16_t ybr = tw[4 * fstride * m], ybi = tw[4 * fstride * m + 1];
    for (int32_t u = 0; u < m; ++u) {
        int16_t *f[5];
        int16_t sr[5], si[5];
        for (int32_t q = 0; q < 5; ++q) f[q] = c + 2 * (u + q * m);
        const int16_t x0r = fixdiv(f[0][0], 5), x0i = fixdiv(f[0][1], 5);
        for (int32_t q = 1; q < 5; ++q) {
            const int32_t t = 2 * q * u * fstride;
            cmul(fixdiv(f[q][0], 5), fixdiv(f[q][1], 5), tw[t], tw[t + 1], &sr[q], &si[q]);
        }
        const int16_t s7r = (int16_t)(sr[1] + sr[4]), s7i = (int16_t)(si[1] + si[4]);
        const int16_t s10r = (int16_t)(sr[1] - sr[4]), s10i = (int16_t)(si[1] - si[4]);
        const int16_t s8r = (int16_t)(sr[2] + sr[3]), s8i = (int16_t)(si[2] + si[3]);
        const int16_t s9r = (int16_t)(sr[2] - sr[3]), s9i = (int16_t)(si[2] - si[3]);
        f[0][0] = (int16_t)(x0r + s7r + s8r);
        f[0][1] = (int16_t)(x0i + s7i + s8i);
        const int16_t s5r = (int16_t)(x0r + smul(s7r, yar) + smul(s8r, ybr));
        const int16_t s5i = (int16_t)(x0i + smul(s7i, yar) + smul(s8i, ybr));
        const int16_t s6r = (int16_t)(smul(s10i, yai) + smul(s9i, ybi));
        const int16_t s6i = (int16_t)(-smul(s10r, yai) - smul(s9r, ybi));
        f[1][0] = (int16_t)(s5r - s6r);
        f[1][1] = (int16_t)(s5i - s6i);
        f[4][0] = (int16_t)(s5r + s6r);
        f[4][1] = (int16_t)(s5i + s6i);
        const int16_t s11r = (int16_t)(x0r + smul(s7r, ybr) + smul(s8r, yar));
        const int16_t s11i = (int16_t)(x0i + smul(s7i, ybr) + smul(s8i, yar));
        const int16_t s12r = (int16_t)(-smul(s10i, ybi) + smul(s9i, yai));
        const int16_t s12i = (int16_t)(smul(s10r, ybi) - smul(s9r, yai));
        f[2][0] = (int16_t)(s11r + s12r);
        f[2][1] = (int16_t)(s11i + s12i);
        f[3][0] = (int16_t)(s11r - s12r);
        f[3][1] = (int16_t)(s11i - s12i);
    }
}

/* The complex FFT of n points already in decimation-in-time order, in place: innermost stage first; stage s
 * works on `fstride` blocks of radix * m points. The int32 and float transforms have the same driver over
 * butterflies of their own arithmetic (int16 and int32 divide by the radix and round in fixed point, float
 * does neither). The walk is not factored out of the three: a shared block iterator cost this int16 transform
 * 4.4% more instructions on the Cortex-M7, a shared stage helper 0.6% (register allocation). */
static void complex_fft_s16(int16_t *y, int32_t n, int32_t stages, const int32_t *factors,
                            const int16_t *twiddles, int32_t inverse) {
    int32_t fstride = n;
    for (int32_t s = stages - 1; s >= 0; --s) {
        const int32_t radix = factors[2 * s], m = factors[2 * s + 1];
        fstride /= radix;
        for (int32_t b = 0; b < fstride; ++b) {
            int16_t *block = y + 2 * b * radix * m;
            if (radix == 4) {
                butterfly4_s16(block, m, fstride, twiddles, inverse);
            } else if (radix == 2) {
                butterfly2_s16(block, m, fstride, twiddles);
            } else if (radix == 3) {
                butterfly3_s16(block, m, fstride, twiddles);
            } else {
                butterfly5_s16(block, m, fstride, twiddles);
            }
        }
    }
}

void signal_rfft_s16(const signal_real_fft_params_t *p, const int16_t *input, const int32_t *factors,
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
        complex_fft_s16(y, ncfft, p->stages, factors, twiddles, 0);
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

void signal_irfft_s16(const signal_real_fft_params_t *p, const int16_t *input, const int32_t *factors,
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
        complex_fft_s16(y, ncfft, p->stages, factors, twiddles, 1);
    }
}

/* ---- int32 (kissfft FIXED_POINT=32): 31 fraction bits, int64 products; sums wrap as two's complement ---- */

static inline int32_t add32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t sub32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t neg32(int32_t a) { return (int32_t)(0u - (uint32_t)a); }
static inline int32_t sround32(int64_t v) { return (int32_t)((v + ((int64_t)1 << 30)) >> 31); }
static inline int32_t fixdiv32(int32_t x, int32_t k) { return sround32((int64_t)x * (INT32_MAX / k)); }
/* HALF_OF(a + b): the sum in C int (which wraps), then an arithmetic shift. */
static inline int32_t half_sum32(int32_t a, int32_t b) { return add32(a, b) >> 1; }

static inline void cmul32(int32_t ar, int32_t ai, int32_t br, int32_t bi, int32_t *mr, int32_t *mi) {
    *mr = sround32((int64_t)ar * br - (int64_t)ai * bi);
    *mi = sround32((int64_t)ar * bi + (int64_t)ai * br);
}

static inline int32_t smul32(int32_t a, int32_t b) { return sround32((int64_t)a * b); }

static void butterfly3_s32(int32_t *c, int32_t m, int32_t fstride, const int32_t *tw) {
    const int32_t e3i = tw[2 * fstride * m + 1];
    for (int32_t k = 0; k < m; ++k) {
        int32_t *f0 = c + 2 * k, *f1 = c + 2 * (k + m), *f2 = c + 2 * (k + 2 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1;
        const int32_t x0r = fixdiv32(f0[0], 3), x0i = fixdiv32(f0[1], 3);
        int32_t s1r, s1i, s2r, s2i;
        cmul32(fixdiv32(f1[0], 3), fixdiv32(f1[1], 3), tw[t1], tw[t1 + 1], &s1r, &s1i);
        cmul32(fixdiv32(f2[0], 3), fixdiv32(f2[1], 3), tw[t2], tw[t2 + 1], &s2r, &s2i);
        const int32_t s3r = add32(s1r, s2r), s3i = add32(s1i, s2i);
        const int32_t s0r = smul32(sub32(s1r, s2r), e3i), s0i = smul32(sub32(s1i, s2i), e3i);
        const int32_t hr = sub32(x0r, s3r >> 1), hi = sub32(x0i, s3i >> 1);
        f0[0] = add32(x0r, s3r);
        f0[1] = add32(x0i, s3i);
        f2[0] = add32(hr, s0i);
        f2[1] = sub32(hi, s0r);
        f1[0] = sub32(hr, s0i);
        f1[1] = add32(hi, s0r);
    }
}

static void butterfly5_s32(int32_t *c, int32_t m, int32_t fstride, const int32_t *tw) {
    const int32_t yar = tw[2 * fstride * m], yai = tw[2 * fstride * m + 1];
    const int32_t ybr = tw[4 * fstride * m], ybi = tw[4 * fstride * m + 1];
    for (int32_t u = 0; u < m; ++u) {
        int32_t *f[5];
        int32_t sr[5], si[5];
        for (int32_t q = 0; q < 5; ++q) f[q] = c + 2 * (u + q * m);
        const int32_t x0r = fixdiv32(f[0][0], 5), x0i = fixdiv32(f[0][1], 5);
        for (int32_t q = 1; q < 5; ++q) {
            const int32_t t = 2 * q * u * fstride;
            cmul32(fixdiv32(f[q][0], 5), fixdiv32(f[q][1], 5), tw[t], tw[t + 1], &sr[q], &si[q]);
        }
        const int32_t s7r = add32(sr[1], sr[4]), s7i = add32(si[1], si[4]);
        const int32_t s10r = sub32(sr[1], sr[4]), s10i = sub32(si[1], si[4]);
        const int32_t s8r = add32(sr[2], sr[3]), s8i = add32(si[2], si[3]);
        const int32_t s9r = sub32(sr[2], sr[3]), s9i = sub32(si[2], si[3]);
        f[0][0] = add32(x0r, add32(s7r, s8r));
        f[0][1] = add32(x0i, add32(s7i, s8i));
        const int32_t s5r = add32(add32(x0r, smul32(s7r, yar)), smul32(s8r, ybr));
        const int32_t s5i = add32(add32(x0i, smul32(s7i, yar)), smul32(s8i, ybr));
        const int32_t s6r = add32(smul32(s10i, yai), smul32(s9i, ybi));
        const int32_t s6i = sub32(neg32(smul32(s10r, yai)), smul32(s9r, ybi));
        f[1][0] = sub32(s5r, s6r);
        f[1][1] = sub32(s5i, s6i);
        f[4][0] = add32(s5r, s6r);
        f[4][1] = add32(s5i, s6i);
        const int32_t s11r = add32(add32(x0r, smul32(s7r, ybr)), smul32(s8r, yar));
        const int32_t s11i = add32(add32(x0i, smul32(s7i, ybr)), smul32(s8i, yar));
        const int32_t s12r = add32(neg32(smul32(s10i, ybi)), smul32(s9i, yai));
        const int32_t s12i = sub32(smul32(s10r, ybi), smul32(s9r, yai));
        f[2][0] = add32(s11r, s12r);
        f[2][1] = add32(s11i, s12i);
        f[3][0] = sub32(s11r, s12r);
        f[3][1] = sub32(s11i, s12i);
    }
}

static void butterfly2_s32(int32_t *c, int32_t m, int32_t fstride, const int32_t *tw) {
    for (int32_t k = 0; k < m; ++k) {
        const int32_t t1 = 2 * k * fstride;
        int32_t *a = c + 2 * k, *d = c + 2 * (k + m);
        const int32_t ar = fixdiv32(a[0], 2), ai = fixdiv32(a[1], 2);
        int32_t tr, ti;
        cmul32(fixdiv32(d[0], 2), fixdiv32(d[1], 2), tw[t1], tw[t1 + 1], &tr, &ti);
        d[0] = sub32(ar, tr);
        d[1] = sub32(ai, ti);
        a[0] = add32(ar, tr);
        a[1] = add32(ai, ti);
    }
}

static void butterfly4_s32(int32_t *c, int32_t m, int32_t fstride, const int32_t *tw, int32_t inverse) {
    for (int32_t k = 0; k < m; ++k) {
        int32_t *f0 = c + 2 * k, *f1 = c + 2 * (k + m), *f2 = c + 2 * (k + 2 * m), *f3 = c + 2 * (k + 3 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1, t3 = 3 * t1;
        const int32_t x0r = fixdiv32(f0[0], 4), x0i = fixdiv32(f0[1], 4);
        int32_t s0r, s0i, s1r, s1i, s2r, s2i;
        cmul32(fixdiv32(f1[0], 4), fixdiv32(f1[1], 4), tw[t1], tw[t1 + 1], &s0r, &s0i);
        cmul32(fixdiv32(f2[0], 4), fixdiv32(f2[1], 4), tw[t2], tw[t2 + 1], &s1r, &s1i);
        cmul32(fixdiv32(f3[0], 4), fixdiv32(f3[1], 4), tw[t3], tw[t3 + 1], &s2r, &s2i);
        const int32_t s5r = sub32(x0r, s1r), s5i = sub32(x0i, s1i);
        const int32_t a0r = add32(x0r, s1r), a0i = add32(x0i, s1i);
        const int32_t s3r = add32(s0r, s2r), s3i = add32(s0i, s2i);
        const int32_t s4r = sub32(s0r, s2r), s4i = sub32(s0i, s2i);
        f2[0] = sub32(a0r, s3r);
        f2[1] = sub32(a0i, s3i);
        f0[0] = add32(a0r, s3r);
        f0[1] = add32(a0i, s3i);
        if (inverse) {
            f1[0] = sub32(s5r, s4i);
            f1[1] = add32(s5i, s4r);
            f3[0] = add32(s5r, s4i);
            f3[1] = sub32(s5i, s4r);
        } else {
            f1[0] = add32(s5r, s4i);
            f1[1] = sub32(s5i, s4r);
            f3[0] = sub32(s5r, s4i);
            f3[1] = add32(s5i, s4r);
        }
    }
}

static void complex_fft_s32(int32_t *y, int32_t n, int32_t stages, const int32_t *factors, const int32_t *tw,
                            int32_t inverse) {
    int32_t fstride = n;
    for (int32_t s = stages - 1; s >= 0; --s) {
        const int32_t radix = factors[2 * s], m = factors[2 * s + 1];
        fstride /= radix;
        for (int32_t b = 0; b < fstride; ++b) {
            int32_t *block = y + 2 * b * radix * m;
            if (radix == 4) {
                butterfly4_s32(block, m, fstride, tw, inverse);
            } else if (radix == 2) {
                butterfly2_s32(block, m, fstride, tw);
            } else if (radix == 3) {
                butterfly3_s32(block, m, fstride, tw);
            } else {
                butterfly5_s32(block, m, fstride, tw);
            }
        }
    }
}

void signal_rfft_s32(const signal_real_fft_params_t *p, const int32_t *input, const int32_t *factors,
                     const int32_t *twiddles, const int32_t *split_twiddles, const int16_t *perm, int32_t *output) {
    const int32_t ncfft = p->fft_length / 2;
    for (int32_t row = 0; row < p->rows; ++row) {
        const int32_t *x = input + row * p->input_length;
        int32_t *y = output + row * p->output_length;
        for (int32_t o = 0; o < ncfft; ++o) {
            const int32_t at = 2 * (int32_t)perm[o];
            y[2 * o] = at < p->input_length ? x[at] : 0;
            y[2 * o + 1] = at + 1 < p->input_length ? x[at + 1] : 0;
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0;
        complex_fft_s32(y, ncfft, p->stages, factors, twiddles, 0);
        const int32_t dcr = fixdiv32(y[0], 2), dci = fixdiv32(y[1], 2);
        y[0] = add32(dcr, dci);
        y[1] = 0;
        y[2 * ncfft] = sub32(dcr, dci);
        y[2 * ncfft + 1] = 0;
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const int32_t fr = fixdiv32(y[2 * k], 2), fi = fixdiv32(y[2 * k + 1], 2);
            const int32_t gr = fixdiv32(y[2 * j], 2), gi = fixdiv32(neg32(y[2 * j + 1]), 2);
            const int32_t sr = add32(fr, gr), si = add32(fi, gi);
            const int32_t dr = sub32(fr, gr), di = sub32(fi, gi);
            int32_t tr, ti;
            cmul32(dr, di, split_twiddles[2 * (k - 1)], split_twiddles[2 * (k - 1) + 1], &tr, &ti);
            y[2 * k] = half_sum32(sr, tr);
            y[2 * k + 1] = half_sum32(si, ti);
            y[2 * j] = half_sum32(sr, neg32(tr));
            y[2 * j + 1] = half_sum32(ti, neg32(si));
        }
    }
}

void signal_irfft_s32(const signal_real_fft_params_t *p, const int32_t *input, const int32_t *factors,
                      const int32_t *twiddles, const int32_t *split_twiddles, const int16_t *inverse_perm,
                      int32_t *output) {
    const int32_t ncfft = p->fft_length / 2;
    for (int32_t row = 0; row < p->rows; ++row) {
        const int32_t *x = input + row * p->input_length;
        int32_t *y = output + row * p->output_length;
        int32_t *t0 = y + 2 * inverse_perm[0];
        t0[0] = fixdiv32(add32(x[0], x[2 * ncfft]), 2);
        t0[1] = fixdiv32(sub32(x[0], x[2 * ncfft]), 2);
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const int32_t fr = fixdiv32(x[2 * k], 2), fi = fixdiv32(x[2 * k + 1], 2);
            const int32_t gr = fixdiv32(x[2 * j], 2), gi = fixdiv32(neg32(x[2 * j + 1]), 2);
            const int32_t er = add32(fr, gr), ei = add32(fi, gi);
            const int32_t dr = sub32(fr, gr), di = sub32(fi, gi);
            int32_t okr, oki;
            cmul32(dr, di, split_twiddles[2 * (k - 1)], split_twiddles[2 * (k - 1) + 1], &okr, &oki);
            int32_t *tk = y + 2 * inverse_perm[k];
            int32_t *tj = y + 2 * inverse_perm[j];
            tk[0] = add32(er, okr);
            tk[1] = add32(ei, oki);
            tj[0] = sub32(er, okr);
            tj[1] = neg32(sub32(ei, oki));
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0;
        complex_fft_s32(y, ncfft, p->stages, factors, twiddles, 1);
    }
}

/* ---- float32 (kissfft's float build): no division per stage; float rounding after every operation ---- */

static void butterfly3_f32(float *c, int32_t m, int32_t fstride, const float *tw) {
    const float e3i = tw[2 * fstride * m + 1];
    for (int32_t k = 0; k < m; ++k) {
        float *f0 = c + 2 * k, *f1 = c + 2 * (k + m), *f2 = c + 2 * (k + 2 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1;
        const float s1r = f1[0] * tw[t1] - f1[1] * tw[t1 + 1], s1i = f1[0] * tw[t1 + 1] + f1[1] * tw[t1];
        const float s2r = f2[0] * tw[t2] - f2[1] * tw[t2 + 1], s2i = f2[0] * tw[t2 + 1] + f2[1] * tw[t2];
        const float s3r = s1r + s2r, s3i = s1i + s2i;
        const float s0r = (s1r - s2r) * e3i, s0i = (s1i - s2i) * e3i;
        const float hr = f0[0] - s3r * 0.5f, hi = f0[1] - s3i * 0.5f;
        f0[0] = f0[0] + s3r;
        f0[1] = f0[1] + s3i;
        f2[0] = hr + s0i;
        f2[1] = hi - s0r;
        f1[0] = hr - s0i;
        f1[1] = hi + s0r;
    }
}

static void butterfly5_f32(float *c, int32_t m, int32_t fstride, const float *tw) {
    const float yar = tw[2 * fstride * m], yai = tw[2 * fstride * m + 1];
    const float ybr = tw[4 * fstride * m], ybi = tw[4 * fstride * m + 1];
    for (int32_t u = 0; u < m; ++u) {
        float *f[5];
        float sr[5], si[5];
        for (int32_t q = 0; q < 5; ++q) f[q] = c + 2 * (u + q * m);
        const float x0r = f[0][0], x0i = f[0][1];
        for (int32_t q = 1; q < 5; ++q) {
            const int32_t t = 2 * q * u * fstride;
            sr[q] = f[q][0] * tw[t] - f[q][1] * tw[t + 1];
            si[q] = f[q][0] * tw[t + 1] + f[q][1] * tw[t];
        }
        const float s7r = sr[1] + sr[4], s7i = si[1] + si[4];
        const float s10r = sr[1] - sr[4], s10i = si[1] - si[4];
        const float s8r = sr[2] + sr[3], s8i = si[2] + si[3];
        const float s9r = sr[2] - sr[3], s9i = si[2] - si[3];
        f[0][0] = x0r + (s7r + s8r);
        f[0][1] = x0i + (s7i + s8i);
        const float s5r = x0r + s7r * yar + s8r * ybr, s5i = x0i + s7i * yar + s8i * ybr;
        const float s6r = s10i * yai + s9i * ybi, s6i = -(s10r * yai) - s9r * ybi;
        f[1][0] = s5r - s6r;
        f[1][1] = s5i - s6i;
        f[4][0] = s5r + s6r;
        f[4][1] = s5i + s6i;
        const float s11r = x0r + s7r * ybr + s8r * yar, s11i = x0i + s7i * ybr + s8i * yar;
        const float s12r = -(s10i * ybi) + s9i * yai, s12i = s10r * ybi - s9r * yai;
        f[2][0] = s11r + s12r;
        f[2][1] = s11i + s12i;
        f[3][0] = s11r - s12r;
        f[3][1] = s11i - s12i;
    }
}

static void butterfly2_f32(float *c, int32_t m, int32_t fstride, const float *tw) {
    for (int32_t k = 0; k < m; ++k) {
        const int32_t t1 = 2 * k * fstride;
        float *a = c + 2 * k, *d = c + 2 * (k + m);
        const float tr = d[0] * tw[t1] - d[1] * tw[t1 + 1];
        const float ti = d[0] * tw[t1 + 1] + d[1] * tw[t1];
        d[0] = a[0] - tr;
        d[1] = a[1] - ti;
        a[0] = a[0] + tr;
        a[1] = a[1] + ti;
    }
}

static void butterfly4_f32(float *c, int32_t m, int32_t fstride, const float *tw, int32_t inverse) {
    for (int32_t k = 0; k < m; ++k) {
        float *f0 = c + 2 * k, *f1 = c + 2 * (k + m), *f2 = c + 2 * (k + 2 * m), *f3 = c + 2 * (k + 3 * m);
        const int32_t t1 = 2 * k * fstride, t2 = 2 * t1, t3 = 3 * t1;
        const float s0r = f1[0] * tw[t1] - f1[1] * tw[t1 + 1], s0i = f1[0] * tw[t1 + 1] + f1[1] * tw[t1];
        const float s1r = f2[0] * tw[t2] - f2[1] * tw[t2 + 1], s1i = f2[0] * tw[t2 + 1] + f2[1] * tw[t2];
        const float s2r = f3[0] * tw[t3] - f3[1] * tw[t3 + 1], s2i = f3[0] * tw[t3 + 1] + f3[1] * tw[t3];
        const float s5r = f0[0] - s1r, s5i = f0[1] - s1i;
        const float a0r = f0[0] + s1r, a0i = f0[1] + s1i;
        const float s3r = s0r + s2r, s3i = s0i + s2i;
        const float s4r = s0r - s2r, s4i = s0i - s2i;
        f2[0] = a0r - s3r;
        f2[1] = a0i - s3i;
        f0[0] = a0r + s3r;
        f0[1] = a0i + s3i;
        if (inverse) {
            f1[0] = s5r - s4i;
            f1[1] = s5i + s4r;
            f3[0] = s5r + s4i;
            f3[1] = s5i - s4r;
        } else {
            f1[0] = s5r + s4i;
            f1[1] = s5i - s4r;
            f3[0] = s5r - s4i;
            f3[1] = s5i + s4r;
        }
    }
}

static void complex_fft_f32(float *y, int32_t n, int32_t stages, const int32_t *factors, const float *tw,
                            int32_t inverse) {
    int32_t fstride = n;
    for (int32_t s = stages - 1; s >= 0; --s) {
        const int32_t radix = factors[2 * s], m = factors[2 * s + 1];
        fstride /= radix;
        for (int32_t b = 0; b < fstride; ++b) {
            float *block = y + 2 * b * radix * m;
            if (radix == 4) {
                butterfly4_f32(block, m, fstride, tw, inverse);
            } else if (radix == 2) {
                butterfly2_f32(block, m, fstride, tw);
            } else if (radix == 3) {
                butterfly3_f32(block, m, fstride, tw);
            } else {
                butterfly5_f32(block, m, fstride, tw);
            }
        }
    }
}

void signal_rfft_f32(const signal_real_fft_params_t *p, const float *input, const int32_t *factors,
                     const float *twiddles, const float *split_twiddles, const int16_t *perm, float *output) {
    const int32_t ncfft = p->fft_length / 2;
    for (int32_t row = 0; row < p->rows; ++row) {
        const float *x = input + row * p->input_length;
        float *y = output + row * p->output_length;
        for (int32_t o = 0; o < ncfft; ++o) {
            const int32_t at = 2 * (int32_t)perm[o];
            y[2 * o] = at < p->input_length ? x[at] : 0.0f;
            y[2 * o + 1] = at + 1 < p->input_length ? x[at + 1] : 0.0f;
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0.0f;
        complex_fft_f32(y, ncfft, p->stages, factors, twiddles, 0);
        const float dcr = y[0], dci = y[1];
        y[0] = dcr + dci;
        y[1] = 0.0f;
        y[2 * ncfft] = dcr - dci;
        y[2 * ncfft + 1] = 0.0f;
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const float fr = y[2 * k], fi = y[2 * k + 1];
            const float gr = y[2 * j], gi = -y[2 * j + 1];
            const float sr = fr + gr, si = fi + gi;
            const float dr = fr - gr, di = fi - gi;
            const float wr = split_twiddles[2 * (k - 1)], wi = split_twiddles[2 * (k - 1) + 1];
            const float tr = dr * wr - di * wi, ti = dr * wi + di * wr;
            y[2 * k] = (sr + tr) * 0.5f;
            y[2 * k + 1] = (si + ti) * 0.5f;
            y[2 * j] = (sr - tr) * 0.5f;
            y[2 * j + 1] = (ti - si) * 0.5f;
        }
    }
}

void signal_irfft_f32(const signal_real_fft_params_t *p, const float *input, const int32_t *factors,
                      const float *twiddles, const float *split_twiddles, const int16_t *inverse_perm,
                      float *output) {
    const int32_t ncfft = p->fft_length / 2;
    const float length = (float)p->fft_length;
    for (int32_t row = 0; row < p->rows; ++row) {
        const float *x = input + row * p->input_length;
        float *y = output + row * p->output_length;
        float *t0 = y + 2 * inverse_perm[0];
        t0[0] = x[0] + x[2 * ncfft];
        t0[1] = x[0] - x[2 * ncfft];
        for (int32_t k = 1; k <= ncfft / 2; ++k) {
            const int32_t j = ncfft - k;
            const float fr = x[2 * k], fi = x[2 * k + 1];
            const float gr = x[2 * j], gi = -x[2 * j + 1];
            const float er = fr + gr, ei = fi + gi;
            const float dr = fr - gr, di = fi - gi;
            const float wr = split_twiddles[2 * (k - 1)], wi = split_twiddles[2 * (k - 1) + 1];
            const float okr = dr * wr - di * wi, oki = dr * wi + di * wr;
            float *tk = y + 2 * inverse_perm[k];
            float *tj = y + 2 * inverse_perm[j];
            tk[0] = er + okr;
            tk[1] = ei + oki;
            tj[0] = er - okr;
            tj[1] = -(ei - oki);
        }
        for (int32_t i = 2 * ncfft; i < p->output_length; ++i) y[i] = 0.0f;
        complex_fft_f32(y, ncfft, p->stages, factors, twiddles, 1);
        /* TFLM divides the float inverse transform by fft_length. */
        for (int32_t i = 0; i < p->fft_length; ++i) y[i] = y[i] / length;
    }
}
