/* ADD of two int8 tensors of the same shape on cores with the DSP extension (SMMLAR, SSAT): bit-exact with
 * add_s8 (TFLite Micro's reference ADD) with constants precomputed by codegen/kernels/add_dsp.py, which also
 * derives the arithmetic below.
 *
 * TFLite rescales both operands to twice the larger input scale, so the operand with the larger scale, E, has
 * multiplier 2^30 and shift 0 and its rescaled value is exactly (e + offset) * 2^19. The other one, G, is
 * RoundingDivideByPOT(SaturatingRoundingDoublingHighMul((g + offset) * 2^20, m), shift), computed as
 * SMMLAR(t, m, round + (t < 0 ? -1 : 0)) >> shift with t = (g + offset) * 2^21; g_round also holds E's offset.
 * The output stage is the same computation on twice the sum, with the output zero point in out_round.
 *
 * scaled == 0 when the scales are equal: both operands are then exact and only their sum is offset. swap says
 * which argument is E. The output may be the same buffer as input1 (each element is read before it is
 * written); there is no broadcasting. */
#ifndef MCU_RUNTIME_ADD_S8_DSP_H
#define MCU_RUNTIME_ADD_S8_DSP_H

#include <stdint.h>

typedef struct {
    int32_t size;          /* elements */
    int32_t swap;          /* 0: input1 is E and input2 G; 1: the other way round */
    int32_t scaled;        /* 1: G is rescaled by g_*; 0: equal scales, twice the sum is (e + g) * 2^20 + sum_offset */
    int32_t sum_offset;    /* scaled == 0: (offset1 + offset2) * 2^20 */
    int32_t g_offset;      /* G's input offset * 2^21 */
    int32_t g_multiplier;
    int32_t g_round;       /* 2^(g_shift - 1) + E's input offset * 2^(19 + g_shift) */
    int32_t g_shift;       /* >= 1: a right shift */
    int32_t out_multiplier;
    int32_t out_round;     /* 2^(out_shift - 1) + output zero point * 2^out_shift */
    int32_t out_shift;     /* >= 1: a right shift */
    int32_t act_min, act_max;
} add_s8_dsp_params_t;

void add_s8_dsp(const add_s8_dsp_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
