/* PRELU of an int8 tensor with an int8 alpha, TFLite Micro's arithmetic, NumPy broadcasting up to 4-D.
 * input1 is the input, input2 alpha; the output may be the input's buffer when broadcast == 0. */
#ifndef MCU_RUNTIME_PRELU_S8_H
#define MCU_RUNTIME_PRELU_S8_H

#include <stdint.h>

typedef struct {
    /* Same leading members as add_s8_params_t. */
    int32_t broadcast;
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset; /* -input zero point */
    int32_t input2_offset; /* -alpha zero point */
    int32_t output_offset; /* +zero point */
    int32_t act_min, act_max;
    int32_t output_multiplier_1, output_shift_1; /* input >= zero point: s_in / s_out */
    int32_t output_multiplier_2, output_shift_2; /* below: s_in * s_alpha / s_out */
} prelu_s8_params_t;

void prelu_s8(const prelu_s8_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output);

#endif
