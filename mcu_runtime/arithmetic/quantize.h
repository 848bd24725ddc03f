/* The model's edges and type changes: QUANTIZE float32 -> int8, QUANTIZE int8 -> int8 (requantize) and
 * DEQUANTIZE int8 -> float32, each bit-exact with TFLite Micro's reference kernels. */
#ifndef MCU_RUNTIME_QUANTIZE_H
#define MCU_RUNTIME_QUANTIZE_H

#include <stdint.h>

typedef struct {
    int32_t size;
    float scale;  /* output scale, exactly the tensor's float32 */
    int32_t zero_point;
} quantize_f32_s8_params_t;

/* q = clamp(round_half_away(x / scale) + zero_point), the division in float32 as TFLite does it. */
void quantize_f32_s8(const quantize_f32_s8_params_t *p, const float *input, int8_t *output);

typedef struct {
    int32_t size;
    int32_t multiplier;  /* QuantizeMultiplier(double(in_scale) / double(out_scale)) */
    int32_t shift;
    int32_t input_zero_point;
    int32_t output_zero_point;
} requantize_s8_params_t;

void requantize_s8(const requantize_s8_params_t *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size;
    float scale;  /* input scale, exactly the tensor's float32; widened to double as TFLite does */
    int32_t zero_point;
} dequantize_s8_f32_params_t;

/* y = (float)((double)scale * (x - zero_point)). */
void dequantize_s8_f32(const dequantize_s8_f32_params_t *p, const int8_t *input, float *output);

#endif
