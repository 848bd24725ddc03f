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
    int32_t rows, cols, channels;
    int32_t first;              /* 1: zero the sum vectors this patch adds to first */
    int32_t row_step, col_step; /* sum vector of patch pixel (i, j): base + i * row_step + j * col_step */
    int32_t base;
    int32_t lines; /* sum vectors in all */
} mean_lines_s8_params_t;

/* Sums per row or per column of a patch (a MEAN over H alone, or W alone, summed patch by patch):
 * sums[(base + i * row_step + j * col_step) * channels + c] (+)= input[(i * cols + j) * channels + c]. */
void mean_lines_s8(const mean_lines_s8_params_t *p, const int8_t *input, int32_t *sums);

typedef struct {
    int32_t channels, count;
    int32_t input_zp, output_zp;
    int32_t multiplier, shift; /* the MEAN's: input_scale / output_scale / count */
} mean_finish_s8_params_t;

void mean_finish_s8(const mean_finish_s8_params_t *p, const int32_t *sums, int8_t *output);

#endif
