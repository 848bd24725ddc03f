#include "conv2d_lowbit.h"

#include <string.h>

#include "dsp_intrinsics.h"
#include "lowbit_codes.h"

/* The scratch holds two output pixels' levels as int16 in groups of four taps i..i+3 stored as the words
 * (i, i+2) and (i+1, i+3): what SXTB16 and SXTB16 ROR #8 make of a filter word, so SMLAD needs no shuffle.
 * Levels are unpacked once per pixel and serve every output channel. */

/* The scratch is written and read both as int16 and as words: memcpy keeps that legal C (no aliasing
 * assumptions for the optimiser to break) and compiles to single STR / LDR. */
MCU_INLINE void put_word(int16_t *dst, uint32_t v)
{
    memcpy(dst, &v, sizeof v);
}

MCU_INLINE uint32_t lowbit_pair(int32_t bias)
{
    return (uint32_t)(uint16_t)bias | ((uint32_t)(uint16_t)bias << 16);
}

/* in_c % 4 == 0: four channels at a time straight into the two words of their group; `bits` is a constant at
 * each call site. 4-bit codes of eight channels come from one word. */
MCU_INLINE int16_t *unpack_groups(const uint8_t *px, int32_t in_c, int32_t bits, uint32_t bias2, int16_t *col)
{
    int32_t g = 0;
    if (bits == 4) {
        for (; g + 8 <= in_c; g += 8) {
            uint32_t v;
            memcpy(&v, px, sizeof v); /* codes c0 .. c7, a nibble each */
            px += 4;
            const uint32_t lo = v & 0x0F0F0F0Fu;        /* bytes c0 c2 c4 c6 */
            const uint32_t hi = (v >> 4) & 0x0F0F0F0Fu; /* bytes c1 c3 c5 c7 */
            const uint32_t a = dsp_sxtb16(lo), b = dsp_sxtb16_ror8(lo); /* (c0, c4), (c2, c6) */
            const uint32_t c = dsp_sxtb16(hi), d = dsp_sxtb16_ror8(hi); /* (c1, c5), (c3, c7) */
            /* PKHBT / PKHTB regroup the lanes: (c0, c2) (c1, c3) | (c4, c6) (c5, c7). */
            put_word(col, dsp_sadd16((a & 0xFFFFu) | (b << 16), bias2));
            put_word(col + 2, dsp_sadd16((c & 0xFFFFu) | (d << 16), bias2));
            put_word(col + 4, dsp_sadd16((a >> 16) | (b & 0xFFFF0000u), bias2));
            put_word(col + 6, dsp_sadd16((c >> 16) | (d & 0xFFFF0000u), bias2));
            col += 8;
        }
    }
    for (; g < in_c; g += 4) {
        uint32_t even, odd;
        if (bits == 4) {
            const uint32_t v = (uint32_t)px[0] | ((uint32_t)px[1] << 8); /* codes c0 c1 c2 c3, a nibble each */
            px += 2;
            const uint32_t t = v | (v << 8); /* c0 at bit 0, c2 at bit 16; c1 at 4, c3 at 20 */
            even = t & 0x000F000Fu;
            odd = (t >> 4) & 0x000F000Fu;
        } else if (bits == 2) {
            const uint32_t v = px[0];
            px += 1;
            const uint32_t t = v | (v << 12); /* c0 at bit 0, c2 at bit 16; c1 at 2, c3 at 18 */
            even = t & 0x00030003u;
            odd = (t >> 2) & 0x00030003u;
        } else {
            const uint32_t v = dsp_load_s8x4((const int8_t *)px);
            px += 4;
            even = dsp_sxtb16(v);
            odd = dsp_sxtb16_ror8(v);
        }
        put_word(col, dsp_sadd16(even, bias2));
        put_word(col + 2, dsp_sadd16(odd, bias2));
        col += 4;
    }
    return col;
}

static int16_t *gather_groups(const uint8_t *px, int32_t in_c, int32_t bits, uint32_t bias2, int16_t *col)
{
    if (bits == 4) {
        return unpack_groups(px, in_c, 4, bias2, col);
    }
    if (bits == 2) {
        return unpack_groups(px, in_c, 2, bias2, col);
    }
    return unpack_groups(px, in_c, 8, bias2, col);
}

static void gather(const conv2d_lowbit_params_t *p, const uint8_t *input, int32_t oy, int32_t ox, int16_t *col16,
                   int32_t n)
{
    const int32_t in_c = p->in_c;
    const int32_t px_bytes = lowbit_pixel_bytes(in_c, p->in_bits);
    const int32_t bias = lowbit_level_bias(p->in_bits, p->in_m_lo, p->input_offset);
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int32_t grouped = (in_c & 3) == 0;
    int16_t *col = col16;
    int16_t *lin = col16;
    if (grouped && p->kernel_h == 1 && p->kernel_w == 1 && iy0 >= 0 && iy0 < p->in_h && ix0 >= 0 && ix0 < p->in_w) {
        gather_groups(input + (iy0 * p->in_w + ix0) * px_bytes, in_c, p->in_bits, lowbit_pair(bias), col); /* 1x1 */
        return;
    }
    for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            const int32_t inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const uint8_t *px = input + (iy * p->in_w + ix) * px_bytes;
            if (grouped && inside) {
                col = gather_groups(px, in_c, p->in_bits, lowbit_pair(bias), col);
            } else if (grouped) {
                for (int32_t c = 0; c < in_c; ++c) {
                    *col++ = 0;
                }
            } else if (inside) {
                lowbit_levels(px, 0, in_c, p->in_bits, bias, lin);
                lin += in_c;
            } else {
                for (int32_t c = 0; c < in_c; ++c) {
                    *lin++ = 0;
                }
            }
        }
    }
    if (!grouped) {
        /* Linear order -> the pair order, the last group padded with level 0. */
        for (int32_t i = n; i < ((n + 3) & ~3); ++i) {
            col16[i] = 0;
        }
        for (int32_t i = 0; i < n; i += 4) {
            const int16_t t = col16[i + 1];
            col16[i + 1] = col16[i + 2];
            col16[i + 2] = t;
        }
    }
}

/* The taps past the last whole group of four: scalar, reading the pair order. */
MCU_INLINE int32_t dot_tail(const int16_t *col16, const int8_t *w, int32_t n4, int32_t n, int32_t acc)
{
    static const int8_t pos[4] = {0, 2, 1, 3};
    for (int32_t i = n4; i < n; ++i) {
        acc += (int32_t)col16[n4 + pos[i - n4]] * (int32_t)w[i];
    }
    return acc;
}

/* The output of one channel: its code (or int8 byte). With thresholds a binary search of out_bits compares
 * (unrolled: 2 or 4 bits) replaces the whole requantization. */
MCU_INLINE int32_t code_of(const conv2d_lowbit_params_t *p, int32_t levels, int32_t oc, int32_t acc, int32_t k,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds)
{
    if (levels) {
        return lowbit_threshold_code(thresholds + oc * (levels + 2), levels, acc);
    }
    acc = lowbit_scaled_acc(acc, k, bias[oc]);
    const int32_t q = clamp_s32(multiply_by_quantized_multiplier(acc, mult[oc], shift[oc]) + p->output_offset,
                                p->act_min, p->act_max);
    return lowbit_code(q, p->out_bits, p->output_offset, p->out_shift, p->out_m_lo, p->out_m_hi);
}

/* Codes of channels oc (even) and oc + 1 into a cleared output pixel: one byte or part of one. */
MCU_INLINE void put_pair(uint8_t *out, int32_t oc, int32_t bits, int32_t a, int32_t b)
{
    if (bits == 8) {
        out[oc] = (uint8_t)a;
        out[oc + 1] = (uint8_t)b;
        return;
    }
    const int32_t bit = oc * bits;
    out[bit >> 3] = (uint8_t)(out[bit >> 3] | ((a | (b << bits)) << (bit & 7)));
}

MCU_INLINE void put_one(uint8_t *out, int32_t oc, int32_t bits, int32_t a)
{
    if (bits == 8) {
        out[oc] = (uint8_t)a;
        return;
    }
    const int32_t bit = oc * bits;
    out[bit >> 3] = (uint8_t)(out[bit >> 3] | (a << (bit & 7)));
}

/* levels and bits are locals of the callers: byte stores may alias *p, so the compiler would reload them. */
#define CODE(oc, acc) code_of(p, levels, (oc), (acc), k, bias, mult, shift, thresholds)

/* One pixel, one or two channels per pass (the leftover pixel of an odd count). */
static void one_pixel(const conv2d_lowbit_params_t *p, const int16_t *col, const int8_t *filter, int32_t n,
                      int32_t k, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      const int32_t *thresholds, uint8_t *out)
{
    const int32_t levels = p->out_levels;
    const int32_t bits = p->out_bits;
    const int32_t out_c = p->out_c;
    const int32_t groups = n >> 2;
    const int32_t n4 = groups << 2;
    int32_t oc = 0;
    for (; oc + 1 < out_c; oc += 2) {
        const int8_t *wa = filter + oc * n;
        const int8_t *wb = wa + n;
        int32_t acc_a = 0;
        int32_t acc_b = 0;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t even = dsp_load_s16x2(col + 4 * g);
            const uint32_t odd = dsp_load_s16x2(col + 4 * g + 2);
            const uint32_t a = dsp_load_s8x4(wa + 4 * g);
            const uint32_t b = dsp_load_s8x4(wb + 4 * g);
            acc_a = dsp_smlad(even, dsp_sxtb16(a), acc_a);
            acc_a = dsp_smlad(odd, dsp_sxtb16_ror8(a), acc_a);
            acc_b = dsp_smlad(even, dsp_sxtb16(b), acc_b);
            acc_b = dsp_smlad(odd, dsp_sxtb16_ror8(b), acc_b);
        }
        put_pair(out, oc, bits, CODE(oc, dot_tail(col, wa, n4, n, acc_a)),
                 CODE(oc + 1, dot_tail(col, wb, n4, n, acc_b)));
    }
    if (oc < out_c) {
        const int8_t *wa = filter + oc * n;
        int32_t acc_a = 0;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t a = dsp_load_s8x4(wa + 4 * g);
            acc_a = dsp_smlad(dsp_load_s16x2(col + 4 * g), dsp_sxtb16(a), acc_a);
            acc_a = dsp_smlad(dsp_load_s16x2(col + 4 * g + 2), dsp_sxtb16_ror8(a), acc_a);
        }
        put_one(out, oc, bits, CODE(oc, dot_tail(col, wa, n4, n, acc_a)));
    }
}

/* The SMLAD sums of one output channel (the last of an odd count) for two pixels, over the whole groups of 4. */
MCU_INLINE void last_channel(const int16_t *col_a, const int16_t *col_b, const int8_t *w0, int32_t groups,
                             int32_t *sum_a, int32_t *sum_b)
{
    int32_t a0 = 0, b0 = 0;
    for (int32_t g = 0; g < groups; ++g) {
        const uint32_t x0 = dsp_load_s8x4(w0 + 4 * g);
        const uint32_t w0e = dsp_sxtb16(x0);
        const uint32_t w0o = dsp_sxtb16_ror8(x0);
        a0 = dsp_smlad(dsp_load_s16x2(col_a + 4 * g), w0e, a0);
        a0 = dsp_smlad(dsp_load_s16x2(col_a + 4 * g + 2), w0o, a0);
        b0 = dsp_smlad(dsp_load_s16x2(col_b + 4 * g), w0e, b0);
        b0 = dsp_smlad(dsp_load_s16x2(col_b + 4 * g + 2), w0o, b0);
    }
    *sum_a = a0;
    *sum_b = b0;
}

/* Two pixels, two channels per pass: each filter word, widened once, feeds two pixels, and each scratch word
 * two channels (18 instructions per 16 MACs in the loop). */
static void two_pixels(const conv2d_lowbit_params_t *p, const int16_t *col_a, const int16_t *col_b,
                       const int8_t *filter, int32_t n, int32_t k, const int32_t *bias, const int32_t *mult,
                       const int32_t *shift, const int32_t *thresholds, uint8_t *out_a, uint8_t *out_b)
{
    const int32_t levels = p->out_levels;
    const int32_t bits = p->out_bits;
    const int32_t out_c = p->out_c;
    const int32_t groups = n >> 2;
    const int32_t n4 = groups << 2;
    int32_t oc = 0;
    for (; oc + 1 < out_c; oc += 2) {
        const int8_t *w0 = filter + oc * n;
        const int8_t *w1 = w0 + n;
        int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0; /* pixel a/b, channel oc/oc+1 */
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t x0 = dsp_load_s8x4(w0 + 4 * g);
            const uint32_t x1 = dsp_load_s8x4(w1 + 4 * g);
            const uint32_t w0e = dsp_sxtb16(x0);
            const uint32_t w1e = dsp_sxtb16(x1);
            const uint32_t ea = dsp_load_s16x2(col_a + 4 * g);
            const uint32_t eb = dsp_load_s16x2(col_b + 4 * g);
            a0 = dsp_smlad(ea, w0e, a0);
            a1 = dsp_smlad(ea, w1e, a1);
            b0 = dsp_smlad(eb, w0e, b0);
            b1 = dsp_smlad(eb, w1e, b1);
            const uint32_t w0o = dsp_sxtb16_ror8(x0);
            const uint32_t w1o = dsp_sxtb16_ror8(x1);
            const uint32_t oa = dsp_load_s16x2(col_a + 4 * g + 2);
            const uint32_t ob = dsp_load_s16x2(col_b + 4 * g + 2);
            a0 = dsp_smlad(oa, w0o, a0);
            a1 = dsp_smlad(oa, w1o, a1);
            b0 = dsp_smlad(ob, w0o, b0);
            b1 = dsp_smlad(ob, w1o, b1);
        }
        put_pair(out_a, oc, bits, CODE(oc, dot_tail(col_a, w0, n4, n, a0)),
                 CODE(oc + 1, dot_tail(col_a, w1, n4, n, a1)));
        put_pair(out_b, oc, bits, CODE(oc, dot_tail(col_b, w0, n4, n, b0)),
                 CODE(oc + 1, dot_tail(col_b, w1, n4, n, b1)));
    }
    if (oc < out_c) {
        const int8_t *w0 = filter + oc * n;
        int32_t a0, b0;
        last_channel(col_a, col_b, w0, groups, &a0, &b0);
        put_one(out_a, oc, bits, CODE(oc, dot_tail(col_a, w0, n4, n, a0)));
        put_one(out_b, oc, bits, CODE(oc, dot_tail(col_b, w0, n4, n, b0)));
    }
}

/* The r = n % 4 filter bytes past the last whole group, as a filter word with zero lanes above (the scratch holds
 * level 0 there too): the tail then takes the group loop's SMLADs instead of a scalar loop. */
MCU_INLINE uint32_t tail_word(const int8_t *w, int32_t r)
{
    uint32_t v = (uint8_t)w[0];
    if (r > 1) {
        v |= (uint32_t)(uint8_t)w[1] << 8;
    }
    if (r > 2) {
        v |= (uint32_t)(uint8_t)w[2] << 16;
    }
    return v;
}

/* The fast epilogue (out_levels > 0, so 2- or 4-bit output codes): the codes of a pass come from thresholds
 * searched with the level count a compile-time constant, gather in a register per pixel and leave as whole
 * bytes (no clearing pass, no read-modify-write). `bits` is a constant at each call site. */
MCU_INLINE int32_t thr_code(const int32_t *row, int32_t bits, int32_t acc)
{
    return lowbit_threshold_code(row, bits == 4 ? 15 : 3, acc);
}

MCU_INLINE void thr_pixels(const int16_t *col_a, const int16_t *col_b, const int8_t *filter, int32_t n,
                           int32_t out_c, int32_t bits, int32_t has_tail, const int32_t *thresholds, uint8_t *out_a,
                           uint8_t *out_b)
{
    const int32_t row = (1 << bits) + 1; /* base, dir and 2^bits - 1 thresholds */
    const int32_t groups = n >> 2;
    const int32_t n4 = groups << 2;
    uint32_t byte_a = 0, byte_b = 0;
    int32_t fill = 0;
    int32_t oc = 0;
    for (; oc + 1 < out_c; oc += 2) {
        const int8_t *w0 = filter + oc * n;
        const int8_t *w1 = w0 + n;
        int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
        const int16_t *ca = col_a;
        const int16_t *cb = col_b;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t x0 = dsp_load_s8x4(w0);
            const uint32_t x1 = dsp_load_s8x4(w1);
            w0 += 4;
            w1 += 4;
            const uint32_t w0e = dsp_sxtb16(x0);
            const uint32_t w1e = dsp_sxtb16(x1);
            const uint32_t ea = dsp_load_s16x2(ca);
            const uint32_t eb = dsp_load_s16x2(cb);
            a0 = dsp_smlad(ea, w0e, a0);
            a1 = dsp_smlad(ea, w1e, a1);
            b0 = dsp_smlad(eb, w0e, b0);
            b1 = dsp_smlad(eb, w1e, b1);
            const uint32_t w0o = dsp_sxtb16_ror8(x0);
            const uint32_t w1o = dsp_sxtb16_ror8(x1);
            const uint32_t oa = dsp_load_s16x2(ca + 2);
            const uint32_t ob = dsp_load_s16x2(cb + 2);
            ca += 4;
            cb += 4;
            a0 = dsp_smlad(oa, w0o, a0);
            a1 = dsp_smlad(oa, w1o, a1);
            b0 = dsp_smlad(ob, w0o, b0);
            b1 = dsp_smlad(ob, w1o, b1);
        }
        if (has_tail) {
            const uint32_t x0 = tail_word(w0, n - n4);
            const uint32_t x1 = tail_word(w1, n - n4);
            a0 = dsp_smlad(dsp_load_s16x2(ca), dsp_sxtb16(x0), a0);
            a0 = dsp_smlad(dsp_load_s16x2(ca + 2), dsp_sxtb16_ror8(x0), a0);
            a1 = dsp_smlad(dsp_load_s16x2(ca), dsp_sxtb16(x1), a1);
            a1 = dsp_smlad(dsp_load_s16x2(ca + 2), dsp_sxtb16_ror8(x1), a1);
            b0 = dsp_smlad(dsp_load_s16x2(cb), dsp_sxtb16(x0), b0);
            b0 = dsp_smlad(dsp_load_s16x2(cb + 2), dsp_sxtb16_ror8(x0), b0);
            b1 = dsp_smlad(dsp_load_s16x2(cb), dsp_sxtb16(x1), b1);
            b1 = dsp_smlad(dsp_load_s16x2(cb + 2), dsp_sxtb16_ror8(x1), b1);
        }
        const int32_t *t = thresholds + oc * row;
        byte_a |= (uint32_t)(thr_code(t, bits, a0) | (thr_code(t + row, bits, a1) << bits)) << fill;
        byte_b |= (uint32_t)(thr_code(t, bits, b0) | (thr_code(t + row, bits, b1) << bits)) << fill;
        fill += 2 * bits;
        if (bits == 4 || fill == 8) {
            *out_a++ = (uint8_t)byte_a;
            *out_b++ = (uint8_t)byte_b;
            byte_a = byte_b = 0;
            fill = 0;
        }
    }
    if (oc < out_c) {
        const int8_t *w0 = filter + oc * n;
        int32_t a0, b0;
        last_channel(col_a, col_b, w0, groups, &a0, &b0);
        const int32_t *t = thresholds + oc * row;
        byte_a |= (uint32_t)thr_code(t, bits, dot_tail(col_a, w0, n4, n, a0)) << fill;
        byte_b |= (uint32_t)thr_code(t, bits, dot_tail(col_b, w0, n4, n, b0)) << fill;
        fill += bits;
    }
    if (fill) {
        *out_a = (uint8_t)byte_a;
        *out_b = (uint8_t)byte_b;
    }
}

/* One instance per output width and per tail or none: the tail's code in the loop costs the pointwise layers
 * register spills even where it never runs. */
static void thr_pass(const int16_t *col_a, const int16_t *col_b, const int8_t *filter, int32_t n, int32_t out_c,
                     int32_t bits, const int32_t *thresholds, uint8_t *out_a, uint8_t *out_b)
{
    if (n & 3) {
        if (bits == 4) {
            thr_pixels(col_a, col_b, filter, n, out_c, 4, 1, thresholds, out_a, out_b);
        } else {
            thr_pixels(col_a, col_b, filter, n, out_c, 2, 1, thresholds, out_a, out_b);
        }
    } else if (bits == 4) {
        thr_pixels(col_a, col_b, filter, n, out_c, 4, 0, thresholds, out_a, out_b);
    } else {
        thr_pixels(col_a, col_b, filter, n, out_c, 2, 0, thresholds, out_a, out_b);
    }
}

void conv2d_lowbit_dsp(const conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds,
                       uint8_t *output, int8_t *scratch)
{
    const int32_t n = p->kernel_h * p->kernel_w * p->in_c;
    int16_t *col_a = (int16_t *)(void *)scratch;
    int16_t *col_b = col_a + ((n + 3) & ~3);
    const int32_t out_bytes = lowbit_pixel_bytes(p->out_c, p->out_bits);
    const int32_t k = lowbit_level_shift(p->in_bits, p->in_shift);
    const int32_t pixels = p->out_h * p->out_w;

    if (p->out_levels > 0) {
        /* The fast epilogue writes whole bytes. The last pixel of an odd count is its own twin: the same codes
         * stored twice. */
        int32_t oy = 0, ox = 0;
        for (int32_t px = 0; px < pixels; px += 2) {
            gather(p, input, oy, ox, col_a, n);
            uint8_t *out = output + px * out_bytes;
            uint8_t *out_b = out;
            const int16_t *cb = col_a;
            if (++ox == p->out_w) {
                ox = 0;
                ++oy;
            }
            if (px + 1 < pixels) {
                gather(p, input, oy, ox, col_b, n);
                out_b = out + out_bytes;
                cb = col_b;
                if (++ox == p->out_w) {
                    ox = 0;
                    ++oy;
                }
            }
            thr_pass(col_a, cb, filter, n, p->out_c, p->out_bits, thresholds, out, out_b);
        }
        return;
    }
    for (int32_t i = 0; i < out_bytes * pixels; ++i) {
        output[i] = 0; /* codes are ORed into their bytes */
    }
    int32_t px = 0;
    for (; px + 1 < pixels; px += 2) {
        gather(p, input, px / p->out_w, px % p->out_w, col_a, n);
        gather(p, input, (px + 1) / p->out_w, (px + 1) % p->out_w, col_b, n);
        uint8_t *out = output + px * out_bytes;
        two_pixels(p, col_a, col_b, filter, n, k, bias, mult, shift, thresholds, out, out + out_bytes);
    }
    if (px < pixels) {
        gather(p, input, px / p->out_w, px % p->out_w, col_a, n);
        one_pixel(p, col_a, filter, n, k, bias, mult, shift, thresholds, output + px * out_bytes);
    }
}
