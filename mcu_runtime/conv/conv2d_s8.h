/* CONV_2D, int8 NHWC input/output, OHWI filter, per-output-channel requantization, batch 1.
 * Bit-exact with TFLite Micro's reference ConvPerChannel. */
#ifndef MCU_RUNTIME_CONV2D_S8_H
#define MCU_RUNTIME_CONV2D_S8_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;        /* leading padding (top, left); taps outside the input are skipped */
    int32_t input_offset;        /* -input zero point */
    int32_t output_offset;       /* output zero point */
    int32_t act_min, act_max;    /* fused activation clamp, in output quantized units */
} conv2d_s8_params_t;

/* mult/shift: one per output channel (shift > 0 shifts left). bias: int32 per output channel. */
void conv2d_s8(const conv2d_s8_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               const int32_t *mult, const int32_t *shift, int8_t *output);

#endif
