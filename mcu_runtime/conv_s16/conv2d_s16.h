/* CONV_2D 16x8: int16 NHWC input/output (zero points 0), int8 OHWI filter, per-output-channel requantization,
 * batch 1; bit-exact with TFLite Micro's reference ConvPerChannel for int16. Same parameter struct as conv2d_s8
 * (its offsets are 0). Mirrors codegen/kernels/conv_s16/conv2d_s16.py. */
#ifndef MCU_RUNTIME_CONV2D_S16_H
#define MCU_RUNTIME_CONV2D_S16_H

#include <stdint.h>

#include "conv2d_s8.h"

/* int64 bias (zeros when the model has none): int64 accumulator, the int64 MultiplyByQuantizedMultiplier. */
void conv2d_s16(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                const int32_t *mult, const int32_t *shift, int16_t *output);

/* int32 bias: int32 accumulator and the int32 MultiplyByQuantizedMultiplier (double rounding). */
void conv2d_s16_b32(const conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter, const int32_t *bias,
                    const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
