/* DEPTHWISE_CONV_2D on the Cortex-M DSP extension (SXTB16/SXTAB16 + SMLAxy, SMMLAR), bit-exact with
 * depthwise_conv2d_s8 / TFLite Micro's DepthwiseConvPerChannel, for depth multiplier 1 or a multiple of 4.
 *
 * Four output channels are computed together: one 32-bit load gives a tap's four input channels (NHWC), two
 * sign-extensions split them into int16 pairs {c0, c2} and {c1, c3}, and four 16x16 MACs use a filter word
 * pair laid out to match. With depth multiplier M = 4k the four channels read one input value.
 *
 * The compiler prepares one int32 stream (codegen/kernels/depthwise_conv2d_dsp.py), per group of four output
 * channels c0..c3 (the last group zero-padded), with T = kernel_h * kernel_w taps:
 *   [0..3]           k * (bias + input_offset * sum of the channel's weights): interior pixels (whole window
 *                    inside the input) multiply raw inputs
 *   [4 + 3t ..]      tap t = ky * kernel_w + kx: int16 pairs {k*w(c0), k*w(c2)}, {k*w(c1), k*w(c3)}, then the
 *                    tap's input byte offset from the window's first tap (ky * dilation_h * in_w + kx *
 *                    dilation_w) * in_c
 *   [4 + 3T ..]      channel cj's requantization {mult, add, shift}, j = 0..3:
 *                    out = SMMLAR(acc, mult, add + (neg_fix && acc < 0 ? -1 : 0)) >> shift, saturated to int8
 *   [16 + 3T ..]     act_min, act_max in four int8 lanes each (the clamp)
 *   [18 + 3T ..]     k * bias: border pixels add input_offset to each input and skip the taps outside
 * where acc is k times TFLite's accumulator, k = 2^(1 + left shift) per channel, and `add` folds TFLite's
 * rounding and the output zero point. This equals MultiplyByQuantizedMultiplier + output offset whenever the
 * compiler checked that nothing overflows; neg_fix = 0 is exact when the clamp maps every acc <= 0 to act_min.
 * interior_* delimit the output pixels whose whole window lies inside the input.
 *
 * The kernels' names carry flags fixed at compile time: _m4 (depth multiplier 4k), _nf (neg_fix), _cl (clamp);
 * the params must agree with the name. depthwise_conv2d_s8_dsp[_m4][_nf][_cl] take any kernel size (in C);
 * the _KxK forms (3x3, 5x5, 7x7; with _m4 3x3 only) run each group's taps unrolled, in assembly on DSP cores. */
#ifndef MCU_RUNTIME_DEPTHWISE_CONV2D_S8_DSP_H
#define MCU_RUNTIME_DEPTHWISE_CONV2D_S8_DSP_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;  /* out_c = in_c * depth_multiplier */
    int32_t depth_multiplier;     /* 1 or a multiple of 4 */
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;         /* leading padding (top, left), >= 0 */
    int32_t input_offset;         /* -input zero point */
    int32_t act_min, act_max;
    int32_t interior_y0, interior_y1; /* output rows [y0, y1) and columns [x0, x1) need no bounds checks */
    int32_t interior_x0, interior_x1;
    int32_t neg_fix;              /* 1: apply the rounding correction for negative accumulators */
    int32_t clamp;                /* 1: [act_min, act_max] is narrower than int8 */
} depthwise_conv2d_s8_dsp_params_t;

#define DW_DSP_DECLARE(name)                                                                                      \
    void name(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *stream, int8_t *output);
#define DW_DSP_DECLARE_FLAGS(prefix)                                                                              \
    DW_DSP_DECLARE(prefix)                                                                                       \
    DW_DSP_DECLARE(prefix##_cl)                                                                                  \
    DW_DSP_DECLARE(prefix##_nf)                                                                                  \
    DW_DSP_DECLARE(prefix##_nf_cl)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp_m4)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp_3x3)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp_3x3_m4)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp_5x5)
DW_DSP_DECLARE_FLAGS(depthwise_conv2d_s8_dsp_7x7)

#endif
