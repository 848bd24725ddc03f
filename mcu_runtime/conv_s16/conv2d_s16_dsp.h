/* CONV_2D 16x8 on cores with the DSP extension: conv2d_s16 / conv2d_s16_b32 with the filter's input channels
 * re-laid out in groups of four per filter tap (dot_s16_dsp.h), bit-identical to them. Mirrors
 * codegen/kernels/conv_s16/conv2d_s16_dsp.py. */
#ifndef MCU_RUNTIME_CONV2D_S16_DSP_H
#define MCU_RUNTIME_CONV2D_S16_DSP_H

#include <stdint.h>

#include "conv2d_s8.h"

void conv2d_s16_dsp(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                    const int32_t *mult, const int32_t *shift, int16_t *output);

void conv2d_s16_b32_dsp(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
