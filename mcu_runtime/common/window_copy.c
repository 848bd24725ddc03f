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

/* NCHW window -> NHWC buffer: each channel's row piece is contiguous in the source and lands every
 * `channels` bytes in the destination. */
void copy_window_planar(const copy_window_planar_params_t *p, const void *src, void *dst)
{
    const uint8_t *s0 = (const uint8_t *)src + p->src_offset;
    uint8_t *d0 = (uint8_t *)dst + p->dst_offset;
    for (int32_t r = 0; r < p->rows; ++r) {
        for (int32_t c = 0; c < p->channels; ++c) {
            const uint8_t *s = s0 + c * p->src_plane_stride + r * p->src_row_stride;
            uint8_t *d = d0 + r * p->dst_stride + c;
            for (int32_t x = 0; x < p->cols; ++x) {
                d[x * p->channels] = s[x];
            }
        }
    }
}
