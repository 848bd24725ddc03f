/* DEPTHWISE_CONV_2D 16x8 on cores with the DSP extension: depthwise_conv2d_s16 with each filter tap's output
 * channels re-laid out in groups of four as {w0, w2, w1, w3}, bit-identical to it. Depth multiplier 1, 2 or a
 * multiple of 4. Mirrors codegen/kernels/conv_s16/depthwise_conv2d_s16_dsp.py. */
#ifndef MCU_RUNTIME_DEPTHWISE_CONV2D_S16_DSP_H
#define MCU_RUNTIME_DEPTHWISE_CONV2D_S16_DSP_H

#include <stdint.h>

#include "depthwise_conv2d_s8.h"

/* Taps one int32 partial sum may hold exactly: each product is at most 2^22 in magnitude. */
#define DW16_DSP_MAX_TAPS 511

void depthwise_conv2d_s16_dsp(const depthwise_conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                              const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
