/* SUB of int8 or int16 tensors and ADD of int16 tensors, TFLite Micro's general quantized path, with NumPy
 * broadcasting over 4 dimensions. Mirrors codegen/kernels/arithmetic/add_sub.py (AddSubParams). */
#ifndef MCU_RUNTIME_ADD_SUB_H
#define MCU_RUNTIME_ADD_SUB_H

#include <stdint.h>

typedef struct {
    int32_t broadcast; /* 0: both operands have the output's shape */
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t act_min, act_max;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t swapped; /* SUB: 1 computes input2 - input1 */
} add_sub_params_t;

void sub_s8(const add_sub_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void sub_s16(const add_sub_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);
void add_s16(const add_sub_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif
