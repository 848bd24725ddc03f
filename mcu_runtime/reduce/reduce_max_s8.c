#include "reduce_max_s8.h"

/* One output per kept position, in row-major order; for each, an odometer over the reduced dims. */
void reduce_max_s8(const mean_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t dims[MEAN_S8_MAX_DIMS] = {p->d0, p->d1, p->d2, p->d3, p->d4, p->d5};
    int32_t keep_size[MEAN_S8_MAX_DIMS], keep_stride[MEAN_S8_MAX_DIMS];
    int32_t red_size[MEAN_S8_MAX_DIMS], red_stride[MEAN_S8_MAX_DIMS];
    int32_t n_keep = 0, n_red = 0, n_out = 1;
    int32_t stride = 1;
    for (int32_t i = MEAN_S8_MAX_DIMS - 1; i >= 0; --i) { /* innermost first */
        if ((p->reduce_mask >> i) & 1) {
            red_size[n_red] = dims[i];
            red_stride[n_red++] = stride;
        } else {
            keep_size[n_keep] = dims[i];
            keep_stride[n_keep++] = stride;
            n_out *= dims[i];
        }
        stride *= dims[i];
    }
    int32_t keep_idx[MEAN_S8_MAX_DIMS] = {0};
    int32_t base = 0;
    for (int32_t o = 0; o < n_out; ++o) {
        int32_t red_idx[MEAN_S8_MAX_DIMS] = {0};
        int32_t offset = base;
        int8_t best = INT8_MIN;
        for (int32_t r = 0; r < p->count; ++r) {
            const int8_t v = input[offset];
            best = v > best ? v : best;
            for (int32_t j = 0; j < n_red; ++j) {
                offset += red_stride[j];
                if (++red_idx[j] < red_size[j]) {
                    break;
                }
                offset -= red_size[j] * red_stride[j];
                red_idx[j] = 0;
            }
        }
        output[o] = best;
        for (int32_t j = 0; j < n_keep; ++j) {
            base += keep_stride[j];
            if (++keep_idx[j] < keep_size[j]) {
                break;
            }
            base -= keep_size[j] * keep_stride[j];
            keep_idx[j] = 0;
        }
    }
}
