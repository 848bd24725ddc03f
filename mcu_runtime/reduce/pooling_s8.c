#include "pooling_s8.h"

/* Channels handled per pass: the window is walked once per block, reading each input pixel's
 * channels contiguously, with the partial results in a small stack array. */
#define POOL_CHANNEL_BLOCK 32

/* In-bounds filter taps [*start, *end) for the output position whose window begins at `origin`. */
static void window_bounds(int32_t origin, int32_t filter, int32_t in_size, int32_t *start, int32_t *end)
{
    *start = origin < 0 ? -origin : 0;
    *end = in_size - origin < filter ? in_size - origin : filter;
}

void avg_pool2d_s8(const pool_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_total = p->channels;
    const int32_t row_stride = p->in_w * c_total;
    int32_t acc[POOL_CHANNEL_BLOCK];
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_batch = input + b * p->in_h * row_stride;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            window_bounds(iy0, p->filter_h, p->in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                window_bounds(ix0, p->filter_w, p->in_w, &fx0, &fx1);
                /* The lowering guarantees a non-empty window, so count > 0. */
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);
                for (int32_t c0 = 0; c0 < c_total; c0 += POOL_CHANNEL_BLOCK) {
                    const int32_t nc = c_total - c0 < POOL_CHANNEL_BLOCK ? c_total - c0 : POOL_CHANNEL_BLOCK;
                    for (int32_t c = 0; c < nc; ++c) {
                        acc[c] = 0;
                    }
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int8_t *row = in_batch + (iy0 + fy) * row_stride + c0;
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int8_t *px = row + (ix0 + fx) * c_total;
                            for (int32_t c = 0; c < nc; ++c) {
                                acc[c] += px[c];
                            }
                        }
                    }
                    for (int32_t c = 0; c < nc; ++c) {
                        /* TFLite rounds half away from zero with C's truncating division. */
                        int32_t v = acc[c] > 0 ? (acc[c] + count / 2) / count : (acc[c] - count / 2) / count;
                        v = v < p->act_min ? p->act_min : v;
                        v = v > p->act_max ? p->act_max : v;
                        *output++ = (int8_t)v;
                    }
                }
            }
        }
    }
}

void max_pool2d_s8(const pool_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_total = p->channels;
    const int32_t row_stride = p->in_w * c_total;
    int8_t best[POOL_CHANNEL_BLOCK];
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_batch = input + b * p->in_h * row_stride;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            window_bounds(iy0, p->filter_h, p->in_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                window_bounds(ix0, p->filter_w, p->in_w, &fx0, &fx1);
                for (int32_t c0 = 0; c0 < c_total; c0 += POOL_CHANNEL_BLOCK) {
                    const int32_t nc = c_total - c0 < POOL_CHANNEL_BLOCK ? c_total - c0 : POOL_CHANNEL_BLOCK;
                    for (int32_t c = 0; c < nc; ++c) {
                        best[c] = INT8_MIN;
                    }
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        const int8_t *row = in_batch + (iy0 + fy) * row_stride + c0;
                        for (int32_t fx = fx0; fx < fx1; ++fx) {
                            const int8_t *px = row + (ix0 + fx) * c_total;
                            for (int32_t c = 0; c < nc; ++c) {
                                best[c] = px[c] > best[c] ? px[c] : best[c];
                            }
                        }
                    }
                    for (int32_t c = 0; c < nc; ++c) {
                        int32_t v = best[c];
                        v = v < p->act_min ? p->act_min : v;
                        v = v > p->act_max ? p->act_max : v;
                        *output++ = (int8_t)v;
                    }
                }
            }
        }
    }
}
