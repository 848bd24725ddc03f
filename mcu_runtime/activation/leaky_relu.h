/* LEAKY_RELU of int8 or int16 tensors (TFLite Micro's QuantizeLeakyRelu).
 * Mirrors codegen/kernels/activation/leaky_relu.py (LeakyReluParams). */
#ifndef MCU_RUNTIME_LEAKY_RELU_H
#define MCU_RUNTIME_LEAKY_RELU_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t input_zero_point, output_zero_point;
    int32_t identity_multiplier, identity_shift;
    int32_t alpha_multiplier, alpha_shift; /* the multiplier may be negative */
} leaky_relu_params_t;

void leaky_relu_s8(const leaky_relu_params_t *p, const int8_t *input, int8_t *output);
void leaky_relu_s16(const leaky_relu_params_t *p, const int16_t *input, int16_t *output);

#endif
