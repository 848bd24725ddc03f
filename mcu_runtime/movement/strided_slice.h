/* STRIDED_SLICE of any element type (elem_bytes per element), rank <= 4, every axis resolved at compile time
 * to (start, step, count). Mirrors codegen/kernels/movement/strided_slice.py (StridedSliceParams). */
#ifndef MCU_RUNTIME_STRIDED_SLICE_H
#define MCU_RUNTIME_STRIDED_SLICE_H

#include <stdint.h>

typedef struct {
    int32_t elem_bytes;
    int32_t in_d0, in_d1, in_d2, in_d3;
    int32_t start_d0, start_d1, start_d2, start_d3;
    int32_t step_d0, step_d1, step_d2, step_d3; /* non-zero, may be negative */
    int32_t count_d0, count_d1, count_d2, count_d3;
} strided_slice_params_t;

void strided_slice_bytes(const strided_slice_params_t *p, const void *input, void *output);

#endif
