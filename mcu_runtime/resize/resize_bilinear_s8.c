#include "resize_bilinear_s8.h"

/* Position of output coordinate `v` in the input in 1/1024 units, and the two input coordinates around it. C's
 * division truncates toward zero, which is what the reference does for the negative positions half-pixel
 * centres give near the border. */
static void locate(int32_t v, int32_t scale_10, int32_t half_pixel, int32_t size, int32_t *pos, int32_t *lo,
                   int32_t *hi)
{
    int32_t s = v * scale_10;
    if (half_pixel) {
        s += scale_10 / 2 - 512;
    }
    const int32_t below = s / 1024;
    const int32_t above = (s + 1023) / 1024;
    *pos = s;
    *lo = below > 0 ? below : 0;
    *hi = above < size - 1 ? above : size - 1;
}

void resize_bilinear_s8(const resize_bilinear_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->depth;
    const int32_t row_len = p->in_w * depth;
    int8_t *dst = output;
    for (int32_t n = 0; n < p->batches; ++n) {
        const int8_t *image = input + (int32_t)n * p->in_h * row_len;
        for (int32_t y = 0; y < p->out_h; ++y) {
            int32_t py, y0, y1;
            locate(y, p->height_scale_10, p->half_pixel_centers, p->in_h, &py, &y0, &y1);
            /* Weights of the rows above and below; they need not lie in [0, 1024] at the borders. */
            const int64_t wy1 = (int64_t)(py - 1024 * y0);
            const int64_t wy0 = 1024 - wy1;
            const int8_t *r0 = image + y0 * row_len;
            const int8_t *r1 = image + y1 * row_len;
            for (int32_t x = 0; x < p->out_w; ++x) {
                int32_t px, x0, x1;
                locate(x, p->width_scale_10, p->half_pixel_centers, p->in_w, &px, &x0, &x1);
                const int64_t wx1 = (int64_t)(px - 1024 * x0);
                const int64_t wx0 = 1024 - wx1;
                const int8_t *a = r0 + x0 * depth; /* (y0, x0) */
                const int8_t *b = r1 + x0 * depth; /* (y1, x0) */
                const int8_t *c = r0 + x1 * depth; /* (y0, x1) */
                const int8_t *d = r1 + x1 * depth; /* (y1, x1) */
                for (int32_t ch = 0; ch < depth; ++ch) {
                    const int64_t sum = a[ch] * wy0 * wx0 + b[ch] * wy1 * wx0 + c[ch] * wy0 * wx1 + d[ch] * wy1 * wx1;
                    const int64_t half = sum > 0 ? ((int64_t)1 << 19) : -((int64_t)1 << 19);
                    *dst++ = (int8_t)((sum + half) / ((int64_t)1 << 20));
                }
            }
        }
    }
}
