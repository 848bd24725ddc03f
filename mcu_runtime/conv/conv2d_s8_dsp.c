#include "conv2d_s8_dsp.h"

#include <string.h>

#include "dsp_intrinsics.h"

/* Output pixels computed together: every filter word unpacked once feeds six pixels. Must match PIXELS in
 * codegen/kernels/conv2d_dsp.py (the scratch size). */
#define CONV_DSP_PIXELS 6

/* The scratch holds the patches of CONV_DSP_PIXELS pixels as int16, group by group: for each group g of four
 * taps, pixel p's taps {4g, 4g+2} and {4g+1, 4g+3} as two words at xs[(g * CONV_DSP_PIXELS + p) * 2]. That is
 * what SXTB16 makes of a filter word (lanes 0, 2 and, rotated, 1, 3), so SMLAD needs no shuffling, and the
 * words of two pixels load with one LDM. A scratch of CONV_DSP_PIXELS slots; the leftover pixels of a layer
 * go through slot 0 one by one. */
#define CONV_DSP_GROUP_WORDS (2 * CONV_DSP_PIXELS)

/* A channel's row in `rows`: bias', k_pad, k_pad / 4 filter words, mult, rnd, rshift. */
#define CONV_DSP_ROW_HEAD 2
#define CONV_DSP_ROW_TAIL 3

#if MCU_HAS_DSP && defined(__thumb2__)
#define CONV_DSP_ASM 1
#else
#define CONV_DSP_ASM 0
#endif

/* n4 groups of four contiguous int8 taps into one pixel slot (dst), group after group. */
DSP_INLINE uint32_t *conv_dsp_convert(const int8_t *src, int32_t n4, uint32_t *dst)
{
    if (n4 <= 0) {
        return dst;
    }
#if CONV_DSP_ASM
    /* GCC does not fold the ROR into SXTB16 and splits the stores. From a word-aligned source (whole-word
     * channel counts) LDRD takes two groups: 4 instructions per group, else 6. */
    uint32_t a;
    uint32_t b;
    uint32_t c;
    __asm__ volatile(
        "tst    %[src], #3\n\t"
        "bne    3f\n\t"
        "subs   %[n], %[n], #2\n\t"
        "blt    2f\n\t"
        "1:\n\t"
        "ldrd   %[a], %[b], [%[src]], #8\n\t"
        "sxtb16 %[c], %[a]\n\t"
        "sxtb16 %[a], %[a], ror #8\n\t"
        "strd   %[c], %[a], [%[dst]], #%c[gb]\n\t"
        "sxtb16 %[c], %[b]\n\t"
        "sxtb16 %[b], %[b], ror #8\n\t"
        "strd   %[c], %[b], [%[dst]], #%c[gb]\n\t"
        "subs   %[n], %[n], #2\n\t"
        "bge    1b\n\t"
        "2:\n\t"
        "adds   %[n], %[n], #2\n\t"
        "beq    4f\n\t"
        "3:\n\t"
        "ldr    %[a], [%[src]], #4\n\t"
        "sxtb16 %[c], %[a]\n\t"
        "sxtb16 %[a], %[a], ror #8\n\t"
        "strd   %[c], %[a], [%[dst]], #%c[gb]\n\t"
        "subs   %[n], %[n], #1\n\t"
        "bne    3b\n\t"
        "4:\n\t"
        : [src] "+r"(src), [dst] "+r"(dst), [n] "+r"(n4), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c)
        : [gb] "i"(4 * CONV_DSP_GROUP_WORDS)
        : "cc", "memory");
    return dst;
#else
    for (int32_t i = 0; i < n4; ++i) {
        const uint32_t v = dsp_load_s8x4(src);
        dst[0] = dsp_sxtb16(v);
        dst[1] = dsp_sxtb16(dsp_ror8(v));
        src += 4;
        dst += CONV_DSP_GROUP_WORDS;
    }
    return dst;
#endif
}

static uint32_t *conv_dsp_fill(uint32_t pair, int32_t n4, uint32_t *dst)
{
    for (int32_t i = 0; i < n4; ++i) {
        dst[0] = pair;
        dst[1] = pair;
        dst += CONV_DSP_GROUP_WORDS;
    }
    return dst;
}

/* kernel_h filter rows of row_len contiguous taps, `step` apart: the input itself when the window lies inside it
 * (undilated in x), else the gathered patch. A row's whole words go to its groups; its row_len % 4 leftover taps
 * to consecutive halfwords of the leftover groups after all rows' groups (a slot's pair of words ends 8-byte
 * aligned, then the next group's pair follows CONV_DSP_GROUP_WORDS words on), so the filter words hold leftover
 * t at byte {0, 2, 1, 3}[t % 4], the lane SXTB16 pairs with halfword t % 4. */
static void conv_dsp_rows_inside(const conv2d_s8_dsp_params_t *p, const int8_t *row, int32_t step, uint32_t *slot)
{
    const int32_t row_len = p->kernel_w * p->in_c;
    const int32_t g = row_len >> 2;
    const int32_t left = row_len & 3;
    const int32_t kernel_h = p->kernel_h;
    uint8_t *lp = (uint8_t *)(slot + kernel_h * g * CONV_DSP_GROUP_WORDS);
    for (int32_t ky = 0; ky < kernel_h; ++ky, row += step) {
        slot = conv_dsp_convert(row, g, slot);
        for (int32_t j = 0; j < left; ++j) {
            const int16_t h = row[4 * g + j];
            memcpy(lp, &h, sizeof h);
            lp += 2;
            if (((uintptr_t)lp & 7u) == 0) {
                lp += 4 * (CONV_DSP_GROUP_WORDS - 2);
            }
        }
    }
}

/* Pixel (oy, ox)'s patch into slot `slot` (xs + 2 * q). Taps outside the input read the zero point. */
static void conv_dsp_patch(const conv2d_s8_dsp_params_t *p, const int8_t *input, int32_t oy, int32_t ox,
                           uint32_t *slot, int8_t *patch)
{
    const int32_t in_c = p->in_c;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int32_t in_row = p->in_w * in_c;
    const uint8_t zp = (uint8_t)(int8_t)p->pad_value;
    const int32_t inside_x = p->dilation_w == 1 && ix0 >= 0 && ix0 + p->kernel_w <= p->in_w;
    if (inside_x && iy0 >= 0 && iy0 + (p->kernel_h - 1) * p->dilation_h < p->in_h) {
        conv_dsp_rows_inside(p, input + iy0 * in_row + ix0 * in_c, p->dilation_h * in_row, slot);
        return;
    }
    if ((in_c & 3) == 0) {
        /* Every tap is a whole number of groups (no leftovers): convert straight from the input. */
        const uint32_t pad_pair = dsp_sxtb16(0x00010001u * zp);
        const int32_t c4 = in_c >> 2;
        uint32_t *dst = slot;
        for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= p->in_h) {
                dst = conv_dsp_fill(pad_pair, c4 * p->kernel_w, dst);
                continue;
            }
            for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                if (ix < 0 || ix >= p->in_w) {
                    dst = conv_dsp_fill(pad_pair, c4, dst);
                } else {
                    dst = conv_dsp_convert(input + iy * in_row + ix * in_c, c4, dst);
                }
            }
        }
        return;
    }
    /* Otherwise gather the int8 patch in OHWI order first (edge pixels only: kept shallow in stack). */
    int8_t *d = patch;
    for (int32_t ky = 0; ky < p->kernel_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->kernel_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                memcpy(d, input + iy * in_row + ix * in_c, (size_t)in_c);
            } else {
                memset(d, zp, (size_t)in_c);
            }
            d += in_c;
        }
    }
    conv_dsp_rows_inside(p, patch, p->kernel_w * in_c, slot);
}

#if CONV_DSP_ASM
/* The per-channel loop by hand: GCC spills around the inner loop and reloads every constant. All 14 registers
 * are fixed (LDM needs ascending ones): accumulators r0-r3, r5, r7 (saved here: it may be the frame pointer),
 * filter r4, scratch r6, filter word lr/r9, inputs r8, r10-r12. Per output channel: 75 instructions per
 * 4 filter words (96 MACs), a 2-word entry when k_pad / 8 is odd, then requantization (4 instructions per
 * output), saturation and stores: 55 + 75 * k_pad / 16 in all. Stack while it runs: [sp] the end of the
 * channel's filter words, [sp + 8] the frame f = {o, off1..off5, o_end, xs, act_min, act_max}, [sp + 12] r7. */
#define CONV_DSP_GROUP6                                                                                           \
    "ldr    r9, [r4], #4\n\t"                                                                                     \
    "sxtb16 lr, r9\n\t"                                                                                           \
    "sxtb16 r9, r9, ror #8\n\t"                                                                                   \
    "ldm    r6!, {r8, r10, r11, r12}\n\t"                                                                         \
    "smlad  r0, lr, r8, r0\n\t"                                                                                   \
    "smlad  r0, r9, r10, r0\n\t"                                                                                  \
    "smlad  r1, lr, r11, r1\n\t"                                                                                  \
    "smlad  r1, r9, r12, r1\n\t"                                                                                  \
    "ldm    r6!, {r8, r10, r11, r12}\n\t"                                                                         \
    "smlad  r2, lr, r8, r2\n\t"                                                                                   \
    "smlad  r2, r9, r10, r2\n\t"                                                                                  \
    "smlad  r3, lr, r11, r3\n\t"                                                                                  \
    "smlad  r3, r9, r12, r3\n\t"                                                                                  \
    "ldm    r6!, {r8, r10, r11, r12}\n\t"                                                                         \
    "smlad  r5, lr, r8, r5\n\t"                                                                                   \
    "smlad  r5, r9, r10, r5\n\t"                                                                                  \
    "smlad  r7, lr, r11, r7\n\t"                                                                                  \
    "smlad  r7, r9, r12, r7\n\t"

/* (SMMLAR(2 * acc, mult, rnd) - (acc < 0)) >> rshift with {mult, rnd, rshift} in r8, r10, r11 */
#define CONV_DSP_REQUANT(r)                                                                                       \
    "lsl    r12, " r ", #1\n\t"                                                                                   \
    "smmlar r12, r12, r8, r10\n\t"                                                                                \
    "add    " r ", r12, " r ", asr #31\n\t"                                                                       \
    "asr    " r ", " r ", r11\n\t"

#define CONV_DSP_BLOCK_HEAD                                                                                       \
    "push   {r6, r7}\n\t"                                                                                         \
    "sub    sp, sp, #8\n\t"                                                                                       \
    "1:\n\t"                                                                                                      \
    "ldrd   r0, r10, [r4], #8\n\t" /* bias', k_pad */                                                             \
    "mov    r1, r0\n\t"                                                                                           \
    "mov    r2, r0\n\t"                                                                                           \
    "mov    r3, r0\n\t"                                                                                           \
    "mov    r5, r0\n\t"                                                                                           \
    "mov    r7, r0\n\t"                                                                                           \
    "add    r8, r4, r10\n\t"                                                                                      \
    "str    r8, [sp]\n\t"                                                                                         \
    "ldr    r6, [sp, #8]\n\t"                                                                                     \
    "ldr    r6, [r6, #28]\n\t" /* xs */                                                                           \
    "tst    r10, #8\n\t"                                                                                          \
    "bne    3f\n\t"                                                                                               \
    "2:\n\t"                                                                                                      \
    CONV_DSP_GROUP6 CONV_DSP_GROUP6                                                                               \
    "3:\n\t"                                                                                                      \
    CONV_DSP_GROUP6 CONV_DSP_GROUP6                                                                               \
    "ldr    r8, [sp]\n\t"                                                                                         \
    "cmp    r4, r8\n\t"                                                                                           \
    "bne    2b\n\t"                                                                                               \
    "ldmia  r4!, {r8, r10, r11}\n\t" /* mult, rnd, rshift */                                                      \
    CONV_DSP_REQUANT("r0") CONV_DSP_REQUANT("r1") CONV_DSP_REQUANT("r2") CONV_DSP_REQUANT("r3")                    \
    CONV_DSP_REQUANT("r5") CONV_DSP_REQUANT("r7")                                                                  \
    "ldr    r6, [sp, #8]\n\t"

#define CONV_DSP_SAT(r) "ssat   " r ", #8, " r "\n\t"

#define CONV_DSP_SAT6                                                                                             \
    CONV_DSP_SAT("r0") CONV_DSP_SAT("r1") CONV_DSP_SAT("r2") CONV_DSP_SAT("r3") CONV_DSP_SAT("r5") CONV_DSP_SAT("r7")

/* A fused activation narrower than int8: max then min with act_min, act_max (r8, r9). */
#define CONV_DSP_CLAMP1(r)                                                                                        \
    "cmp    " r ", r8\n\t"                                                                                        \
    "it     lt\n\t"                                                                                               \
    "movlt  " r ", r8\n\t"                                                                                        \
    "cmp    " r ", r9\n\t"                                                                                        \
    "it     gt\n\t"                                                                                               \
    "movgt  " r ", r9\n\t"

#define CONV_DSP_CLAMP6                                                                                           \
    "ldrd   r8, r9, [r6, #32]\n\t"                                                                                \
    CONV_DSP_CLAMP1("r0") CONV_DSP_CLAMP1("r1") CONV_DSP_CLAMP1("r2") CONV_DSP_CLAMP1("r3")                        \
    CONV_DSP_CLAMP1("r5") CONV_DSP_CLAMP1("r7")

#define CONV_DSP_BLOCK_TAIL                                                                                       \
    "ldm    r6, {r8, r9, r10, r11, r12, lr}\n\t" /* o, off1..off5 */                                              \
    "strb   r1, [r8, r9]\n\t"                                                                                     \
    "strb   r2, [r8, r10]\n\t"                                                                                    \
    "strb   r3, [r8, r11]\n\t"                                                                                    \
    "strb   r5, [r8, r12]\n\t"                                                                                    \
    "strb   r7, [r8, lr]\n\t"                                                                                     \
    "strb   r0, [r8], #1\n\t"                                                                                     \
    "str    r8, [r6]\n\t"                                                                                         \
    "ldr    r9, [r6, #24]\n\t"                                                                                    \
    "cmp    r8, r9\n\t"                                                                                           \
    "bne    1b\n\t"                                                                                               \
    "add    sp, sp, #8\n\t"                                                                                       \
    "pop    {r6, r7}\n\t"

#define CONV_DSP_BLOCK_OPERANDS                                                                                   \
    : "+r"(w), "+r"(f)                                                                                            \
    :                                                                                                             \
    : "r0", "r1", "r2", "r3", "r5", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"

/* One pixel (slot 0) against every channel, for a layer's last pixels: 14 instructions per 16 MACs, 15 +
 * 14 * k_pad / 8 per channel. Frame: {o, o_end, xs, act_min, act_max}. */
#define CONV_DSP_ONE_GROUP                                                                                        \
    "ldr    r9, [r4], #4\n\t"                                                                                     \
    "sxtb16 lr, r9\n\t"                                                                                           \
    "sxtb16 r9, r9, ror #8\n\t"                                                                                   \
    "ldrd   r8, r10, [r6], #%c[gb]\n\t"                                                                           \
    "smlad  r0, lr, r8, r0\n\t"                                                                                   \
    "smlad  r0, r9, r10, r0\n\t"

#define CONV_DSP_ONE_HEAD                                                                                         \
    "push   {r0, r5, r6, r8, r9}\n\t"                                                                             \
    "1:\n\t"                                                                                                      \
    "ldrd   r0, r5, [r4], #8\n\t"                                                                                 \
    "add    r5, r4, r5\n\t"                                                                                       \
    "ldr    r6, [sp, #8]\n\t"                                                                                     \
    "2:\n\t"                                                                                                      \
    CONV_DSP_ONE_GROUP CONV_DSP_ONE_GROUP                                                                         \
    "cmp    r4, r5\n\t"                                                                                           \
    "bne    2b\n\t"                                                                                               \
    "ldmia  r4!, {r8, r10, r11}\n\t"                                                                              \
    CONV_DSP_REQUANT("r0")

#define CONV_DSP_ONE_TAIL                                                                                         \
    "ldrd   r5, r6, [sp]\n\t"                                                                                     \
    "strb   r0, [r5], #1\n\t"                                                                                     \
    "str    r5, [sp]\n\t"                                                                                         \
    "cmp    r5, r6\n\t"                                                                                           \
    "bne    1b\n\t"                                                                                               \
    "add    sp, sp, #20\n\t"

#define CONV_DSP_ONE_OPERANDS                                                                                     \
    : "+r"(w), "+r"(o), "+r"(o_end), "+r"(xs), "+r"(act_min), "+r"(act_max)                                      \
    : [gb] "i"(4 * CONV_DSP_GROUP_WORDS)                                                                          \
    : "r1", "r2", "r3", "r10", "r11", "r12", "lr", "cc", "memory"

#endif

/* `pixels` (CONV_DSP_PIXELS, or 1: slot 0) pixels of the scratch against every output channel; pixel q's
 * outputs go to out + min(q, last) * out_c (a short last block repeats its last pixel in the spare slots). */
static void conv_dsp_block(const conv2d_s8_dsp_params_t *p, const uint32_t *xs_in, const int32_t *rows, int8_t *out,
                           int32_t last, int32_t pixels)
{
    const int32_t clamp = p->act_min > -128 || p->act_max < 127;
#if CONV_DSP_ASM
    register const int32_t *w __asm__("r4") = rows;
    if (pixels == 1) {
        register int8_t *o __asm__("r0") = out;
        register int8_t *o_end __asm__("r5") = out + p->out_c;
        register const uint32_t *xs __asm__("r6") = xs_in;
        register int32_t act_min __asm__("r8") = p->act_min;
        register int32_t act_max __asm__("r9") = p->act_max;
        if (clamp) {
            __asm__ volatile(CONV_DSP_ONE_HEAD "ldrd   r8, r9, [sp, #12]\n\t" CONV_DSP_CLAMP1("r0")
                             CONV_DSP_ONE_TAIL CONV_DSP_ONE_OPERANDS);
        } else {
            __asm__ volatile(CONV_DSP_ONE_HEAD CONV_DSP_SAT("r0") CONV_DSP_ONE_TAIL CONV_DSP_ONE_OPERANDS);
        }
        return;
    }
    /* What the assembly reads: {o, off1..off5, o_end, xs, act_min, act_max}. */
    int32_t frame[10];
    int8_t *const o_end = out + p->out_c;
    memcpy(&frame[0], &out, sizeof out); /* 32-bit pointers on the core */
    for (int32_t q = 1; q < CONV_DSP_PIXELS; ++q) {
        frame[q] = (q < last ? q : last) * p->out_c;
    }
    memcpy(&frame[6], &o_end, sizeof o_end);
    memcpy(&frame[7], &xs_in, sizeof xs_in);
    frame[8] = p->act_min;
    frame[9] = p->act_max;
    register int32_t *f __asm__("r6") = frame;
    if (clamp) {
        __asm__ volatile(CONV_DSP_BLOCK_HEAD CONV_DSP_CLAMP6 CONV_DSP_BLOCK_TAIL CONV_DSP_BLOCK_OPERANDS);
    } else {
        __asm__ volatile(CONV_DSP_BLOCK_HEAD CONV_DSP_SAT6 CONV_DSP_BLOCK_TAIL CONV_DSP_BLOCK_OPERANDS);
    }
#else
    (void)clamp;
    const int32_t *w = rows;
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc[CONV_DSP_PIXELS];
        const int32_t n4 = w[1] >> 2;
        for (int32_t q = 0; q < pixels; ++q) {
            acc[q] = w[0];
        }
        w += CONV_DSP_ROW_HEAD;
        const uint32_t *x = xs_in;
        for (int32_t g = 0; g < n4; ++g) {
            const uint32_t wr = (uint32_t)*w++;
            const uint32_t w02 = dsp_sxtb16(wr);
            const uint32_t w13 = dsp_sxtb16(dsp_ror8(wr));
            for (int32_t q = 0; q < pixels; ++q) {
                acc[q] = dsp_smlad(w13, x[2 * q + 1], dsp_smlad(w02, x[2 * q], acc[q]));
            }
            x += CONV_DSP_GROUP_WORDS;
        }
        const int32_t mult = w[0];
        const int32_t rnd = w[1];
        const int32_t rshift = w[2];
        w += CONV_DSP_ROW_TAIL;
        for (int32_t q = 0; q < pixels; ++q) {
            /* (SMMLAR(2 * acc, mult, rnd) - (acc < 0)) >> rshift, the sum wrapping through uint32 */
            const int32_t hi = dsp_smmlar((int32_t)((uint32_t)acc[q] << 1), mult, rnd);
            int32_t v = (int32_t)((uint32_t)hi + (uint32_t)(acc[q] >> 31)) >> rshift;
            v = v < p->act_min ? p->act_min : v;
            v = v > p->act_max ? p->act_max : v;
            out[(q < last ? q : last) * p->out_c + oc] = (int8_t)v;
        }
    }
#endif
}

/* Walks the output pixels in order, keeping the input offset of each window's first tap (negative or past
 * the input when padded: pointers are formed only inside). */
typedef struct {
    const conv2d_s8_dsp_params_t *p;
    const int8_t *input;
    int8_t *patch;
    int32_t pointwise;
    int32_t pix_step, row_step, dil_step;
    int32_t ox_lo, ox_hi, oy_lo, oy_hi; /* windows wholly inside the input (and undilated in x) */
    int32_t oy, ox, off, row_off;
    int8_t *scratch;  /* where the scratch is now */
    int32_t borrowed; /* 0: the planner's; 1: the output's tail; 2: moved to the input's start */
} conv_dsp_walk_t;

/* floor(a / b) for b > 0 */
static int32_t conv_dsp_floor_div(int32_t a, int32_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int32_t conv_dsp_clamp_range(int32_t v, int32_t hi)
{
    return v < 0 ? 0 : (v > hi ? hi : v);
}

/* Moves to output pixel `at` (row-major). */
static void conv_dsp_walk_seek(conv_dsp_walk_t *k, int32_t at)
{
    const conv2d_s8_dsp_params_t *p = k->p;
    k->oy = at / p->out_w;
    k->ox = at - k->oy * p->out_w;
    k->row_off = k->oy * k->row_step - p->pad_h * p->in_w * p->in_c - p->pad_w * p->in_c;
    k->off = k->row_off + k->ox * k->pix_step;
}

static void conv_dsp_walk_init(conv_dsp_walk_t *k, const conv2d_s8_dsp_params_t *p, const int8_t *input,
                               int8_t *patch)
{
    const int32_t in_row = p->in_w * p->in_c;
    k->p = p;
    k->input = input;
    k->patch = patch;
    /* 1x1 on whole words with every window inside the input (a patch window has pad <= 0). */
    k->pointwise = p->kernel_h == 1 && p->kernel_w == 1 && (p->in_c & 3) == 0 && p->pad_h <= 0 && p->pad_w <= 0
        && (p->out_h - 1) * p->stride_h - p->pad_h < p->in_h && (p->out_w - 1) * p->stride_w - p->pad_w < p->in_w;
    k->pix_step = p->stride_w * p->in_c;
    k->row_step = p->stride_h * in_row;
    k->dil_step = p->dilation_h * in_row;
    /* ox * stride_w - pad_w >= 0 and + kernel_w <= in_w; likewise in y with the dilated height. */
    k->ox_lo = conv_dsp_clamp_range(conv_dsp_floor_div(p->pad_w + p->stride_w - 1, p->stride_w), p->out_w);
    k->ox_hi = conv_dsp_clamp_range(conv_dsp_floor_div(p->in_w - p->kernel_w + p->pad_w, p->stride_w) + 1, p->out_w);
    if (p->dilation_w != 1) {
        k->ox_hi = 0;
    }
    const int32_t span_h = (p->kernel_h - 1) * p->dilation_h + 1;
    k->oy_lo = conv_dsp_clamp_range(conv_dsp_floor_div(p->pad_h + p->stride_h - 1, p->stride_h), p->out_h);
    k->oy_hi = conv_dsp_clamp_range(conv_dsp_floor_div(p->in_h - span_h + p->pad_h, p->stride_h) + 1, p->out_h);
    conv_dsp_walk_seek(k, 0);
}

/* The next pixel's patch into `slot`. */
static void conv_dsp_walk_next(conv_dsp_walk_t *k, uint32_t *slot)
{
    const conv2d_s8_dsp_params_t *p = k->p;
    if (k->pointwise) {
        conv_dsp_convert(k->input + k->off, p->in_c >> 2, slot);
    } else if (k->ox >= k->ox_lo && k->ox < k->ox_hi && k->oy >= k->oy_lo && k->oy < k->oy_hi) {
        conv_dsp_rows_inside(p, k->input + k->off, k->dil_step, slot);
    } else {
        conv_dsp_patch(p, k->input, k->oy, k->ox, slot, k->patch);
    }
    if (++k->ox == p->out_w) {
        k->ox = 0;
        ++k->oy;
        k->row_off += k->row_step;
        k->off = k->row_off;
    } else {
        k->off += k->pix_step;
    }
}

/* Before computing pixels from `pix` on: the scratch to use. A borrowed scratch starts at the output's tail
 * and moves to the input's start at p->scratch_switch (see conv2d_s8_dsp.h); it is zeroed when it moves. */
static uint32_t *conv_dsp_scratch(const conv2d_s8_dsp_params_t *p, conv_dsp_walk_t *k, int32_t pix)
{
    if (k->borrowed == 1 && pix >= p->scratch_switch) {
        /* The input bytes before every window still to come are dead: this call was their last reader. */
        k->scratch = (int8_t *)(uintptr_t)k->input;
        k->borrowed = 2;
        memset(k->scratch, 0, 2 * CONV_DSP_PIXELS * (size_t)p->k_pad);
        k->patch = k->scratch + 2 * CONV_DSP_PIXELS * p->k_pad;
    }
    return (uint32_t *)(void *)k->scratch; /* 8-byte aligned: planner buffers and offsets are */
}

static void conv_dsp_run(const conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows, int8_t *output,
                         int8_t *scratch)
{
    const int32_t pixels = p->out_h * p->out_w;
    conv_dsp_walk_t walk;
    if (scratch == NULL) {
        const int32_t bytes = 2 * CONV_DSP_PIXELS * p->k_pad + ((p->in_c & 3) ? p->k_pad : 0);
        scratch = output + ((pixels * p->out_c - bytes) & ~7);
        walk.borrowed = 1;
    } else {
        walk.borrowed = 0;
    }
    walk.scratch = scratch;
    /* Groups past the taps meet zero filter words; no patch writes them, so defined values once suffice. */
    memset(scratch, 0, 2 * CONV_DSP_PIXELS * (size_t)p->k_pad);
    conv_dsp_walk_init(&walk, p, input, scratch + 2 * CONV_DSP_PIXELS * p->k_pad);
    uint32_t *xs;
    /* Pixels in blocks; a last part of at least half a block fills a block whose spare slots repeat its last
     * pixel (their outputs rewrite that pixel's with the same values), fewer go one by one. */
    const int32_t rest = pixels % CONV_DSP_PIXELS;
    const int32_t full = pixels - rest;
    if (walk.pointwise && p->stride_w == 1 && p->stride_h == 1 && p->out_w == p->in_w) {
        /* The pixels are consecutive in the input too (whole rows): no walk. */
        const int8_t *src = input + walk.off;
        for (int32_t pix = 0; pix < full; pix += CONV_DSP_PIXELS) {
            xs = conv_dsp_scratch(p, &walk, pix);
            for (int32_t q = 0; q < CONV_DSP_PIXELS; ++q) {
                conv_dsp_convert(src, p->in_c >> 2, xs + 2 * q);
                src += p->in_c;
            }
            conv_dsp_block(p, xs, rows, output + pix * p->out_c, CONV_DSP_PIXELS - 1, CONV_DSP_PIXELS);
        }
        conv_dsp_walk_seek(&walk, full);
    } else {
        for (int32_t pix = 0; pix < full; pix += CONV_DSP_PIXELS) {
            xs = conv_dsp_scratch(p, &walk, pix);
            for (int32_t q = 0; q < CONV_DSP_PIXELS; ++q) {
                conv_dsp_walk_next(&walk, xs + 2 * q);
            }
            conv_dsp_block(p, xs, rows, output + pix * p->out_c, CONV_DSP_PIXELS - 1, CONV_DSP_PIXELS);
        }
    }
    if (rest >= CONV_DSP_PIXELS / 2) {
        xs = conv_dsp_scratch(p, &walk, full);
        for (int32_t q = 0; q < CONV_DSP_PIXELS; ++q) {
            if (q < rest) {
                conv_dsp_walk_next(&walk, xs + 2 * q);
                continue;
            }
            for (int32_t g = 0; g < p->k_pad >> 2; ++g) {
                uint32_t *group = xs + g * CONV_DSP_GROUP_WORDS;
                memcpy(group + 2 * q, group + 2 * (rest - 1), 8);
            }
        }
        conv_dsp_block(p, xs, rows, output + full * p->out_c, rest - 1, CONV_DSP_PIXELS);
        return;
    }
    for (int32_t pix = full; pix < pixels; ++pix) {
        xs = conv_dsp_scratch(p, &walk, pix);
        conv_dsp_walk_next(&walk, xs);
        conv_dsp_block(p, xs, rows, output + pix * p->out_c, 0, 1);
    }
}

void conv2d_s8_dsp(const conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows, int8_t *output,
                   int8_t *scratch)
{
    conv_dsp_run(p, input, rows, output, scratch);
}

void conv2d_s8_dsp_borrow(const conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *rows, int8_t *output)
{
    conv_dsp_run(p, input, rows, output, NULL);
}
