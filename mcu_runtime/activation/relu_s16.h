/* Standalone RELU and RELU6 on int16 tensors, bit-exact with TFLite Micro: RELU requantizes then clamps to
 * [act_min, act_max]; RELU6 (requantize == 0) clamps the raw value. */
#ifndef MCU_RUNTIME_RELU_S16_H
#define MCU_RUNTIME_RELU_S16_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t requantize; /* 1: RELU's rescaling, 0: RELU6's plain clamp */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift; /* input_scale / output_scale (RELU) */
    int32_t act_min, act_max;
} relu_s16_params_t;

/* The output may alias the input. */
void relu_s16(const relu_s16_params_t *p, const int16_t *input, int16_t *output);

#endif
