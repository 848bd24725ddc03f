/* TRANSPOSE_CONV, int8 and 16x8, NHWC, filter [out_c][kernel_h][kernel_w][in_c], batch 1; bit-exact with
 * TFLite Micro's reference kernels. Each output gathers the products TFLM scatters into it (no scratch).
 * Mirrors codegen/kernels/conv/transpose_conv.py (TransposeConvParams). */
#ifndef MCU_RUNTIME_TRANSPOSE_CONV_H
#define MCU_RUNTIME_TRANSPOSE_CONV_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t input_offset;  /* -input zero point (0 for 16x8) */
    int32_t output_offset; /* output zero point (0 for 16x8) */
    int32_t act_min, act_max;
} transpose_conv_params_t;

/* int32 accumulator and bias, TFLite's MultiplyByQuantizedMultiplier per output channel. */
void transpose_conv_s8(const transpose_conv_params_t *p, const int8_t *input, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output);

/* int64 accumulator and bias, the int64 MultiplyByQuantizedMultiplier (shift <= 7). */
void transpose_conv_s16(const transpose_conv_params_t *p, const int16_t *input, const int8_t *filter,
                        const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
