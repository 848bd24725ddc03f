/* CONV_2D on the Cortex-M DSP extension (SMLAD), bit-exact with conv2d_s8 / TFLite Micro's ConvPerChannel.
 *
 * The compiler prepares the constants (codegen/kernels/conv2d_dsp.py) as one int32 row per output channel:
 * {bias', k_pad, k_pad / 4 words of filter taps, mult, rnd, rshift}. The taps are int8, zero-padded from
 * kernel_h * kernel_w * in_c to k_pad (a multiple of 8), in im2col order: for each filter row ky the whole words
 * of its kernel_w * in_c contiguous OHWI taps, then the (kernel_w * in_c) % 4 leftover taps of every row, row
 * after row. bias' = bias + input_offset * sum(w), so the inner loop multiplies raw inputs and a padded tap reads the input zero point. The requantization is
 * out = (SMMLAR(2 * acc, mult, rnd) - (acc < 0)) >> rshift, which equals TFLite's
 * MultiplyByQuantizedMultiplier plus the output offset whenever the compiler checked that 2 * acc and the
 * sum cannot overflow; channels whose output is the same for every input have mult = 0.
 * Scratch: 12 * k_pad bytes (six pixels' patches as int16), plus k_pad bytes when in_c is not a multiple of 4,
 * rounded up to 8: the planner's buffer (conv2d_s8_dsp), or borrowed (conv2d_s8_dsp_borrow, for a call that is
 * its input's last reader): the last such bytes of the output (8-byte aligned) while computing the output
 * pixels before scratch_switch, whose outputs end before them, then the first bytes of the input, which no
 * window from scratch_switch on reads. The compiler checks both; the borrowing call needs no SRAM of its own. */
#ifndef MCU_RUNTIME_CONV2D_S8_DSP_H
#define MCU_RUNTIME_CONV2D_S8_DSP_H

#include <stdint.h>

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;     /* leading padding (top, left) */
    int32_t k_pad;            /* filter taps per channel: kernel_h * kernel_w * in_c rounded up to a multiple of 8 */
    int32_t pad_value;        /* input zero point: the value a padded tap reads */
    int32_t act_min, act_max; /* fused activation clamp, in output quantized units */
    int32_t scratch_switch;   /* conv2d_s8_dsp_borrow: first output pixel whose scratch is the input's start */
} conv2d_s8_dsp_params_t;

void conv2d_s8_dsp(const conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows, int8_t *output,
                   int8_t *scratch);
/* Writes into the input's first bytes: only for a call after which nothing reads the input. */
void conv2d_s8_dsp_borrow(const conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows, int8_t *output);

#endif
