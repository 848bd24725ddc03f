/* GATHER (batch_dims 0): pick slices of a tensor along one axis by an index tensor, byte by byte, so valid for
 * any element type. The data is seen as [outer_count, axis_size, inner_bytes]; the output as
 * [outer_count, num_indices, inner_bytes]. */
#ifndef MCU_RUNTIME_GATHER_BYTES_H
#define MCU_RUNTIME_GATHER_BYTES_H

#include <stdint.h>

typedef struct {
    int32_t outer_count;  /* product of the data extents before the axis */
    int32_t axis_size;  /* data extent along the axis: valid indices are 0 .. axis_size - 1 */
    int32_t inner_bytes;  /* bytes of one slice: product of the extents after the axis times the element size */
    int32_t num_indices;
    int32_t indices_first;  /* 1: the arguments come as (indices, data) (constant data after runtime indices) */
} gather_bytes_params_t;

/* An index out of range (TFLite Micro fails the invoke) gives a slice of zero bytes. */
void gather_bytes_i32(const gather_bytes_params_t *p, const void *a, const void *b, void *output);
void gather_bytes_i16(const gather_bytes_params_t *p, const void *a, const void *b, void *output);

#endif
