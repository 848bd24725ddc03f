/* FULLY_CONNECTED 16x8: int16 input/output (zero points 0), int8 [out][in] weights, one multiplier per output;
 * bit-exact with TFLite Micro's reference kernels. Same parameter struct as fully_connected_s8 (offsets 0).
 * Mirrors codegen/kernels/conv_s16/fully_connected_s16.py. */
#ifndef MCU_RUNTIME_FULLY_CONNECTED_S16_H
#define MCU_RUNTIME_FULLY_CONNECTED_S16_H

#include <stdint.h>

#include "fully_connected_s8.h"

/* int64 bias (zeros when none): int64 accumulator, the int64 MultiplyByQuantizedMultiplier. */
void fully_connected_s16(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                         const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

/* int32 bias: int32 accumulator, the int32 MultiplyByQuantizedMultiplier (double rounding). */
void fully_connected_s16_b32(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
