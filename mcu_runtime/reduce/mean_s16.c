#include "mean_s16.h"

#include "fixedpoint_s32.h"

/* Advances a multi-dimensional index (dims listed innermost first) by one step along its list and returns
 * the change of the flat offset; dimension `first` is the innermost one it moves. */
static int32_t odometer_step(int32_t n, const int32_t size[], const int32_t stride[], int32_t idx[], int32_t first)
{
    int32_t delta = 0;
    for (int32_t j = first; j < n; ++j) {
        delta += stride[j];
        if (++idx[j] < size[j]) {
            return delta;
        }
        delta -= size[j] * stride[j];
        idx[j] = 0;
    }
    return delta;
}

void mean_s16(const mean_s16_params_t *p, const int16_t *input, int16_t *output)
{
    const int32_t dims[MEAN_S16_MAX_DIMS] = {p->d0, p->d1, p->d2, p->d3, p->d4, p->d5};
    int32_t keep_size[MEAN_S16_MAX_DIMS], keep_stride[MEAN_S16_MAX_DIMS];
    int32_t red_size[MEAN_S16_MAX_DIMS], red_stride[MEAN_S16_MAX_DIMS];
    int32_t n_keep = 0, n_red = 0, n_out = 1, stride = 1;
    for (int32_t i = MEAN_S16_MAX_DIMS - 1; i >= 0; --i) { /* innermost first */
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
    /* The innermost reduced dim is summed in a tight loop; an odometer over the others moves around it. */
    const int32_t inner_n = n_red > 0 ? red_size[0] : 1;
    const int32_t inner_stride = n_red > 0 ? red_stride[0] : 0;
    const int32_t outer_sums = p->count / inner_n;
    const int32_t zp_total = p->input_zp * p->count;

    int32_t keep_idx[MEAN_S16_MAX_DIMS] = {0};
    int32_t base = 0;
    for (int32_t o = 0; o < n_out; ++o) {
        int32_t red_idx[MEAN_S16_MAX_DIMS] = {0};
        int32_t offset = base;
        int32_t sum = 0;
        for (int32_t r = 0; r < outer_sums; ++r) {
            const int16_t *src = input + offset;
            for (int32_t k = 0; k < inner_n; ++k) {
                sum += src[k * inner_stride];
            }
            offset += odometer_step(n_red, red_size, red_stride, red_idx, 1);
        }
        const int32_t value =
            multiply_by_quantized_multiplier(sum - zp_total, p->multiplier, p->shift) + p->output_zp;
        output[o] = (int16_t)clamp_s32(value, INT16_MIN, INT16_MAX);
        base += odometer_step(n_keep, keep_size, keep_stride, keep_idx, 0);
    }
}
