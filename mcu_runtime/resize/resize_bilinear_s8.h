/* RESIZE_BILINEAR of an int8 NHWC tensor with TFLite's integer algorithm (ResizeBilinearInteger: positions in
 * 1/1024 steps, weights multiplied in 64 bits, the sum rounded half away from zero by 2^20). */
#ifndef MCU_RUNTIME_RESIZE_BILINEAR_S8_H
#define MCU_RUNTIME_RESIZE_BILINEAR_S8_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_h, in_w;
    int32_t out_h, out_w;
    int32_t depth;
    int32_t height_scale_10;  /* input/output size ratio in 1/1024 units, rounded (align_corners: sizes - 1) */
    int32_t width_scale_10;
    int32_t half_pixel_centers;  /* 1: sample at pixel centres */
} resize_bilinear_s8_params_t;

void resize_bilinear_s8(const resize_bilinear_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
