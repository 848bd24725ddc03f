/* QUANTIZE with int16 or int32 on either side, float32 -> int16 and DEQUANTIZE int16 -> float32, bit-exact with TFLite Micro's reference
 * kernels. Same parameter structs as quantize.h (codegen/kernels/arithmetic/quantize_s16.py). */
#ifndef MCU_RUNTIME_QUANTIZE_S16_H
#define MCU_RUNTIME_QUANTIZE_S16_H

#include <stdint.h>

#include "quantize.h"

void quantize_f32_s16(const quantize_f32_s8_params_t *p, const float *input, int16_t *output);

/* y = (float)((double)scale * (x - zero_point)), as dequantize_s8_f32. */
void dequantize_s16_f32(const dequantize_s8_f32_params_t *p, const int16_t *input, float *output);

/* y = clamp((x - in_zp) * multiplier * 2^shift + out_zp), int32 arithmetic wrapping as in TFLite. */
void requantize_s8_s16(const requantize_s8_params_t *p, const int8_t *input, int16_t *output);
void requantize_s8_s32(const requantize_s8_params_t *p, const int8_t *input, int32_t *output);
void requantize_s16_s8(const requantize_s8_params_t *p, const int16_t *input, int8_t *output);
void requantize_s16_s16(const requantize_s8_params_t *p, const int16_t *input, int16_t *output);
void requantize_s16_s32(const requantize_s8_params_t *p, const int16_t *input, int32_t *output);
void requantize_s32_s8(const requantize_s8_params_t *p, const int32_t *input, int8_t *output);
void requantize_s32_s16(const requantize_s8_params_t *p, const int32_t *input, int16_t *output);

#endif
