/* Copy a window of rows between buffers (patch-based execution's crops and stores). */
#ifndef MCU_RUNTIME_WINDOW_COPY_H
#define MCU_RUNTIME_WINDOW_COPY_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t row_bytes;
    int32_t src_offset, src_stride;
    int32_t dst_offset, dst_stride;
    int32_t dst_bytes;
} copy_window_params_t;

void copy_window(const copy_window_params_t *p, const void *src, void *dst);

/* A window of an NCHW int8 tensor copied into an NHWC buffer (a folded layout TRANSPOSE). */
typedef struct {
    int32_t channels, rows, cols;
    int32_t src_offset, src_row_stride, src_plane_stride; /* bytes of the NCHW source */
    int32_t dst_offset, dst_stride;
    int32_t dst_bytes;
} copy_window_planar_params_t;

void copy_window_planar(const copy_window_planar_params_t *p, const void *src, void *dst);

#endif
