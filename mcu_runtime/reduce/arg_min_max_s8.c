#include "arg_min_max_s8.h"

/* Index along the axis of the best value of the column starting at `col` (stride `inner`); ties keep the first. */
static int32_t best_index(const int8_t *col, int32_t axis_size, int32_t inner, int32_t is_max)
{
    int8_t best = col[0];
    int32_t index = 0;
    for (int32_t i = 1; i < axis_size; ++i) {
        const int8_t v = col[i * inner];
        if (is_max ? v > best : v < best) {
            best = v;
            index = i;
        }
    }
    return index;
}

void arg_min_max_s8_i32(const arg_min_max_s8_params_t *p, const int8_t *input, int32_t *output)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *block = input + o * p->axis_size * p->inner;
        for (int32_t k = 0; k < p->inner; ++k) {
            output[o * p->inner + k] = best_index(block + k, p->axis_size, p->inner, p->is_max);
        }
    }
}

void arg_min_max_s8_i64(const arg_min_max_s8_params_t *p, const int8_t *input, int64_t *output)
{
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *block = input + o * p->axis_size * p->inner;
        for (int32_t k = 0; k < p->inner; ++k) {
            output[o * p->inner + k] = best_index(block + k, p->axis_size, p->inner, p->is_max);
        }
    }
}
