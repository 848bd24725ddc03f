/* BATCH_MATMUL of two int8 tensors, TFLite Micro's arithmetic: out[b][m][n] = requantized
 * sum_k (lhs[b][m][k] - lhs_zp) * (rhs[b][k][n] - rhs_zp). Both operands are read in place through
 * strides, so adj_x / adj_y and broadcast batch dims need no scratch memory. */
#ifndef MCU_RUNTIME_BATCH_MATMUL_S8_H
#define MCU_RUNTIME_BATCH_MATMUL_S8_H

#include <stdint.h>

typedef struct {
    int32_t batch0, batch1, batch2;    /* output batch dims, padded in front with 1s */
    int32_t lhs_bs0, lhs_bs1, lhs_bs2; /* lhs element stride per batch index; 0 where it broadcasts */
    int32_t rhs_bs0, rhs_bs1, rhs_bs2;
    int32_t rows, cols, depth;         /* M, N, K */
    int32_t lhs_sm, lhs_sk;            /* (m, k) of lhs at m * lhs_sm + k * lhs_sk */
    int32_t rhs_sk, rhs_sn;            /* (k, n) of rhs at k * rhs_sk + n * rhs_sn */
    int32_t lhs_offset, rhs_offset;    /* -zero points */
    int32_t output_offset;             /* +zero point */
    int32_t output_multiplier, output_shift;
    int32_t swapped;                   /* 1: the arguments arrive as (rhs, lhs) */
} batch_matmul_s8_params_t;

/* first, second: lhs, rhs (or rhs, lhs when swapped). The output is [batch0][batch1][batch2][rows][cols]. */
void batch_matmul_s8(const batch_matmul_s8_params_t *p, const int8_t *first, const int8_t *second, int8_t *output);

#endif
