/* SOFTMAX and LOG_SOFTMAX over the last axis of an int8 tensor, bit-exact with TFLite Micro's reference
 * kernels (gemmlowp fixed point: scaled differences in Q5.26, sum of exponentials in Q12.19), and the
 * float32 LOG_SOFTMAX of models that dequantize their logits first. */
#ifndef MCU_RUNTIME_SOFTMAX_S8_H
#define MCU_RUNTIME_SOFTMAX_S8_H

#include <stdint.h>

typedef struct {
    int32_t outer_size;       /* number of rows */
    int32_t depth;            /* row length (the last axis) */
    int32_t input_multiplier; /* beta * input_scale * 2^26, as a Q0.31 mantissa ... */
    int32_t input_left_shift; /* ... and a left shift */
    int32_t diff_min;         /* differences from the row maximum below this give exp() = 0 */
} softmax_s8_params_t;

typedef struct {
    int32_t outer_size;
    int32_t depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t reverse_scaling_divisor;     /* the inverse of the input scaling ... */
    int32_t reverse_scaling_right_shift; /* ... as mantissa and right shift */
    int32_t diff_min;
} log_softmax_s8_params_t;

typedef struct {
    int32_t outer_size;
    int32_t depth;
} log_softmax_f32_params_t;

/* Output scale 1/256, zero point -128. The output may alias the input. */
void softmax_s8(const softmax_s8_params_t *p, const int8_t *input, int8_t *output);

/* Output scale 16/256, zero point 127. The output may alias the input. */
void log_softmax_s8(const log_softmax_s8_params_t *p, const int8_t *input, int8_t *output);

/* TFLM's float reference, x - max - log(sum of exp(x - max)), with the correctly rounded mcu_expf/mcu_logf
 * (float_math.h), so no libm. The output may alias the input. */
void log_softmax_f32(const log_softmax_f32_params_t *p, const float *input, float *output);

#endif
