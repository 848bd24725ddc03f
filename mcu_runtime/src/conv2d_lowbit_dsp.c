#include "conv2d_lowbit.h"

#include <string.h>

#include "dsp_intrinsics.h"
#include "lowbit_codes.h"

/* The scratch holds one output pixel's levels as int16 in groups of four taps i..i+3 stored as the words
 * (i, i+2) and (i+1, i+3): what SXTB16 and SXTB16 ROR #8 make of a filter word, so SMLAD needs no shuffle.
 * Levels are unpacked once per pixel and serve every output channel; two channels share each scratch load. */

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

/* in_c % 4 == 0: four channels at a time straight into the two words of their group. */
static int16_t *gather_groups(const uint8_t *px, int32_t in_c, int32_t bits, uint32_t bias2, int16_t *col)
{
    for (int32_t g = 0; g < in_c; g += 4) {
        uint32_t even, odd;
        if (bits == 4) {
            const uint32_t v = (uint32_t)px[0] | ((uint32_t)px[1] << 8); /* codes c0 c1 c2 c3, a nibble each */
            px += 2;
            even = (v & 0xFu) | ((v & 0xF00u) << 8);
            odd = ((v >> 4) & 0xFu) | ((v & 0xF000u) << 4);
        } else if (bits == 2) {
            const uint32_t v = px[0];
            px += 1;
            even = (v & 0x3u) | ((v & 0x30u) << 12);
            odd = ((v >> 2) & 0x3u) | ((v & 0xC0u) << 10);
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

MCU_INLINE void store(const conv2d_lowbit_params_t *p, uint8_t *out, int32_t oc, int32_t acc, int32_t k,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds)
{
    const int32_t levels = p->out_levels;
    if (levels) {
        /* A binary search of out_bits compares replaces the whole requantization. */
        const int32_t *row = thresholds + oc * (levels + 2);
        const int32_t *t = row + 2;
        int32_t i = 0;
        for (int32_t half = (levels + 1) >> 1; half > 0; half >>= 1) {
            if (acc >= t[i + half - 1]) {
                i += half;
            }
        }
        const int32_t bit = oc * p->out_bits;
        out[bit >> 3] = (uint8_t)(out[bit >> 3] | ((row[0] + row[1] * i) << (bit & 7)));
        return;
    }
    acc = lowbit_scaled_acc(acc, k, bias[oc]);
    acc = multiply_by_quantized_multiplier(acc, mult[oc], shift[oc]) + p->output_offset;
    lowbit_store(out, oc, clamp_s32(acc, p->act_min, p->act_max), p->out_bits, p->output_offset, p->out_shift,
                 p->out_m_lo, p->out_m_hi);
}

void conv2d_lowbit_dsp(const conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds,
                       uint8_t *output, int8_t *scratch)
{
    int16_t *col16 = (int16_t *)(void *)scratch;
    const int32_t n = p->kernel_h * p->kernel_w * p->in_c;
    const int32_t groups = n >> 2;
    const int32_t n4 = groups << 2;
    const int32_t out_bytes = lowbit_pixel_bytes(p->out_c, p->out_bits);
    const int32_t k = lowbit_level_shift(p->in_bits, p->in_shift);

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            gather(p, input, oy, ox, col16, n);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            for (int32_t i = 0; i < out_bytes; ++i) {
                out[i] = 0;
            }
            int32_t oc = 0;
            for (; oc + 1 < p->out_c; oc += 2) {
                const int8_t *wa = filter + oc * n;
                const int8_t *wb = wa + n;
                int32_t acc_a = 0;
                int32_t acc_b = 0;
                for (int32_t g = 0; g < groups; ++g) {
                    const uint32_t even = dsp_load_s16x2(col16 + 4 * g);
                    const uint32_t odd = dsp_load_s16x2(col16 + 4 * g + 2);
                    const uint32_t a = dsp_load_s8x4(wa + 4 * g);
                    const uint32_t b = dsp_load_s8x4(wb + 4 * g);
                    acc_a = dsp_smlad(even, dsp_sxtb16(a), acc_a);
                    acc_a = dsp_smlad(odd, dsp_sxtb16_ror8(a), acc_a);
                    acc_b = dsp_smlad(even, dsp_sxtb16(b), acc_b);
                    acc_b = dsp_smlad(odd, dsp_sxtb16_ror8(b), acc_b);
                }
                store(p, out, oc, dot_tail(col16, wa, n4, n, acc_a), k, bias, mult, shift, thresholds);
                store(p, out, oc + 1, dot_tail(col16, wb, n4, n, acc_b), k, bias, mult, shift, thresholds);
            }
            if (oc < p->out_c) {
                const int8_t *wa = filter + oc * n;
                int32_t acc_a = 0;
                for (int32_t g = 0; g < groups; ++g) {
                    const uint32_t a = dsp_load_s8x4(wa + 4 * g);
                    acc_a = dsp_smlad(dsp_load_s16x2(col16 + 4 * g), dsp_sxtb16(a), acc_a);
                    acc_a = dsp_smlad(dsp_load_s16x2(col16 + 4 * g + 2), dsp_sxtb16_ror8(a), acc_a);
                }
                store(p, out, oc, dot_tail(col16, wa, n4, n, acc_a), k, bias, mult, shift, thresholds);
            }
        }
    }
}
