/* DEPTHWISE_CONV_2D of the low-bit path: packed 2/4-bit (or int8) input codes, int8 1HW(I*M) filter, packed
 * 2/4-bit (or int8) output codes. Equal to depthwise_conv2d_s8 on the read-back int8 values, requantized. */
#ifndef MCU_RUNTIME_DEPTHWISE_CONV2D_LOWBIT_H
#define MCU_RUNTIME_DEPTHWISE_CONV2D_LOWBIT_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t depth_multiplier;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t in_bits, in_shift, in_m_lo;
    int32_t out_bits, out_shift, out_m_lo, out_m_hi;
    int32_t out_levels;          /* DSP kernel: as in conv2d_lowbit_params_t */
} depthwise_conv2d_lowbit_params_t;

void depthwise_conv2d_lowbit(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input,
                             const int8_t *filter, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             uint8_t *output);

/* The same with the DSP extension for in_c % 4 == 0 and depth multiplier 1 (the others take the portable
 * kernel): four channels per pass, codes unpacked to int16 pairs, output codes from thresholds as
 * conv2d_lowbit_dsp. */
void depthwise_conv2d_lowbit_dsp(const depthwise_conv2d_lowbit_params_t *p, const uint8_t *input,
                                 const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, const int32_t *thresholds, uint8_t *output);

#endif
