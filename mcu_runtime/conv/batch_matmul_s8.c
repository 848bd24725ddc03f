#include "batch_matmul_s8.h"

#include "fixedpoint_s32.h"

static void matmul_one(const batch_matmul_s8_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out)
{
    for (int32_t m = 0; m < p->rows; ++m) {
        const int8_t *lrow = lhs + m * p->lhs_sm;
        for (int32_t n = 0; n < p->cols; ++n) {
            const int8_t *rcol = rhs + n * p->rhs_sn;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; ++k) {
                acc += (lrow[k * p->lhs_sk] + p->lhs_offset) * (rcol[k * p->rhs_sk] + p->rhs_offset);
            }
            const int32_t y = multiply_by_quantized_multiplier(acc, p->output_multiplier, p->output_shift)
                + p->output_offset;
            out[m * p->cols + n] = (int8_t)clamp_s32(y, INT8_MIN, INT8_MAX);
        }
    }
}

void batch_matmul_s8(const batch_matmul_s8_params_t *p, const int8_t *first, const int8_t *second, int8_t *output)
{
    const int8_t *lhs = p->swapped ? second : first;
    const int8_t *rhs = p->swapped ? first : second;
    const int32_t matrix = p->rows * p->cols;
    int8_t *out = output;
    for (int32_t b0 = 0; b0 < p->batch0; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch1; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch2; ++b2) {
                const int8_t *l = lhs + b0 * p->lhs_bs0 + b1 * p->lhs_bs1 + b2 * p->lhs_bs2;
                const int8_t *r = rhs + b0 * p->rhs_bs0 + b1 * p->rhs_bs1 + b2 * p->rhs_bs2;
                matmul_one(p, l, r, out);
                out += matrix;
            }
        }
    }
}
