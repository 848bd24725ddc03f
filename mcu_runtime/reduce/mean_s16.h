/* MEAN of an int16 tensor (16x8) over a set of axes, requantized as TFLite Micro's QuantizedMeanOrSum.
 * Mirrors codegen/kernels/reduce/mean_s16.py (MeanS16Params, the fields of mean.py's MeanParams). */
#ifndef MCU_RUNTIME_MEAN_S16_H
#define MCU_RUNTIME_MEAN_S16_H

#include <stdint.h>

#define MEAN_S16_MAX_DIMS 6

typedef struct {
    /* The input viewed as d0..d5 (row-major, outermost first); bit i of reduce_mask marks d<i> summed.
     * The output holds the kept elements in the same row-major order. */
    int32_t d0, d1, d2, d3, d4, d5;
    int32_t reduce_mask;
    int32_t count; /* product of the reduced dims, < 2^15 so the int32 sum is exact */
    int32_t input_zp, output_zp;
    int32_t multiplier, shift; /* input_scale / output_scale / count */
} mean_s16_params_t;

void mean_s16(const mean_s16_params_t *p, const int16_t *input, int16_t *output);

#endif
