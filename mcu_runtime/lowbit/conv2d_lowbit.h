/* CONV_2D of the low-bit path: packed 2/4-bit (or int8) input codes, int8 OHWI filter, packed 2/4-bit (or int8)
 * output codes. Equal to conv2d_s8 on the read-back int8 values, requantized to the output format. */
#ifndef MCU_RUNTIME_CONV2D_LOWBIT_H
#define MCU_RUNTIME_CONV2D_LOWBIT_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;        /* leading padding; negative: a window into a larger buffer */
    int32_t input_offset;        /* -input zero point (8-bit input only) */
    int32_t output_offset;       /* output zero point */
    int32_t act_min, act_max;
    int32_t in_bits, in_shift, in_m_lo;
    int32_t out_bits, out_shift, out_m_lo, out_m_hi;
    int32_t out_levels;          /* DSP kernel: 2^out_bits - 1 when output codes come from thresholds, else 0 */
} conv2d_lowbit_params_t;

/* scratch: 2 * kernel_h * kernel_w * in_c bytes rounded up to 8, int16-aligned (one pixel's levels). */
void conv2d_lowbit(const conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter, const int32_t *bias,
                   const int32_t *mult, const int32_t *shift, uint8_t *output, int8_t *scratch);

/* The same with the DSP extension (SMLAD on int16 level pairs); portable C elsewhere. Twice the scratch.
 * thresholds: with out_levels > 0, per output channel {base, dir, t_1 .. t_out_levels} (ascending): the
 * output code is base + dir * #{j : sum(w m) >= t_j}, exactly what requantization gives (see
 * codegen/kernels/lowbit/thresholds.py); unused otherwise. */
void conv2d_lowbit_dsp(const conv2d_lowbit_params_t *p, const uint8_t *input, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, const int32_t *thresholds,
                       uint8_t *output, int8_t *scratch);

#endif
