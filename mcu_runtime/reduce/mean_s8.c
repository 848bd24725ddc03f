#include "mean_s8.h"

#include "fixedpoint_s32.h"

/* Walks the kept dims in row-major order (one output each) and, for each, the reduced dims; both
 * walks are odometers over (size, stride) lists, so any axis set needs no scratch memory. */
void mean_s8(const mean_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t dims[MEAN_S8_MAX_DIMS] = {p->d0, p->d1, p->d2, p->d3, p->d4, p->d5};
    int32_t keep_size[MEAN_S8_MAX_DIMS], keep_stride[MEAN_S8_MAX_DIMS];
    int32_t red_size[MEAN_S8_MAX_DIMS], red_stride[MEAN_S8_MAX_DIMS];
    int32_t n_keep = 0, n_red = 0, n_out = 1;
    int32_t stride = 1;
    /* Innermost first, so index 0 of each list is the fastest-moving dim. */
    for (int32_t i = MEAN_S8_MAX_DIMS - 1; i >= 0; --i) {
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
    /* The innermost reduced dim is summed in a tight loop; the others advance around it. */
    const int32_t inner_n = n_red > 0 ? red_size[0] : 1;
    const int32_t inner_stride = n_red > 0 ? red_stride[0] : 0;
    const int32_t outer_sums = p->count / inner_n;
    const int32_t zp_total = p->input_zp * p->count;

    int32_t keep_idx[MEAN_S8_MAX_DIMS] = {0};
    int32_t base = 0;
    for (int32_t o = 0; o < n_out; ++o) {
        int32_t red_idx[MEAN_S8_MAX_DIMS] = {0};
        int32_t offset = base;
        int32_t sum = 0;
        for (int32_t r = 0; r < outer_sums; ++r) {
            const int8_t *src = input + offset;
            for (int32_t k = 0; k < inner_n; ++k) {
                sum += src[k * inner_stride];
            }
            /* Advance the reduced odometer past dim 0 (already summed above). */
            for (int32_t j = 1; j < n_red; ++j) {
                offset += red_stride[j];
                if (++red_idx[j] < red_size[j]) {
                    break;
                }
                offset -= red_size[j] * red_stride[j];
                red_idx[j] = 0;
            }
        }
        const int32_t value =
            multiply_by_quantized_multiplier(sum - zp_total, p->multiplier, p->shift) + p->output_zp;
        output[o] = (int8_t)clamp_s32(value, INT8_MIN, INT8_MAX);
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
