/* An int8 -> int8 element-wise function as a 256-entry table (RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, TANH,
 * RSQRT).
 *
 * The compiler fills table[v + 128] with TFLite Micro's integer result for input v, so the kernel is
 * exact whatever the op; see codegen/kernels/activation/unary_lut.py. */
#ifndef MCU_RUNTIME_LUT_S8_H
#define MCU_RUNTIME_LUT_S8_H

#include <stdint.h>

typedef struct {
    int32_t size; /* number of elements */
} lut_s8_params_t;

/* The output may alias the input (each element is read before it is written). */
void lut_s8(const lut_s8_params_t *p, const int8_t *input, const int8_t *table, int8_t *output);

#endif
