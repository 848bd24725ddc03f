/* ADD and MUL of two int8 tensors, TFLite Micro reference arithmetic, NumPy broadcasting up to 4-D.
 *
 * Argument order: input1, input2 are the op's operands with the non-constant ones first and the
 * constant ones after (the compiler swaps the two, with their quantization, when only the model's
 * first operand is constant; both ops commute exactly). The output may be the same buffer as input1
 * when broadcast == 0 (each element is read before it is written). */
#ifndef MCU_RUNTIME_ELEMENTWISE_S8_H
#define MCU_RUNTIME_ELEMENTWISE_S8_H

#include <stdint.h>

typedef struct {
    /* Shapes right-aligned and extended to 4-D with leading 1s; an operand dim of 1 repeats along the
     * output's. broadcast == 0: both operands have the output's shape. */
    int32_t broadcast;
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t in1_d0, in1_d1, in1_d2, in1_d3;
    int32_t in2_d0, in2_d1, in2_d2, in2_d3;
    int32_t input1_offset; /* -zero point */
    int32_t input2_offset;
    int32_t output_offset; /* +zero point */
    int32_t act_min, act_max;
    int32_t left_shift; /* 20: headroom before rescaling both operands to a common scale */
    int32_t input1_multiplier, input1_shift; /* shifts <= 0 */
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
} add_s8_params_t;

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
    int32_t output_multiplier, output_shift; /* shift > 0 shifts left */
} mul_s8_params_t;

/* One row of n elements; stride 0 repeats a broadcast operand. out may equal a when sa == 1. */
typedef void (*row_fn_t)(const void *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb,
                         int8_t *out, int32_t n);

/* The broadcasting walk every int8 binary kernel shares (MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, PRELU too):
 * dims are 4-D, right-aligned, an operand dim of 1 repeats; row() gets each innermost row whole. */
void broadcast_4d(const void *p, const int32_t out_dims[4], const int32_t in1_dims[4], const int32_t in2_dims[4],
                  const int8_t *input1, const int8_t *input2, int8_t *output, row_fn_t row);
/* The same walk over elements of elem_bytes bytes (2: int16 kernels cast the row pointers back). */
void broadcast_4d_sized(const void *p, int32_t elem_bytes, const int32_t out_dims[4], const int32_t in1_dims[4],
                        const int32_t in2_dims[4], const int8_t *input1, const int8_t *input2, int8_t *output,
                        row_fn_t row);

void add_s8(const add_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void mul_s8(const mul_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
