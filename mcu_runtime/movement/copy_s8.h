/* Data movement without arithmetic: RESHAPE (a plain copy, usually aliased away by the memory planner)
 * and CONCATENATION (one strided copy per input). Byte-based, so valid for any element type. */
#ifndef MCU_RUNTIME_COPY_S8_H
#define MCU_RUNTIME_COPY_S8_H

#include <stdint.h>

typedef struct {
    int32_t num_bytes;
} copy_bytes_params_t;

/* Copy num_bytes from input to output; output may equal input (then nothing is done). */
void copy_bytes(const copy_bytes_params_t *p, const void *input, void *output);

typedef struct {
    int32_t outer_count;  /* product of the dimensions before the concatenation axis */
    int32_t inner_bytes;  /* bytes of this input per outer index (axis extent * trailing size * elem size) */
    int32_t out_row_bytes;  /* bytes of the output per outer index */
    int32_t out_offset;  /* where this input's slice starts within each output row, in bytes */
} copy_strided_params_t;

/* Write one concatenation input into its slice of every output row. */
void copy_strided(const copy_strided_params_t *p, const void *input, void *output);

#endif
