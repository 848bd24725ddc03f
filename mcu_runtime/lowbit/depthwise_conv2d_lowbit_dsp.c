#include "depthwise_conv2d_lowbit.h"

#include <string.h>

#include "conv_window.h"
#include "dsp_intrinsics.h"
#include "lowbit_codes.h"

/* Four channels per pass with their accumulators in registers, every tap of the window inside: the codes of
 * the four channels at a tap unpack with a few bit operations into the int16 pairs (c0, c2) and (c1, c3), the
 * lanes SXTB16 makes of the filter word. Two horizontally adjacent pixels with the same taps share each multiply
 * where the sums allow (dw_pair). Needs in_c % 4 == 0 and depth multiplier 1; other layers take the portable
 * kernel. */

MCU_INLINE void unpack4(const uint8_t *px, int32_t bits, uint32_t bias2, uint32_t *even, uint32_t *odd)
{
    uint32_t e, o;
    if (bits == 4) {
        const uint32_t v = (uint32_t)px[0] | ((uint32_t)px[1] << 8);
        const uint32_t t = v | (v << 8); /* c0 at bit 0, c2 at bit 16; c1 at 4, c3 at 20 */
        e = t & 0x000F000Fu;
        o = (t >> 4) & 0x000F000Fu;
    } else if (bits == 2) {
        const uint32_t v = px[0];
        const uint32_t t = v | (v << 12); /* c0 at bit 0, c2 at bit 16; c1 at 2, c3 at 18 */
        e = t & 0x00030003u;
        o = (t >> 2) & 0x00030003u;
    } else {
        const uint32_t v = dsp_load_s8x4((const int8_t *)px);
        e = dsp_sxtb16(v);
        o = dsp_sxtb16_ror8(v);
    }
    *even = dsp_sadd16(e, bias2);
    *odd = dsp_sadd16(o, bias2);
}

MCU_INLINE int32_t lo16(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu);
}

MCU_INLINE int32_t hi16(uint32_t x)
{
    return (int32_t)x >> 16;
}

/* Output code (or int8 byte) of channel oc by requantization: out of line, so that the layer's instances (one per
 * input width, each storing four channels at a time) do not each carry four copies of it. */
static __attribute__((noinline)) int32_t dw_requant(const depthwise_conv2d_lowbit_params_t *p, int32_t k,
                                                    int32_t oc, int32_t acc, const int32_t *bias,
                                                    const int32_t *mult, const int32_t *shift)
{
    int32_t r = lowbit_scaled_acc(acc, k, bias[oc]);
    r = multiply_by_quantized_multiplier(r, mult[oc], shift[oc]) + p->output_offset;
    return lowbit_code(clamp_s32(r, p->act_min, p->act_max), p->out_bits, p->output_offset, p->out_shift,
                       p->out_m_lo, p->out_m_hi);
}

/* Output code (or int8 byte) of channel oc from its raw sum: thresholds when the layer has them. */
MCU_INLINE int32_t dw_code(const depthwise_conv2d_lowbit_params_t *p, int32_t levels, int32_t k, int32_t oc,
                           int32_t acc, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const int32_t *thresholds)
{
    if (levels) {
        return lowbit_threshold_code(thresholds + oc * (levels + 2), levels, acc);
    }
    return dw_requant(p, k, oc, acc, bias, mult, shift);
}

/* The codes of channels c .. c + 3 into their whole bytes of an output pixel (8-bit 4 bytes, 4-bit 2, 2-bit 1). */
MCU_INLINE void dw_store(const depthwise_conv2d_lowbit_params_t *p, int32_t levels, int32_t k, int32_t c,
                         int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *bias, const int32_t *mult,
                         const int32_t *shift, const int32_t *thresholds, uint8_t *out)
{
    const int32_t out_bits = p->out_bits;
    const uint32_t v = (uint32_t)dw_code(p, levels, k, c, a0, bias, mult, shift, thresholds) |
                       ((uint32_t)dw_code(p, levels, k, c + 1, a1, bias, mult, shift, thresholds) << out_bits) |
                       ((uint32_t)dw_code(p, levels, k, c + 2, a2, bias, mult, shift, thresholds) << (2 * out_bits)) |
                       ((uint32_t)dw_code(p, levels, k, c + 3, a3, bias, mult, shift, thresholds) << (3 * out_bits));
    uint8_t *o = out + (c >> 2) * (out_bits >> 1);
    o[0] = (uint8_t)v;
    if (out_bits >= 4) {
        o[1] = (uint8_t)(v >> 8);
    }
    if (out_bits == 8) {
        o[2] = (uint8_t)(v >> 16);
        o[3] = (uint8_t)(v >> 24);
    }
}

/* Sign-extended byte j of a word (SXTB with ROR). */
MCU_INLINE int32_t byte_s8(uint32_t x, int32_t j)
{
    return (int32_t)(int8_t)(uint8_t)(x >> (8 * j));
}

/* Two horizontally adjacent output pixels A and B with the same taps, four channels, packing two products per
 * multiply (ULPPACK-style): the codes of the four channels at A (16 or 8 bits) and at B, in one word u = A | B << 16,
 * give channel j's pair as (u >> j * bits) & (mask at bits 0 and 16), that is cA + 2^16 cB; adding
 * K = m_lo (1 + 2^16) makes it the levels' mA + 2^16 mB, and one MLA by the weight adds w mA to the low half and
 * w mB to the high half. The low half's sum stays within int16 (the caller checks taps * 128 * max |m| < 2^15),
 * so it is exact as the low 16 bits sign-extended, and the high half is (p - low) >> 16. */
MCU_INLINE void dw_pair(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *row, const int8_t *w_row,
                        int32_t ky_n, int32_t kx_n, int32_t pair_bytes, int32_t bits, int32_t *acc_a, int32_t *acc_b)
{
    const int32_t in_c = p->in_c;
    const int32_t in_bytes = lowbit_pixel_bytes(in_c, bits);
    const int32_t dil_w_bytes = p->dilation_w * in_bytes;
    const int32_t row_bytes = p->dilation_h * p->in_w * in_bytes;
    const uint32_t mask = bits == 4 ? 0x000F000Fu : 0x00030003u;
    const uint32_t kk = (uint32_t)p->in_m_lo * 0x10001u;
    uint32_t p0 = 0, p1 = 0, p2 = 0, p3 = 0; /* wrapping adds: the true sums fit, see above */
    for (int32_t ky = 0; ky < ky_n; ++ky) {
        const uint8_t *px = row;
        const int8_t *w = w_row;
        for (int32_t kx = 0; kx < kx_n; ++kx) {
            uint32_t u;
            if (bits == 4) {
                uint16_t ha, hb;
                memcpy(&ha, px, sizeof ha); /* LDRH (unaligned is fine on the M7) */
                memcpy(&hb, px + pair_bytes, sizeof hb);
                u = (uint32_t)ha | ((uint32_t)hb << 16);
            } else {
                u = (uint32_t)px[0] | ((uint32_t)px[pair_bytes] << 16);
            }
            px += dil_w_bytes;
            const uint32_t x = dsp_load_s8x4(w);
            w += in_c;
            p0 += (uint32_t)byte_s8(x, 0) * ((u & mask) + kk);
            p1 += (uint32_t)byte_s8(x, 1) * (((u >> bits) & mask) + kk);
            p2 += (uint32_t)byte_s8(x, 2) * (((u >> (2 * bits)) & mask) + kk);
            p3 += (uint32_t)byte_s8(x, 3) * (((u >> (3 * bits)) & mask) + kk);
        }
        row += row_bytes;
        w_row += p->kernel_w * in_c;
    }
    const uint32_t pp[4] = {p0, p1, p2, p3};
    for (int32_t j = 0; j < 4; ++j) {
        const int32_t lo = (int16_t)(uint16_t)(pp[j] & 0xFFFFu);
        acc_a[j] = lo;
        acc_b[j] = (int32_t)(pp[j] - (uint32_t)lo) >> 16;
    }
}

/* The whole layer for one input width `bits` (a constant at each call site, so the unpacking has no branch).
 * Four channels' output codes fill whole bytes (in_c % 4 == 0): 8-bit 4 bytes, 4-bit 2, 2-bit 1, written
 * outright. */
MCU_INLINE void dw_layer(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds,
                         uint8_t *output, int32_t bits)
{
    const int32_t in_c = p->in_c;
    const int32_t levels = p->out_levels;
    const int32_t in_bytes = lowbit_pixel_bytes(in_c, bits);
    const int32_t out_bytes = lowbit_pixel_bytes(in_c, p->out_bits);
    const int32_t group_bytes = bits >> 1; /* bytes of four channels' codes: 4 * bits / 8 */
    const int32_t level_bias = lowbit_level_bias(bits, p->in_m_lo, p->input_offset);
    const uint32_t bias2 = (uint32_t)(uint16_t)level_bias | ((uint32_t)(uint16_t)level_bias << 16);
    const int32_t k = lowbit_level_shift(bits, p->in_shift);
    const int32_t dil_w_bytes = p->dilation_w * in_bytes;
    /* Two pixels per multiply while a half's sum cannot leave int16 (not for int8 input). */
    const int32_t m_lo_abs = p->in_m_lo < 0 ? -p->in_m_lo : p->in_m_lo;
    const int32_t m_hi = p->in_m_lo + (1 << bits) - 1;
    const int32_t m_hi_abs = m_hi < 0 ? -m_hi : m_hi;
    const int32_t m_abs = m_lo_abs > m_hi_abs ? m_lo_abs : m_hi_abs; /* largest |level| */
    const int32_t packable = bits < 8 && p->kernel_h * p->kernel_w * 128 * m_abs < 32768;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w;) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            const uint8_t *base = input + ((iy0 + ky_lo * p->dilation_h) * p->in_w + ix0 + kx_lo * p->dilation_w) *
                                              in_bytes;
            const int8_t *w_base = filter + (ky_lo * p->kernel_w + kx_lo) * in_c;
            if (packable && ox + 1 < p->out_w && ky_hi > ky_lo && kx_hi > kx_lo) {
                int32_t kx_lo_b, kx_hi_b;
                conv_tap_range(ix0 + p->stride_w, p->in_w, p->kernel_w, p->dilation_w, &kx_lo_b, &kx_hi_b);
                if (kx_lo_b == kx_lo && kx_hi_b == kx_hi) {
                    for (int32_t c = 0; c < in_c; c += 4) {
                        int32_t acc_a[4], acc_b[4];
                        dw_pair(p, base + (c >> 2) * group_bytes, w_base + c, ky_hi - ky_lo, kx_hi - kx_lo,
                                p->stride_w * in_bytes, bits, acc_a, acc_b);
                        dw_store(p, levels, k, c, acc_a[0], acc_a[1], acc_a[2], acc_a[3], bias, mult, shift,
                                 thresholds, out);
                        dw_store(p, levels, k, c, acc_b[0], acc_b[1], acc_b[2], acc_b[3], bias, mult, shift,
                                 thresholds, out + out_bytes);
                    }
                    ox += 2;
                    continue;
                }
            }
            for (int32_t c = 0; c < in_c; c += 4) {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                const uint8_t *row = base + (c >> 2) * group_bytes;
                const int8_t *w_row = w_base + c;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    const uint8_t *px = row;
                    const int8_t *w = w_row;
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        uint32_t even, odd;
                        unpack4(px, bits, bias2, &even, &odd);
                        const uint32_t x = dsp_load_s8x4(w);
                        px += dil_w_bytes;
                        w += in_c;
                        const uint32_t we = dsp_sxtb16(x);
                        const uint32_t wo = dsp_sxtb16_ror8(x);
                        a0 += lo16(even) * lo16(we); /* SMLABB */
                        a2 += hi16(even) * hi16(we); /* SMLATT */
                        a1 += lo16(odd) * lo16(wo);
                        a3 += hi16(odd) * hi16(wo);
                    }
                    row += p->dilation_h * p->in_w * in_bytes;
                    w_row += p->kernel_w * in_c;
                }
                dw_store(p, levels, k, c, a0, a1, a2, a3, bias, mult, shift, thresholds, out);
            }
            ++ox;
        }
    }
}

void depthwise_conv2d_lowbit_dsp(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input,
                                 const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, const int32_t *thresholds, uint8_t *output)
{
    if ((p->in_c & 3) != 0 || p->depth_multiplier != 1) {
        depthwise_conv2d_lowbit(p, input, filter, bias, mult, shift, output);
        return;
    }
    if (p->in_bits == 4) {
        dw_layer(p, input, filter, bias, mult, shift, thresholds, output, 4);
    } else if (p->in_bits == 2) {
        dw_layer(p, input, filter, bias, mult, shift, thresholds, output, 2);
    } else {
        dw_layer(p, input, filter, bias, mult, shift, thresholds, output, 8);
    }
}
