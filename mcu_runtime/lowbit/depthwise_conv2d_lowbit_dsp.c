#include "depthwise_conv2d_lowbit.h"

#include "conv_window.h"
#include "dsp_intrinsics.h"
#include "lowbit_codes.h"

/* Four channels per pass with their accumulators in registers, every tap of the window inside: the codes of
 * the four channels at a tap unpack with a few bit operations into the int16 pairs (c0, c2) and (c1, c3), the
 * lanes SXTB16 makes of the filter word. Needs in_c % 4 == 0 and depth multiplier 1; other layers take the
 * portable kernel. */

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

/* Output code (or int8 byte) of channel oc from its raw sum. */
MCU_INLINE int32_t dw_code(const depthwise_conv2d_lowbit_params_t *p, int32_t levels, int32_t k, int32_t oc,
                           int32_t acc, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const int32_t *thresholds)
{
    if (levels) {
        return lowbit_threshold_code(thresholds + oc * (levels + 2), levels, acc);
    }
    int32_t r = lowbit_scaled_acc(acc, k, bias[oc]);
    r = multiply_by_quantized_multiplier(r, mult[oc], shift[oc]) + p->output_offset;
    return lowbit_code(clamp_s32(r, p->act_min, p->act_max), p->out_bits, p->output_offset, p->out_shift,
                       p->out_m_lo, p->out_m_hi);
}

/* The whole layer for one input width `bits` (a constant at each call site, so the unpacking has no branch).
 * Four channels' output codes fill whole bytes (in_c % 4 == 0): 8-bit 4 bytes, 4-bit 2, 2-bit 1, written
 * outright. */
MCU_INLINE void dw_layer(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds,
                         uint8_t *output, int32_t bits)
{
    const int32_t in_c = p->in_c;
    const int32_t out_bits = p->out_bits;
    const int32_t levels = p->out_levels;
    const int32_t in_bytes = lowbit_pixel_bytes(in_c, bits);
    const int32_t out_bytes = lowbit_pixel_bytes(in_c, out_bits);
    const int32_t group_bytes = bits >> 1; /* bytes of four channels' codes: 4 * bits / 8 */
    const int32_t out_group_bytes = out_bits >> 1;
    const int32_t level_bias = lowbit_level_bias(bits, p->in_m_lo, p->input_offset);
    const uint32_t bias2 = (uint32_t)(uint16_t)level_bias | ((uint32_t)(uint16_t)level_bias << 16);
    const int32_t k = lowbit_level_shift(bits, p->in_shift);
    const int32_t dil_w_bytes = p->dilation_w * in_bytes;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            const uint8_t *base = input + ((iy0 + ky_lo * p->dilation_h) * p->in_w + ix0 + kx_lo * p->dilation_w) *
                                              in_bytes;
            const int8_t *w_base = filter + (ky_lo * p->kernel_w + kx_lo) * in_c;
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
                const uint32_t v = (uint32_t)dw_code(p, levels, k, c, a0, bias, mult, shift, thresholds) |
                                   ((uint32_t)dw_code(p, levels, k, c + 1, a1, bias, mult, shift, thresholds)
                                    << out_bits) |
                                   ((uint32_t)dw_code(p, levels, k, c + 2, a2, bias, mult, shift, thresholds)
                                    << (2 * out_bits)) |
                                   ((uint32_t)dw_code(p, levels, k, c + 3, a3, bias, mult, shift, thresholds)
                                    << (3 * out_bits));
                uint8_t *o = out + (c >> 2) * out_group_bytes;
                o[0] = (uint8_t)v;
                if (out_bits >= 4) {
                    o[1] = (uint8_t)(v >> 8);
                }
                if (out_bits == 8) {
                    o[2] = (uint8_t)(v >> 16);
                    o[3] = (uint8_t)(v >> 24);
                }
            }
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
