/* The dot product of the 16x8 DSP kernels (conv2d_s16_dsp, fully_connected_s16_dsp): int16 inputs times int8
 * weights re-laid out in groups of four as {w0, w2, w1, w3}, so that SXTB16 of a weight word gives the int16
 * pair {w0, w1} and SXTB16 of it rotated by 8 gives {w2, w3}, matching two int16 input words {x0, x1},
 * {x2, x3}: SMLALD accumulates each pair into 64 bits, exactly (every product is below 2^22 in magnitude).
 * Four MACs take one weight load, two input loads, two SXTB16 and two SMLALD. A tail of n % 4 values keeps
 * the model's order. Mirrors relay_groups in codegen/kernels/conv/conv2d_s16_dsp.py. */
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
        acc = dsp_smlald(dsp_load_s16x2(x + i + 2), dsp_sxtb16(dsp_ror8(wq)), acc);
    }
    for (; i < n; ++i) {
        acc += (int32_t)x[i] * (int32_t)w[i];
    }
    return acc;
}

#endif
