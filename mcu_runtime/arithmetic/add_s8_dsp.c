#include "add_s8_dsp.h"

#include "dsp_intrinsics.h"
#include "fixedpoint_s32.h"

#if MCU_HAS_DSP
#define ADD_SSAT8(v) __ssat((v), 8)
#else
#define ADD_SSAT8(v) clamp_s32((v), -128, 127)
#endif

/* The element loop. scaled and clamp are constants at each call site, so each mode gets its own copy: the
 * scaled one without clamp (the common case) then holds its eight constants and four pointers in registers,
 * with two left for the arithmetic. */
MCU_INLINE void add_loop(const add_s8_dsp_params_t *p, const int8_t *e, const int8_t *g, int8_t *out,
                         const int32_t scaled, const int32_t clamp)
{
    const int32_t sum_offset = p->sum_offset;
    const int32_t g_offset = p->g_offset;
    const int32_t g_mult = p->g_multiplier;
    const int32_t g_round = p->g_round;
    const int32_t g_shift = p->g_shift;
    const int32_t out_mult = p->out_multiplier;
    const int32_t out_round = p->out_round;
    const int32_t out_shift = p->out_shift;
    const int32_t act_min = p->act_min;
    const int32_t act_max = p->act_max;
    const int8_t *const end = e + p->size;
    while (e != end) {
        int32_t sum2; /* twice the operands' sum at the common scale */
        if (scaled) {
            const int32_t t = *g++ * (1 << 21) + g_offset;
            /* SMMLAR(t, m, c) = SaturatingRoundingDoublingHighMul(t / 2, m) + c; with c = 2^(shift-1) - 1 for
             * a negative product, the shift is RoundingDivideByPOT. t's sign stands for the product's: where
             * the product is 0 instead of negative the -1 vanishes in the shift. g_round adds E's offset. */
            const int32_t s = dsp_smmlar(t, g_mult, g_round + (t >> 31)) >> g_shift;
            sum2 = *e++ * (1 << 20) + s * 2;
        } else {
            sum2 = (*e++ + *g++) * (1 << 20) + sum_offset;
        }
        /* The same rounding, with the output zero point in out_round. */
        const int32_t y = dsp_smmlar(sum2, out_mult, out_round + (sum2 >> 31)) >> out_shift;
        /* After both reads: out may be input1. [act_min, act_max] lies within the int8 range. */
        *out++ = (int8_t)(clamp ? clamp_s32(y, act_min, act_max) : ADD_SSAT8(y));
    }
}

void add_s8_dsp(const add_s8_dsp_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int8_t *e = p->swap ? input2 : input1;
    const int8_t *g = p->swap ? input1 : input2;
    const int32_t clamp = p->act_min > -128 || p->act_max < 127;
    if (p->scaled) {
        if (clamp) {
            add_loop(p, e, g, output, 1, 1);
        } else {
            add_loop(p, e, g, output, 1, 0);
        }
    } else if (clamp) {
        add_loop(p, e, g, output, 0, 1);
    } else {
        add_loop(p, e, g, output, 0, 0);
    }
}
