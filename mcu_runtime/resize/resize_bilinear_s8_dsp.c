#include "resize_bilinear_s8_dsp.h"

#include "dsp_intrinsics.h"

/* The weighted sum divided by 2^20, rounded half away from zero (C's division truncates). */
static inline int8_t round_2_20(int32_t sum)
{
    const int32_t half = sum > 0 ? (1 << 19) : -(1 << 19);
    return (int8_t)((sum + half) / (1 << 20));
}

static inline int32_t low16(int32_t packed) { return (int32_t)(int16_t)(packed & 0xFFFF); }
static inline int32_t high16(int32_t packed) { return packed >> 16; }

#if MCU_HAS_DSP
/* Four channels: lanes 0/2 and 1/3 of each neighbour as int16, the column weights w = (wx1 << 16) | wx0. */
static inline void four_channels(const int8_t *a, const int8_t *b, const int8_t *c, const int8_t *d, int32_t w,
                                 int32_t wx0, int32_t wy0, int32_t wy1, int8_t *out)
{
    const uint32_t va = dsp_load_s8x4(a), vb = dsp_load_s8x4(b), vc = dsp_load_s8x4(c), vd = dsp_load_s8x4(d);
    const uint32_t a02 = dsp_sxtb16(va), a13 = dsp_sxtb16_ror8(va);
    const uint32_t b02 = dsp_sxtb16(vb), b13 = dsp_sxtb16_ror8(vb);
    const uint32_t c02 = dsp_sxtb16(vc), c13 = dsp_sxtb16_ror8(vc);
    const uint32_t d02 = dsp_sxtb16(vd), d13 = dsp_sxtb16_ror8(vd);
    /* top_k = a_k * wx0 + c_k * wx1: a's lane times wx0 (GCC emits SMULBB/SMULTB for these int16 products),
     * then SMLABT/SMLATT add c's lane times w's high half. */
    const int32_t t0 = __smlabt((int32_t)c02, w, low16((int32_t)a02) * wx0);
    const int32_t t2 = __smlatt((int32_t)c02, w, high16((int32_t)a02) * wx0);
    const int32_t t1 = __smlabt((int32_t)c13, w, low16((int32_t)a13) * wx0);
    const int32_t t3 = __smlatt((int32_t)c13, w, high16((int32_t)a13) * wx0);
    const int32_t u0 = __smlabt((int32_t)d02, w, low16((int32_t)b02) * wx0);
    const int32_t u2 = __smlatt((int32_t)d02, w, high16((int32_t)b02) * wx0);
    const int32_t u1 = __smlabt((int32_t)d13, w, low16((int32_t)b13) * wx0);
    const int32_t u3 = __smlatt((int32_t)d13, w, high16((int32_t)b13) * wx0);
    out[0] = round_2_20(t0 * wy0 + u0 * wy1);
    out[1] = round_2_20(t1 * wy0 + u1 * wy1);
    out[2] = round_2_20(t2 * wy0 + u2 * wy1);
    out[3] = round_2_20(t3 * wy0 + u3 * wy1);
}
#endif

void resize_bilinear_s8_dsp(const resize_bilinear_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows,
                            const int32_t *cols, int8_t *output)
{
    const int32_t depth = p->depth;
    int8_t *dst = output;
    for (int32_t n = 0; n < p->batches; ++n) {
        const int8_t *image = input + n * p->image_bytes;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int8_t *r0 = image + rows[3 * y];
            const int8_t *r1 = image + rows[3 * y + 1];
            const int32_t wy0 = low16(rows[3 * y + 2]), wy1 = high16(rows[3 * y + 2]);
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int32_t w = cols[3 * x + 2];
                const int32_t wx0 = low16(w), wx1 = high16(w);
                const int8_t *a = r0 + cols[3 * x], *c = r0 + cols[3 * x + 1];
                const int8_t *b = r1 + cols[3 * x], *d = r1 + cols[3 * x + 1];
                int32_t ch = 0;
#if MCU_HAS_DSP
                for (; ch + 4 <= depth; ch += 4) {
                    four_channels(a + ch, b + ch, c + ch, d + ch, w, wx0, wy0, wy1, dst + ch);
                }
#endif
                for (; ch < depth; ++ch) {
                    const int32_t top = a[ch] * wx0 + c[ch] * wx1;
                    const int32_t bottom = b[ch] * wx0 + d[ch] * wx1;
                    dst[ch] = round_2_20(top * wy0 + bottom * wy1);
                }
                dst += depth;
            }
        }
    }
}
