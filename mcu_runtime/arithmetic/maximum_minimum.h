/* MAXIMUM and MINIMUM of two int8 or two int16 tensors with NumPy broadcasting up to 4-D, as TFLite Micro:
 * raw values compare, the quantization is not looked at. Operand order and in-place rule as elementwise_s8.h. */
#ifndef MCU_RUNTIME_MAXIMUM_MINIMUM_H
#define MCU_RUNTIME_MAXIMUM_MINIMUM_H

#include <stdint.h>

typedef struct {
    /* Same leading members as add_s8_params_t; offsets and bounds are not used. */
    int32_t broadcast;
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
} minmax_params_t;

void maximum_s8(const minmax_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void minimum_s8(const minmax_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void maximum_s16(const minmax_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);
void minimum_s16(const minmax_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif
