/* MUL of float32 tensors: one IEEE single multiply per element, then the fused activation (TFLM's float MUL). */
#ifndef MCU_RUNTIME_MUL_F32_H
#define MCU_RUNTIME_MUL_F32_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t a_step;     /* 1, or 0: a holds one value for every output */
    int32_t b_step;
    int32_t activation; /* 0 none ([-FLT_MAX, FLT_MAX]), 1 relu, 2 relu6, 3 relu_n1_to_1 */
} mul_f32_params_t;

void mul_f32(const mul_f32_params_t *p, const float *a, const float *b, float *output);

#endif
