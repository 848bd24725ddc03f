/* SOFTMAX over the last axis from int8 to int16 (output scale 1/65536, zero point -32768), bit-exact with
 * TFLite Micro's reference: gemmlowp fixed point, scaled differences in Q5.26, sum of exps in Q12.19. */
#ifndef MCU_RUNTIME_SOFTMAX_S8_S16_H
#define MCU_RUNTIME_SOFTMAX_S8_S16_H

#include <stdint.h>

typedef struct {
    int32_t outer_size;       /* number of rows */
    int32_t depth;            /* row length (the last axis) */
    int32_t input_multiplier; /* beta * input_scale * 2^26, as a Q0.31 mantissa ... */
    int32_t input_left_shift; /* ... and a left shift */
    int32_t diff_min;         /* differences from the row maximum below this give exp() = 0 */
} softmax_s8_s16_params_t;

void softmax_s8_s16(const softmax_s8_s16_params_t *p, const int8_t *input, int16_t *output);

#endif
