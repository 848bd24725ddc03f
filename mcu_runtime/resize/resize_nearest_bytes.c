#include "resize_nearest_bytes.h"

#include <string.h>

void resize_nearest_bytes(const resize_nearest_bytes_params_t *p, const void *input, const int32_t *in_row,
                          const int32_t *in_col, void *output)
{
    const size_t pixel = (size_t)p->pixel_bytes;
    const size_t in_row_bytes = (size_t)p->in_w * pixel;
    const size_t in_image_bytes = (size_t)p->in_h * in_row_bytes;
    const uint8_t *image = (const uint8_t *)input;
    uint8_t *dst = (uint8_t *)output;
    for (int32_t n = 0; n < p->batches; ++n) {
        for (int32_t y = 0; y < p->out_h; ++y) {
            const uint8_t *row = image + (size_t)in_row[y] * in_row_bytes;
            if (y > 0 && in_row[y] == in_row[y - 1]) {
                /* The same input row again: repeat the output row just written. */
                const size_t out_row_bytes = (size_t)p->out_w * pixel;
                memcpy(dst, dst - out_row_bytes, out_row_bytes);
                dst += out_row_bytes;
                continue;
            }
            for (int32_t x = 0; x < p->out_w; ++x) {
                memcpy(dst, row + (size_t)in_col[x] * pixel, pixel);
                dst += pixel;
            }
        }
        image += in_image_bytes;
    }
}
