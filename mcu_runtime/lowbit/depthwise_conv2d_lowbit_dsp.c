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
        e = (v & 0xFu) | ((v & 0xF00u) << 8);
        o = ((v >> 4) & 0xFu) | ((v & 0xF000u) << 4);
    } else if (bits == 2) {
        const uint32_t v = px[0];
        e = (v & 0x3u) | ((v & 0x30u) << 12);
        o = ((v >> 2) & 0x3u) | ((v & 0xC0u) << 10);
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

void depthwise_conv2d_lowbit_dsp(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input,
                                 const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, const int32_t *thresholds, uint8_t *output)
{
    const int32_t in_c = p->in_c;
    if ((in_c & 3) != 0 || p->depth_multiplier != 1) {
        depthwise_conv2d_lowbit(p, input, filter, bias, mult, shift, output);
        return;
    }
    const int32_t bits = p->in_bits;
    const int32_t out_bits = p->out_bits;
    const int32_t levels = p->out_levels;
    const int32_t in_bytes = lowbit_pixel_bytes(in_c, bits);
    const int32_t out_bytes = lowbit_pixel_bytes(in_c, out_bits);
    const int32_t group_bytes = bits >> 1; /* bytes of four channels' codes: 4 * bits / 8 */
    const int32_t level_bias = lowbit_level_bias(bits, p->in_m_lo, p->input_offset);
    const uint32_t bias2 = (uint32_t)(uint16_t)level_bias | ((uint32_t)(uint16_t)level_bias << 16);
    const int32_t k = lowbit_level_shift(bits, p->in_shift);
    const int32_t pixels = p->out_h * p->out_w;

    for (int32_t i = 0; i < out_bytes * pixels; ++i) {
        output[i] = 0; /* codes are ORed into their bytes */
    }
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);
            uint8_t *out = output + (oy * p->out_w + ox) * out_bytes;
            for (int32_t c = 0; c < in_c; c += 4) {
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                const int32_t byte = (c >> 2) * group_bytes;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    const uint8_t *row = input + (iy0 + ky * p->dilation_h) * p->in_w * in_bytes + byte;
                    const int8_t *w_row = filter + ky * p->kernel_w * in_c + c;
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        uint32_t even, odd;
                        unpack4(row + (ix0 + kx * p->dilation_w) * in_bytes, bits, bias2, &even, &odd);
                        const uint32_t w = dsp_load_s8x4(w_row + kx * in_c);
                        const uint32_t we = dsp_sxtb16(w);
                        const uint32_t wo = dsp_sxtb16_ror8(w);
                        a0 += lo16(even) * lo16(we);
                        a2 += hi16(even) * hi16(we);
                        a1 += lo16(odd) * lo16(wo);
                        a3 += hi16(odd) * hi16(wo);
                    }
                }
                const int32_t acc[4] = {a0, a1, a2, a3};
                for (int32_t j = 0; j < 4; ++j) {
                    const int32_t oc = c + j;
                    int32_t code;
                    if (levels) {
                        code = lowbit_threshold_code(thresholds + oc * (levels + 2), levels, acc[j]);
                    } else {
                        int32_t r = lowbit_scaled_acc(acc[j], k, bias[oc]);
                        r = multiply_by_quantized_multiplier(r, mult[oc], shift[oc]) + p->output_offset;
                        code = lowbit_code(clamp_s32(r, p->act_min, p->act_max), out_bits, p->output_offset,
                                           p->out_shift, p->out_m_lo, p->out_m_hi);
                    }
                    const int32_t bit = oc * out_bits;
                    out[bit >> 3] = (uint8_t)(out[bit >> 3] | (code << (bit & 7)));
                }
            }
        }
    }
}
