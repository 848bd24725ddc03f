/* SQUARED_DIFFERENCE of two int8 tensors, TFLite Micro's arithmetic, NumPy broadcasting up to 4-D.
 * Operand order and in-place rule as elementwise_s8.h. */
#ifndef MCU_RUNTIME_SQUARED_DIFFERENCE_S8_H
#define MCU_RUNTIME_SQUARED_DIFFERENCE_S8_H

#include <stdint.h>

typedef struct {
    /* Same leading members as add_s8_params_t. */
    int32_t broadcast;
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset; /* -zero point */
    int32_t input2_offset;
    int32_t output_offset; /* +zero point */
    int32_t act_min, act_max;
    int32_t left_shift; /* 7 */
    int32_t input1_multiplier, input1_shift; /* shifts <= 0 */
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
} squared_difference_s8_params_t;

void squared_difference_s8(const squared_difference_s8_params_t *p, const int8_t *input1, const int8_t *input2,
                           int8_t *output);

#endif
