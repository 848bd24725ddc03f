/* SOFTMAX over the last axis with an int16 output (16x8), bit-exact with TFLite Micro's reference kernels.
 * Mirrors codegen/kernels/activation/softmax_s16.py (SoftmaxS16Params, SoftmaxS8S16Params). */
#ifndef MCU_RUNTIME_SOFTMAX_S16_H
#define MCU_RUNTIME_SOFTMAX_S16_H

#include <stdint.h>

typedef struct {
    int32_t outer_size;       /* number of rows */
    int32_t depth;            /* row length (the last axis) */
    int32_t input_multiplier; /* maps a difference from the row maximum to [-65535, 0] ~ [-10, 0] ... */
    int32_t input_left_shift; /* ... with this shift (> 0 shifts left) */
} softmax_s16_params_t;

typedef struct {
    int32_t outer_size;
    int32_t depth;
    int32_t input_multiplier; /* beta * input_scale * 2^26, as a Q0.31 mantissa ... */
    int32_t input_left_shift; /* ... and a left shift */
    int32_t diff_min;         /* differences from the row maximum below this give exp() = 0 */
} softmax_s8_s16_params_t;

/* int16 -> int16: input zero point 0, output scale 1/32768 and zero point 0. exp_lut and recip_lut are the
 * compiler's 513-entry tables of exp over [-10, 0] and 1/(1 + x) over [0, 1]. The output may alias the input
 * (it holds each row's exps until they are normalised, as TFLM does). */
void softmax_s16(const softmax_s16_params_t *p, const int16_t *input, const int16_t *exp_lut,
                 const int16_t *recip_lut, int16_t *output);

/* int8 -> int16: output scale 1/65536, zero point -32768 (the int8 algorithm with 16 output bits). */
void softmax_s8_s16(const softmax_s8_s16_params_t *p, const int8_t *input, int16_t *output);

#endif
