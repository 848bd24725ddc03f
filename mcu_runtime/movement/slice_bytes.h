/* SLICE, SPLIT, SPLIT_V and UNPACK: copy a box of a tensor of rank <= 4, counted in bytes, so valid for any
 * element type. The compiler folds the element size into the innermost axis and merges axes the box spans
 * whole, so most slices reach here as one or two axes. */
#ifndef MCU_RUNTIME_SLICE_BYTES_H
#define MCU_RUNTIME_SLICE_BYTES_H

#include <stdint.h>

typedef struct {
    int32_t in_d0, in_d1, in_d2, in_d3;  /* input extents; in_d3 in bytes */
    int32_t begin0, begin1, begin2, begin3;  /* first index of the box along each axis; begin3 in bytes */
    int32_t out_d0, out_d1, out_d2, out_d3;  /* box extents; out_d3 in bytes */
} slice_bytes_params_t;

/* Copy the box into output, row-major. output must not overlap input. */
void slice_bytes(const slice_bytes_params_t *p, const void *input, void *output);

#endif
