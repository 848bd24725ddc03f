#include "fully_connected_s8_dsp.h"

#include <stddef.h>

#include "dsp_intrinsics.h"
#include "fixedpoint_s32.h"

/* Row pairs per pass over the input: 6 accumulators, 2 input pairs, 3 pointers and 3 weight words fill the
 * 14 usable registers. Must match BLOCK_PAIRS in codegen/kernels/fully_connected_dsp.py. */
#define FC_BLOCK_PAIRS 3

#if MCU_HAS_DSP
#define FC_SSAT8(v) __ssat((v), 8)
#else
#define FC_SSAT8(v) clamp_s32((v), -128, 127)
#endif

/* The state of one call. The assembly reads the first fields at the offsets noted. */
typedef struct {
    int32_t n_words;  /* 0: input words of the current chunk */
    int8_t *y;        /* 4: where the next group's outputs go; NULL: leave its accumulators in acc */
    int32_t mult;     /* 8: per-tensor multiplier */
    int32_t rsh;      /* 12: right shift - 1, in [1, 22] when y is set */
    int32_t nudge_hi; /* 16: 2^(rsh-1) + output_offset * 2^rsh: rounding and output offset, high word */
    int32_t n_groups; /* 20: groups (blocks or single pairs) to run when y is set; 1 otherwise */
    const int8_t *x;  /* 24: the current chunk of the input */
    int32_t *acc;     /* 28: where a group without y leaves {e, r} per pair */
    const fully_connected_s8_dsp_params_t *p;
    const int8_t *xb; /* the current batch's input row */
    int8_t *out;      /* the current batch's output row */
} fc_state_t;

/* What only the general path needs; it lives in that path's frame, off the common path's stack. */
typedef struct {
    int32_t acc[2 * FC_BLOCK_PAIRS]; /* {e, h} per pair once extracted */
    const int32_t *requant;
    const int32_t *fix;     /* the next fixup {row, column} */
    const int32_t *fix_end;
    uint32_t corr;          /* filter_offset * sum(xb) */
} fc_general_t;

/* One input word (four columns) against `np` row pairs: words w[2q] (even columns) and w[2q + 1] (odd). */
MCU_INLINE void fc_step(uint32_t xw, const int32_t *w, int32_t np, int32_t *acc)
{
    const uint32_t x02 = dsp_sxtb16(xw);
    const uint32_t x13 = dsp_sxtb16(dsp_ror8(xw));
    for (int32_t q = 0; q < np; ++q) {
        const uint32_t we = (uint32_t)w[2 * q];
        const uint32_t wo = (uint32_t)w[2 * q + 1];
        int32_t e = acc[2 * q];
        int32_t r = acc[2 * q + 1];
        r = dsp_smlad(we, x02, r);
        e = dsp_smlad(dsp_sxtb16(we), x02, e);
        r = dsp_smlad(wo, x13, r);
        e = dsp_smlad(dsp_sxtb16(wo), x13, e);
        acc[2 * q] = e;
        acc[2 * q + 1] = r;
    }
}

/* Both accumulators of a pair wrapped alike: their difference is 256 * (b1 + r1.x) exactly (the generator
 * bounds it below 2^23 per chunk). */
MCU_INLINE int32_t fc_r1(int32_t e, int32_t r)
{
    return (int32_t)((uint32_t)r - (uint32_t)e) >> 8;
}

/* The groups' own requantization, per output: (a*m + nudge_hi * 2^32 + 2^30 - (a < 0) * 2^31) >> (32 + rsh),
 * saturated to int8. It equals TFLite's double rounding (see fc_requant_right) plus the output offset, which
 * is a multiple of the divisor here; nudge_hi's range keeps the high word inside int32. */
MCU_INLINE int8_t fc_requant_folded(int32_t a, const fc_state_t *s)
{
    const int64_t nudge = (int64_t)s->nudge_hi * 4294967296LL + 0x40000000 - (a < 0 ? 0x80000000LL : 0);
    return (int8_t)FC_SSAT8((int32_t)(((int64_t)a * s->mult + nudge) >> 32) >> s->rsh);
}

/* fc_blocks: blocks of FC_BLOCK_PAIRS pairs, fc_singles: single pairs, over the s->n_words input words at
 * s->x. Each group loads its init words from w and accumulates; then, with s->y set, writes its outputs there
 * and goes on for s->n_groups groups; without, leaves one group's accumulators in s->acc. Both return the
 * weights after the last group. */
#if MCU_HAS_DSP && defined(__thumb2__)
/* Assembly, because GCC spills accumulators and does not fold the ROR into SXTB16 here (~45% more
 * instructions). Blocks: 23 instructions per input word (24 MACs) plus 2 per four words, 7-9 per output;
 * r4-r9 accumulators e0 r0 e1 r1 e2 r2, r10/r11 input pairs (x0, x2)/(x1, x3), r1 x, r2 w, r3 x end,
 * r0/r12/lr weight words. Single pairs: 10 per word (8 MACs). LDM/LDRD need the 4-byte-aligned weights. */
#define FC_UNUSED __attribute__((unused)) /* naked: the parameters are read in assembly */

/* Requantize accumulator \a into *y++: r3 mult, r10 rsh, r11 nudge_hi, r1 y; r0, r12, lr scratch. */
#define FC_ASM_OUT_MACRO                                                                                    \
    ".macro fc_out a\n\t"                                                                                   \
    "and    r0, \\a, #0x80000000\n\t"                                                                       \
    "rsbs   r12, r0, #0x40000000\n\t"                                                                       \
    "sbc    lr, r11, #0\n\t"                                                                                \
    "smlal  r12, lr, \\a, r3\n\t"                                                                           \
    "asr    lr, lr, r10\n\t"                                                                                \
    "ssat   lr, #8, lr\n\t"                                                                                 \
    "strb   lr, [r1], #1\n\t"                                                                               \
    ".endm\n\t"

/* After a group: r0 = the state; fetch y and the requantization constants, or branch to 9f (no y). */
#define FC_ASM_OUT_SETUP                                                                                    \
    "ldr    r0, [sp]\n\t"                                                                                   \
    "ldr    r1, [r0, #4]\n\t"                                                                               \
    "cmp    r1, #0\n\t"                                                                                     \
    "beq    9f\n\t"                                                                                         \
    "ldrd   r3, r10, [r0, #8]\n\t"                                                                          \
    "ldr    r11, [r0, #16]\n\t"

/* After the outputs: store y, count the group down, loop to 1b; then return w. */
#define FC_ASM_NEXT_GROUP                                                                                   \
    "ldr    r0, [sp]\n\t"                                                                                   \
    "str    r1, [r0, #4]\n\t"                                                                               \
    "ldr    r3, [r0, #20]\n\t"                                                                              \
    "subs   r3, r3, #1\n\t"                                                                                 \
    "str    r3, [r0, #20]\n\t"                                                                              \
    "bne    1b\n\t"                                                                                         \
    "mov    r0, r2\n\t"                                                                                     \
    "pop    {r1, r4-r11, pc}\n"

__attribute__((naked, noinline)) static const int32_t *fc_blocks(FC_UNUSED const int32_t *w,
                                                                FC_UNUSED fc_state_t *s)
{
    __asm__ volatile(
        "push   {r1, r4-r11, lr}\n\t"
        "mov    r2, r0\n\t"
        ".macro fc_word\n\t"
        "ldr    r11, [r1], #4\n\t"
        "ldm    r2!, {r0, r12, lr}\n\t"
        "sxtb16 r10, r11\n\t"
        "sxtb16 r11, r11, ror #8\n\t"
        "smlad  r5, r0, r10, r5\n\t"
        "sxtb16 r0, r0\n\t"
        "smlad  r4, r0, r10, r4\n\t"
        "smlad  r5, r12, r11, r5\n\t"
        "sxtb16 r12, r12\n\t"
        "smlad  r4, r12, r11, r4\n\t"
        "smlad  r7, lr, r10, r7\n\t"
        "sxtb16 lr, lr\n\t"
        "smlad  r6, lr, r10, r6\n\t"
        "ldm    r2!, {r0, r12, lr}\n\t"
        "smlad  r7, r0, r11, r7\n\t"
        "sxtb16 r0, r0\n\t"
        "smlad  r6, r0, r11, r6\n\t"
        "smlad  r9, r12, r10, r9\n\t"
        "sxtb16 r12, r12\n\t"
        "smlad  r8, r12, r10, r8\n\t"
        "smlad  r9, lr, r11, r9\n\t"
        "sxtb16 lr, lr\n\t"
        "smlad  r8, lr, r11, r8\n\t"
        ".endm\n\t"
        FC_ASM_OUT_MACRO
        "1:\n\t" /* next block */
        "ldr    r0, [sp]\n\t"
        "ldr    r3, [r0]\n\t"
        "ldr    r1, [r0, #24]\n\t"
        "ldm    r2!, {r4-r9}\n\t"
        "add    r3, r1, r3, lsl #2\n\t"
        "sub    r0, r3, r1\n\t"
        "tst    r0, #4\n\t" /* n_words % 4 words first, then four at a time */
        "beq    2f\n\t"
        "fc_word\n"
        "2:\n\t"
        "sub    r0, r3, r1\n\t"
        "tst    r0, #8\n\t"
        "beq    3f\n\t"
        "fc_word\n\t"
        "fc_word\n"
        "3:\n\t"
        "cmp    r1, r3\n\t"
        "beq    5f\n"
        "4:\n\t"
        "fc_word\n\t"
        "fc_word\n\t"
        "fc_word\n\t"
        "fc_word\n\t"
        "cmp    r1, r3\n\t"
        "bne    4b\n"
        "5:\n\t"
        FC_ASM_OUT_SETUP
        "sub    r5, r5, r4\n\t" /* r1.x = (r - e) / 256, exact */
        "asr    r5, r5, #8\n\t"
        "sub    r7, r7, r6\n\t"
        "asr    r7, r7, #8\n\t"
        "sub    r9, r9, r8\n\t"
        "asr    r9, r9, #8\n\t"
        "fc_out r4\n\t"
        "fc_out r5\n\t"
        "fc_out r6\n\t"
        "fc_out r7\n\t"
        "fc_out r8\n\t"
        "fc_out r9\n\t"
        FC_ASM_NEXT_GROUP
        "9:\n\t"
        "ldr    r0, [r0, #28]\n\t"
        "stm    r0, {r4-r9}\n\t"
        "mov    r0, r2\n\t"
        "pop    {r1, r4-r11, pc}\n\t"
        ".purgem fc_word\n\t"
        ".purgem fc_out\n\t");
}

__attribute__((naked, noinline)) static const int32_t *fc_singles(FC_UNUSED const int32_t *w,
                                                                 FC_UNUSED fc_state_t *s)
{
    __asm__ volatile(
        "push   {r1, r4-r11, lr}\n\t"
        "mov    r2, r0\n\t"
        ".macro fc_word1\n\t" /* r4 e, r5 r, r6/r7 input pairs, r8/r9 weight words */
        "ldr    r6, [r1], #4\n\t"
        "ldrd   r8, r9, [r2], #8\n\t"
        "sxtb16 r7, r6\n\t"
        "sxtb16 r6, r6, ror #8\n\t"
        "smlad  r5, r8, r7, r5\n\t"
        "sxtb16 r8, r8\n\t"
        "smlad  r4, r8, r7, r4\n\t"
        "smlad  r5, r9, r6, r5\n\t"
        "sxtb16 r9, r9\n\t"
        "smlad  r4, r9, r6, r4\n\t"
        ".endm\n\t"
        FC_ASM_OUT_MACRO
        "1:\n\t" /* next pair */
        "ldr    r0, [sp]\n\t"
        "ldr    r3, [r0]\n\t"
        "ldr    r1, [r0, #24]\n\t"
        "ldrd   r4, r5, [r2], #8\n\t"
        "add    r3, r1, r3, lsl #2\n\t"
        "sub    r0, r3, r1\n\t"
        "tst    r0, #4\n\t" /* an odd word first, then two at a time */
        "beq    2f\n\t"
        "fc_word1\n"
        "2:\n\t"
        "cmp    r1, r3\n\t"
        "beq    4f\n"
        "3:\n\t"
        "fc_word1\n\t"
        "fc_word1\n\t"
        "cmp    r1, r3\n\t"
        "bne    3b\n"
        "4:\n\t"
        FC_ASM_OUT_SETUP
        "sub    r5, r5, r4\n\t"
        "asr    r5, r5, #8\n\t"
        "fc_out r4\n\t"
        "fc_out r5\n\t"
        FC_ASM_NEXT_GROUP
        "9:\n\t"
        "ldr    r0, [r0, #28]\n\t"
        "strd   r4, r5, [r0]\n\t"
        "mov    r0, r2\n\t"
        "pop    {r1, r4-r11, pc}\n\t"
        ".purgem fc_word1\n\t"
        ".purgem fc_out\n\t");
}
#else
static const int32_t *fc_groups(const int32_t *w, fc_state_t *s, int32_t np)
{
    int32_t acc[2 * FC_BLOCK_PAIRS];
    do {
        for (int32_t i = 0; i < 2 * np; ++i) {
            acc[i] = w[i];
        }
        w += 2 * np;
        for (int32_t k = 0; k < s->n_words; ++k) {
            fc_step(dsp_load_s8x4(s->x + 4 * k), w, np, acc);
            w += 2 * np;
        }
        if (s->y == NULL) {
            for (int32_t i = 0; i < 2 * np; ++i) {
                s->acc[i] = acc[i];
            }
            break;
        }
        for (int32_t q = 0; q < np; ++q) {
            *s->y++ = fc_requant_folded(acc[2 * q], s);
            *s->y++ = fc_requant_folded(fc_r1(acc[2 * q], acc[2 * q + 1]), s);
        }
    } while (--s->n_groups != 0);
    return w;
}

static const int32_t *fc_blocks(const int32_t *w, fc_state_t *s)
{
    return fc_groups(w, s, FC_BLOCK_PAIRS);
}

static const int32_t *fc_singles(const int32_t *w, fc_state_t *s)
{
    return fc_groups(w, s, 1);
}
#endif

/* TFLite's MultiplyByQuantizedMultiplier when the shift is right by e = rsh + 1 >= 1: its two roundings,
 * floor((a*m + 2^30) / 2^31) then half away from zero by 2^e, equal one floor division of
 * a*m + 2^30 + 2^(30+e) - (h < 0) * 2^31 by 2^(31+e), h the first rounding; nudge = 2^30 + 2^(30+e). The
 * test a ^ m < 0 (the product's sign) differs from h < 0 only where h is 0 (a or m zero, or |a*m| = 2^30),
 * and there the division gives 0 either way: exact for multipliers of both signs (negative filter scales). */
MCU_INLINE int32_t fc_requant_right(int32_t acc, int32_t mult, int32_t rsh, uint32_t nudge_lo, uint32_t nudge_hi)
{
    const uint64_t nudge = (((uint64_t)nudge_hi << 32) | nudge_lo) - ((acc ^ mult) < 0 ? 0x80000000u : 0u);
    const int64_t v = (int64_t)acc * mult + (int64_t)nudge;
    return (int32_t)(v >> 32) >> rsh;
}

/* The general finish of `np` pairs from row o, g->acc = {e, h} per pair: any requantization, clamp,
 * filter offset, fixups. */
static void fc_finish(const fc_state_t *s, fc_general_t *g, int32_t np, int32_t o)
{
    const fully_connected_s8_dsp_params_t *p = s->p;
    int32_t count = p->out_features - o;
    count = count < 2 * np ? count : 2 * np;
    for (int32_t i = 0; i < count; ++i) {
        uint32_t acc = (uint32_t)g->acc[i] + g->corr;
        /* Fixups come sorted by row, and rows are finished in order. */
        for (; g->fix != g->fix_end && g->fix[0] == o + i; g->fix += 2) {
            acc -= (uint32_t)(int32_t)s->xb[g->fix[1]];
        }
        const int32_t *rq = g->requant + p->requant_stride * (o + i);
        const int32_t v = rq[1] >= 0 ? fc_requant_right((int32_t)acc, rq[0], rq[1], (uint32_t)rq[2], (uint32_t)rq[3])
                                     : multiply_by_quantized_multiplier((int32_t)acc, rq[0], -1 - rq[1]);
        s->out[o + i] = (int8_t)clamp_s32(v + p->output_offset, p->act_min, p->act_max);
    }
}

/* The last 1..3 inputs, zero-extended to a word (their weights' padding columns are zero). */
static const int32_t *fc_tail(fc_state_t *s, const int32_t *w, int32_t np)
{
    uint32_t xw = 0;
    const int32_t n = s->p->in_features & 3;
    for (int32_t i = 0; i < n; ++i) {
        xw |= (uint32_t)(uint8_t)s->x[4 * s->n_words + i] << (8 * i);
    }
    fc_step(xw, w, np, s->acc);
    return w + 2 * np;
}

/* Pairs q.. of one batch row that the groups do not finish themselves. Blocks run in one chunk; single
 * pairs over every chunk of the input. */
__attribute__((noinline)) static void fc_general(fc_state_t *s, const int32_t *w, int32_t q, const int32_t *requant,
                                                 const int32_t *fixups)
{
    const fully_connected_s8_dsp_params_t *p = s->p;
    const int32_t n_words = p->in_features >> 2;
    const int32_t n_pairs = (p->out_features + 1) / 2;
    /* Layers in several chunks run single pairs only (see fully_connected_dsp.py). */
    const int32_t n_full = p->chunk_words >= n_words ? n_pairs / FC_BLOCK_PAIRS * FC_BLOCK_PAIRS : 0;
    fc_general_t g;
    g.requant = requant;
    g.fix = fixups;
    g.fix_end = fixups + 2 * p->n_fixups;
    g.corr = 0;
    if (p->filter_offset != 0) {
        /* Per-tensor weights with a zero point: filter_offset * sum(x) is the input-dependent term. */
        int32_t sum = 0;
        for (int32_t i = 0; i < p->in_features; ++i) {
            sum += s->xb[i];
        }
        g.corr = (uint32_t)p->filter_offset * (uint32_t)sum;
    }
    s->acc = g.acc;
    s->y = NULL;
    s->n_groups = 1;
    for (; q < n_full; q += FC_BLOCK_PAIRS) {
        s->x = s->xb;
        s->n_words = n_words;
        w = fc_blocks(w, s);
        if (p->in_features & 3) {
            w = fc_tail(s, w, FC_BLOCK_PAIRS);
        }
        for (int32_t i = 0; i < FC_BLOCK_PAIRS; ++i) {
            g.acc[2 * i + 1] = fc_r1(g.acc[2 * i], g.acc[2 * i + 1]);
        }
        fc_finish(s, &g, FC_BLOCK_PAIRS, 2 * q);
    }
    for (; q < n_pairs; ++q) {
        uint32_t e = 0, h = 0;
        for (int32_t k = 0; k == 0 || k < n_words; k += p->chunk_words) {
            s->x = s->xb + 4 * k;
            s->n_words = n_words - k < p->chunk_words ? n_words - k : p->chunk_words;
            w = fc_singles(w, s);
            if ((p->in_features & 3) && k + p->chunk_words >= n_words) {
                w = fc_tail(s, w, 1);
            }
            e += (uint32_t)g.acc[0];
            h += (uint32_t)fc_r1(g.acc[0], g.acc[1]);
        }
        g.acc[0] = (int32_t)e;
        g.acc[1] = (int32_t)h;
        fc_finish(s, &g, 1, 2 * q);
    }
}

void fully_connected_s8_dsp(const fully_connected_s8_dsp_params_t *p, const int8_t *input, const int32_t *filter,
                            const int32_t *requant, const int32_t *fixups, int8_t *output)
{
    /* The common path keeps little on the stack under the assembly (peak stack counts in the SRAM budget). */
    fc_state_t s;
    s.mult = requant[0];
    s.rsh = requant[1];
    s.nudge_hi = p->nudge_hi;
    s.p = p;
    s.xb = input;
    s.out = output;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int32_t *w = filter;
        s.x = s.xb;
        s.n_words = p->in_features >> 2;
        s.y = s.out;
        if (p->fast_blocks > 0) {
            s.n_groups = p->fast_blocks;
            w = fc_blocks(w, &s);
        }
        if (p->fast_singles > 0) {
            s.n_groups = p->fast_singles;
            w = fc_singles(w, &s);
        }
        const int32_t q = p->fast_blocks * FC_BLOCK_PAIRS + p->fast_singles;
        if (q < (p->out_features + 1) / 2) {
            fc_general(&s, w, q, requant, fixups);
        }
        s.xb += p->in_features;
        s.out += p->out_features;
    }
}
