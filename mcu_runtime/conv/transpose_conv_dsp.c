#include "transpose_conv_dsp.h"

#include "dot_s16_dsp.h"
#include "dsp_intrinsics.h"
#include "fixedpoint_s64.h"

/* sum over n channels of (x + offset) * w, added to acc modulo 2^32; off2 holds the offset in both int16 lanes. */
static inline uint32_t dot_s8_dsp(const int8_t *x, const int8_t *w, int32_t n, uint32_t off2, int32_t offset,
                                  uint32_t acc)
{
    int32_t i = 0;
    int32_t a = (int32_t)acc;
    for (; i + 4 <= n; i += 4) {
        const uint32_t xq = dsp_load_s8x4(x + i);
        const uint32_t wq = dsp_load_s8x4(w + i);
        a = dsp_smlad(dsp_sxtab16(off2, xq), dsp_sxtb16(wq), a);
        a = dsp_smlad(dsp_sxtab16(off2, dsp_ror8(xq)), dsp_sxtb16_ror8(wq), a);
    }
    uint32_t sum = (uint32_t)a;
    for (; i < n; ++i) {
        sum += (uint32_t)(((int32_t)x[i] + offset) * (int32_t)w[i]);
    }
    return sum;
}

/* The first filter row (or column) reaching output row o: (o + pad) mod stride; then every stride-th. */
static inline int32_t first_tap(int32_t o, int32_t pad, int32_t stride)
{
    return (o + pad) % stride;
}

/* Two filter rows against the same inputs (each input word loaded and offset once for both). */
static inline void dot2_s8_dsp(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, uint32_t off2,
                               int32_t offset, uint32_t *acc)
{
    int32_t i = 0;
    int32_t a0 = (int32_t)acc[0];
    int32_t a1 = (int32_t)acc[1];
    for (; i + 4 <= n; i += 4) {
        const uint32_t xq = dsp_load_s8x4(x + i);
        const uint32_t x02 = dsp_sxtab16(off2, xq);
        const uint32_t x13 = dsp_sxtab16(off2, dsp_ror8(xq));
        const uint32_t q0 = dsp_load_s8x4(w0 + i);
        const uint32_t q1 = dsp_load_s8x4(w1 + i);
        a0 = dsp_smlad(x02, dsp_sxtb16(q0), a0);
        a1 = dsp_smlad(x02, dsp_sxtb16(q1), a1);
        a0 = dsp_smlad(x13, dsp_sxtb16_ror8(q0), a0);
        a1 = dsp_smlad(x13, dsp_sxtb16_ror8(q1), a1);
    }
    uint32_t s0 = (uint32_t)a0;
    uint32_t s1 = (uint32_t)a1;
    for (; i < n; ++i) {
        s0 += (uint32_t)(((int32_t)x[i] + offset) * (int32_t)w0[i]);
        s1 += (uint32_t)(((int32_t)x[i] + offset) * (int32_t)w1[i]);
    }
    acc[0] = s0;
    acc[1] = s1;
}

/* The taps of output pixel (oy, ox) for channel oc and, when `pair`, oc + 1: int8 sums into acc8 (modulo 2^32)
 * or 16x8 sums into acc16. */
static void gather(const transpose_conv_params_t *p, const void *input, const int8_t *filter, int32_t oy,
                   int32_t ox, int32_t oc, int32_t pair, uint32_t *acc8, int64_t *acc16)
{
    const uint32_t off2 = (uint32_t)(uint16_t)(int16_t)p->input_offset
                          | ((uint32_t)(uint16_t)(int16_t)p->input_offset << 16);
    const int32_t filter_size = p->kernel_h * p->kernel_w * p->in_c;
    for (int32_t ky = first_tap(oy, p->pad_h, p->stride_h); ky < p->kernel_h; ky += p->stride_h) {
        const int32_t iy = (oy + p->pad_h - ky) / p->stride_h;
        if (iy < 0 || iy >= p->in_h) {
            continue;
        }
        for (int32_t kx = first_tap(ox, p->pad_w, p->stride_w); kx < p->kernel_w; kx += p->stride_w) {
            const int32_t ix = (ox + p->pad_w - kx) / p->stride_w;
            if (ix < 0 || ix >= p->in_w) {
                continue;
            }
            const int32_t at = (iy * p->in_w + ix) * p->in_c;
            const int8_t *w = filter + ((oc * p->kernel_h + ky) * p->kernel_w + kx) * p->in_c;
            if (acc8 != 0) {
                const int8_t *x = (const int8_t *)input + at;
                if (pair) {
                    dot2_s8_dsp(x, w, w + filter_size, p->in_c, off2, p->input_offset, acc8);
                } else {
                    acc8[0] = dot_s8_dsp(x, w, p->in_c, off2, p->input_offset, acc8[0]);
                }
            } else {
                const int16_t *x = (const int16_t *)input + at;
                if (pair) {
                    dot2_s16_dsp(x, w, w + filter_size, p->in_c, &acc16[0], &acc16[1]);
                } else {
                    acc16[0] = dot_s16_dsp(x, w, p->in_c, acc16[0]);
                }
            }
        }
    }
}

void transpose_conv_s8_dsp(const transpose_conv_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output)
{
    int8_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                const int32_t pair = oc + 1 < p->out_c;
                uint32_t acc[2] = {0, 0};
                gather(p, input, filter, oy, ox, oc, pair, acc, 0);
                for (int32_t k = 0; k <= pair; ++k) {
                    const uint32_t sum = acc[k] + (uint32_t)bias[oc + k];
                    const int32_t y = multiply_by_quantized_multiplier((int32_t)sum, mult[oc + k], shift[oc + k])
                                      + p->output_offset;
                    *out++ = (int8_t)clamp_s32(y, p->act_min, p->act_max);
                }
            }
        }
    }
}

void transpose_conv_s16_dsp(const transpose_conv_params_t *p, const int16_t *input, const int8_t *filter,
                            const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output)
{
    int16_t *out = output;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                const int32_t pair = oc + 1 < p->out_c;
                int64_t acc[2] = {bias[oc], pair ? bias[oc + 1] : 0};
                gather(p, input, filter, oy, ox, oc, pair, 0, acc);
                for (int32_t k = 0; k <= pair; ++k) {
                    const int32_t y = multiply_by_quantized_multiplier_s64(acc[k], mult[oc + k], shift[oc + k]);
                    *out++ = (int16_t)clamp_s32(y, p->act_min, p->act_max);
                }
            }
        }
    }
}
