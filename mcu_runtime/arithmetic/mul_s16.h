/* MUL of two int16 tensors with zero point 0 (TFLite's 16x8 scheme), TFLite Micro reference arithmetic,
 * NumPy broadcasting up to 4-D. Mirrors codegen/kernels/arithmetic/mul_s16.py (MulS16Params).
 *
 * The non-constant operands come first; the output may be the same buffer as input1 when broadcast == 0. */
#ifndef MCU_RUNTIME_MUL_S16_H
#define MCU_RUNTIME_MUL_S16_H

#include <stdint.h>

typedef struct {
    int32_t broadcast; /* 0: both operands have the output's shape */
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset, input2_offset, output_offset; /* all 0 for int16 */
    int32_t act_min, act_max;
    int32_t output_multiplier, output_shift; /* shift > 0 shifts left */
} mul_s16_params_t;

void mul_s16(const mul_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif
