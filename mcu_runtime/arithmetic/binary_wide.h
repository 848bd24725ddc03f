/* ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM of int32 (wrapping; DIV truncating, x / 0 = 0, INT32_MIN / -1 =
 * INT32_MIN) and of float32 (IEEE single; float MUL is mul_f32.h's)
 * tensors with broadcasting over 4 dims, then the fused activation, as TFLite Micro computes them. */
#ifndef MCU_RUNTIME_BINARY_WIDE_H
#define MCU_RUNTIME_BINARY_WIDE_H

#include <stdint.h>

enum { BINARY_ADD = 0, BINARY_SUB = 1, BINARY_MUL = 2, BINARY_MAXIMUM = 3, BINARY_MINIMUM = 4, BINARY_DIV = 5 };

typedef struct {
    int32_t op;         /* BINARY_* */
    int32_t swapped;    /* 1: `first` is the operator's second operand (a constant first operand comes last) */
    int32_t activation; /* 0 none, 1 relu, 2 relu6, 3 relu_n1_to_1 (not for MAXIMUM, MINIMUM) */
    int32_t d0, d1, d2, d3;
    int32_t a0, a1, a2, a3; /* element strides of `first` per output dim (0: broadcast) */
    int32_t b0, b1, b2, b3; /* of `second` */
} binary_wide_params_t;

void binary_i32(const binary_wide_params_t *p, const int32_t *first, const int32_t *second, int32_t *output);
void binary_f32(const binary_wide_params_t *p, const float *first, const float *second, float *output);

#endif
