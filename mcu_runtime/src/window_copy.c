#include "window_copy.h"

#include <string.h>

void copy_window(const copy_window_params_t *p, const void *src, void *dst)
{
    const uint8_t *s = (const uint8_t *)src + p->src_offset;
    uint8_t *d = (uint8_t *)dst + p->dst_offset;
    for (int32_t r = 0; r < p->rows; ++r) {
        memcpy(d, s, (size_t)p->row_bytes);
        s += p->src_stride;
        d += p->dst_stride;
    }
}
