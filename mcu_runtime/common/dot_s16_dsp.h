/* The dot product of the 16x8 DSP kernels (conv2d_s16_dsp, fully_connected_s16_dsp): int16 inputs times int8
 * weights re-laid out in groups of four as {w0, w2, w1, w3}, so that SXTB16 of a weight word gives the int16
 * pair {w0, w1} and SXTB16 of it rotated by 8 gives {w2, w3}, matching two int16 input words {x0, x1},
 * {x2, x3}: SMLALD accumulates each pair into 64 bits, exactly (every product is below 2^22 in magnitude).
 * Four MACs take one weight load, two input loads, two SXTB16 and two SMLALD. A tail of n % 4 values keeps
 * the model's order. Mirrors relay_groups in codegen/kernels/conv_s16/conv2d_s16_dsp.py. */
#ifndef MCU_RUNTIME_DOT_S16_DSP_H
#define MCU_RUNTIME_DOT_S16_DSP_H

#include <stdint.h>

#include "dsp_intrinsics.h"

DSP_INLINE int64_t dot_s16_dsp(const int16_t *x, const int8_t *w, int32_t n, int64_t acc)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t wq = dsp_load_s8x4(w + i);
        acc = dsp_smlald(dsp_load_s16x2(x + i), dsp_sxtb16(wq), acc);
        acc = dsp_smlald(dsp_load_s16x2(x + i + 2), dsp_sxtb16_ror8(wq), acc);
    }
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}

/* Two weight rows against the same inputs: each input word loaded once feeds both (17 instructions per 8 MACs
 * in the loop instead of 22). */
DSP_INLINE void dot2_s16_dsp(const int16_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int64_t *acc0,
                             int64_t *acc1)
{
    int64_t a0 = *acc0;
    int64_t a1 = *acc1;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t x01 = dsp_load_s16x2(x + i);
        const uint32_t x23 = dsp_load_s16x2(x + i + 2);
        const uint32_t q0 = dsp_load_s8x4(w0 + i);
        const uint32_t q1 = dsp_load_s8x4(w1 + i);
        a0 = dsp_smlald(x01, dsp_sxtb16(q0), a0);
        a1 = dsp_smlald(x01, dsp_sxtb16(q1), a1);
        a0 = dsp_smlald(x23, dsp_sxtb16_ror8(q0), a0);
        a1 = dsp_smlald(x23, dsp_sxtb16_ror8(q1), a1);
    }
    for (; i < n; ++i) {
        a0 += (int32_t)x[i] * (int32_t)w0[i];
        a1 += (int32_t)x[i] * (int32_t)w1[i];
    }
    *acc0 = a0;
    *acc1 = a1;
}

#endif
