#include "pooling_s16.h"

/* One output pixel's in-bounds window: taps [y0, y1) x [x0, x1) starting at input row iy, column ix. */
typedef struct {
    int32_t iy, ix, y0, y1, x0, x1;
} window_t;

static int32_t clamp_range(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static window_t pool_window(const pool_s16_params_t *p, int32_t oy, int32_t ox)
{
    window_t w;
    w.iy = oy * p->stride_h - p->pad_h;
    w.ix = ox * p->stride_w - p->pad_w;
    w.y0 = w.iy < 0 ? -w.iy : 0;
    w.y1 = p->in_h - w.iy < p->filter_h ? p->in_h - w.iy : p->filter_h;
    w.x0 = w.ix < 0 ? -w.ix : 0;
    w.x1 = p->in_w - w.ix < p->filter_w ? p->in_w - w.ix : p->filter_w;
    return w;
}

/* Each output channel walks its window directly: strided reads, no scratch. */
void avg_pool2d_s16(const pool_s16_params_t *p, const int16_t *input, int16_t *output)
{
    const int32_t c_total = p->channels;
    const int32_t row_stride = p->in_w * c_total;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *in_batch = input + b * p->in_h * row_stride;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const window_t w = pool_window(p, oy, ox);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0); /* > 0: the lowering refuses empty ones */
                for (int32_t c = 0; c < c_total; ++c) {
                    int32_t acc = 0;
                    for (int32_t fy = w.y0; fy < w.y1; ++fy) {
                        const int16_t *row = in_batch + (w.iy + fy) * row_stride + c;
                        for (int32_t fx = w.x0; fx < w.x1; ++fx) {
                            acc += row[(w.ix + fx) * c_total];
                        }
                    }
                    /* half away from zero, with C's truncating division */
                    const int32_t v = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *output++ = (int16_t)clamp_range(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

void max_pool2d_s16(const pool_s16_params_t *p, const int16_t *input, int16_t *output)
{
    const int32_t c_total = p->channels;
    const int32_t row_stride = p->in_w * c_total;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *in_batch = input + b * p->in_h * row_stride;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const window_t w = pool_window(p, oy, ox);
                for (int32_t c = 0; c < c_total; ++c) {
                    int32_t best = INT16_MIN;
                    for (int32_t fy = w.y0; fy < w.y1; ++fy) {
                        const int16_t *row = in_batch + (w.iy + fy) * row_stride + c;
                        for (int32_t fx = w.x0; fx < w.x1; ++fx) {
                            const int32_t v = row[(w.ix + fx) * c_total];
                            best = v > best ? v : best;
                        }
                    }
                    *output++ = (int16_t)clamp_range(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
