/* DEPTHWISE_CONV_2D 16x8: int16 NHWC input/output (zero points 0), int8 1HW(I*M) filter, int64 bias, batch 1;
 * bit-exact with TFLite Micro's reference DepthwiseConvPerChannel for int16. Same parameter struct as
 * depthwise_conv2d_s8 (offsets 0). Mirrors codegen/kernels/conv_s16/depthwise_conv2d_s16.py. */
#ifndef MCU_RUNTIME_DEPTHWISE_CONV2D_S16_H
#define MCU_RUNTIME_DEPTHWISE_CONV2D_S16_H

#include <stdint.h>

#include "depthwise_conv2d_s8.h"

void depthwise_conv2d_s16(const depthwise_conv2d_s8_params_t *p, const int16_t *input, const int8_t *filter,
                          const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
