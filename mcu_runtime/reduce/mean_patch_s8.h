/* An int8 MEAN over H and W summed patch by patch, requantized once (a squeeze-and-excite in patch-based stage 1). */
#ifndef MCU_RUNTIME_MEAN_PATCH_S8_H
#define MCU_RUNTIME_MEAN_PATCH_S8_H

#include <stdint.h>

typedef struct {
    int32_t pixels, channels;
    int32_t first; /* 1: this patch starts the sums */
} mean_sum_s8_params_t;

/* sums[c] (+)= the patch's values of channel c. */
void mean_sum_s8(const mean_sum_s8_params_t *p, const int8_t *input, int32_t *sums);

typedef struct {
    int32_t channels, count;
    int32_t input_zp, output_zp;
    int32_t multiplier, shift; /* the MEAN's: input_scale / output_scale / count */
} mean_finish_s8_params_t;

void mean_finish_s8(const mean_finish_s8_params_t *p, const int32_t *sums, int8_t *output);

#endif
