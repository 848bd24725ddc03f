/* LOGISTIC (sigmoid) of an int8 tensor, bit-exact with TFLite Micro's reference integer kernel:
 * inputs rescaled to Q4.27, gemmlowp's fixed-point logistic, output scale 1/256, zero point -128. */
#ifndef MCU_RUNTIME_LOGISTIC_S8_H
#define MCU_RUNTIME_LOGISTIC_S8_H

#include <stdint.h>

typedef struct {
    int32_t size;               /* number of elements */
    int32_t input_zero_point;
    int32_t input_range_radius; /* |input - zero point| >= radius saturates the output */
    int32_t input_multiplier;   /* input_scale * 2^27 as a Q0.31 mantissa ... */
    int32_t input_left_shift;   /* ... and a left shift */
} logistic_s8_params_t;

/* The output may alias the input. */
void logistic_s8(const logistic_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
