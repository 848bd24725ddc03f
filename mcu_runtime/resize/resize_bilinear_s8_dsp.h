/* RESIZE_BILINEAR int8, fast variant: the portable kernel's sums regrouped separably in 32 bits, with the rows
 * and columns located at compile time. rows[3 * y] and rows[3 * y + 1] are the byte offsets of output row y's
 * two input rows, rows[3 * y + 2] their weights (low half the upper row's, high half the lower row's, int16);
 * cols likewise per output column (offsets in bytes within a row). The compiler checks that every sum fits
 * in int32. On DSP cores four channels at a time go through SXTB16 and the halfword multiplies. */
#ifndef MCU_RUNTIME_RESIZE_BILINEAR_S8_DSP_H
#define MCU_RUNTIME_RESIZE_BILINEAR_S8_DSP_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t image_bytes; /* one input image: in_h * in_w * depth */
    int32_t out_h, out_w;
    int32_t depth;
} resize_bilinear_s8_dsp_params_t;

void resize_bilinear_s8_dsp(const resize_bilinear_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows,
                            const int32_t *cols, int8_t *output);

#endif
