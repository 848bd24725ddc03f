/* L2_NORMALIZATION of an int8 tensor along its last dimension, bit-exact with TFLite Micro: per row the sum
 * of squares, TFLite's fixed-point inverse square root, output scale 1/128 and zero point 0. */
#ifndef MCU_RUNTIME_L2_NORMALIZATION_S8_H
#define MCU_RUNTIME_L2_NORMALIZATION_S8_H

#include <stdint.h>

typedef struct {
    int32_t outer; /* rows */
    int32_t depth; /* elements per row (the last dimension) */
    int32_t input_zero_point;
} l2_normalization_s8_params_t;

/* The output may alias the input (a row is summed before any of it is written). */
void l2_normalization_s8(const l2_normalization_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
