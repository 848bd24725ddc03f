#include "input_stream.h"

/* Weak: the application defines it only when its model streams an input, and the host test library, which
 * holds every kernel, must still load without it. */
extern void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst) __attribute__((weak));

/* One request per row: a row is contiguous in the input, rows of a window are not. */
void read_input_window(const read_input_params_t *p, void *dst)
{
    uint8_t *d = (uint8_t *)dst + p->dst_offset;
    uint32_t offset = (uint32_t)p->src_offset;
    for (int32_t r = 0; r < p->rows; ++r) {
        model_read_input(p->input, offset, (uint32_t)p->row_bytes, d);
        offset += (uint32_t)p->src_stride;
        d += p->dst_stride;
    }
}
