/* RESIZE_NEAREST_NEIGHBOR of an NHWC tensor, pixel by pixel in bytes, so valid for any element type. Which input
 * row and column each output row and column copies is computed by the compiler (TFLite's float arithmetic for
 * align_corners / half_pixel_centers) and passed as two constant tables. */
#ifndef MCU_RUNTIME_RESIZE_NEAREST_BYTES_H
#define MCU_RUNTIME_RESIZE_NEAREST_BYTES_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_h, in_w;
    int32_t out_h, out_w;
    int32_t pixel_bytes;  /* depth times the element size */
} resize_nearest_bytes_params_t;

/* in_row[y] is the input row of output row y (out_h entries), in_col[x] the input column of column x. */
void resize_nearest_bytes(const resize_nearest_bytes_params_t *p, const void *input, const int32_t *in_row,
                          const int32_t *in_col, void *output);

#endif
