/* MEAN of an int8 tensor over a set of axes, requantized as TFLite Micro's QuantizedMeanOrSum. */
#ifndef MCU_RUNTIME_MEAN_S8_H
#define MCU_RUNTIME_MEAN_S8_H

#include <stdint.h>

#define MEAN_S8_MAX_DIMS 6

typedef struct {
    /* The input viewed as d0..d5 (row-major, outermost first); bit i of reduce_mask marks d<i> summed.
     * The output holds the kept elements in the same row-major order. */
    int32_t d0, d1, d2, d3, d4, d5;
    int32_t reduce_mask;
    int32_t count; /* product of the reduced dims */
    int32_t input_zp, output_zp;
    int32_t multiplier, shift; /* input_scale / output_scale / count */
} mean_s8_params_t;

void mean_s8(const mean_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
