#include "depthwise_conv2d_s8_dsp.h"

#include "conv_window.h"
#include <string.h>

#include "dsp_intrinsics.h"

/* Layout of one group of four output channels in the stream (int32 words; see the header). */
#define DW_TAP_WORDS 3
#define DW_TAPS_AT 4
#define DW_REQUANT_AT(taps) (DW_TAPS_AT + DW_TAP_WORDS * (taps))
#define DW_CLAMP_AT(taps) (DW_REQUANT_AT(taps) + 12)
#define DW_BORDER_BIAS_AT(taps) (DW_CLAMP_AT(taps) + 2)
#define DW_GROUP_WORDS(taps) (DW_BORDER_BIAS_AT(taps) + 4)

/* Operations beyond dsp_intrinsics.h, on the same scheme: the instruction on DSP cores, bit-identical C
 * elsewhere. Private to this kernel, hence the dw_ prefix. */
#if MCU_HAS_DSP
/* acc + bottom(a) * bottom(b), acc + top(a) * top(b): signed int16 halves, the sum wrapping. */
DSP_INLINE int32_t dw_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb((int32_t)a, (int32_t)b, acc); }
DSP_INLINE int32_t dw_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt((int32_t)a, (int32_t)b, acc); }
/* (a * b + add * 2^32 + 2^31) >> 32, kept to 32 bits. ACLE has no intrinsic for it. */
DSP_INLINE int32_t dw_smmlar(int32_t a, int32_t b, int32_t add)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(add));
    return r;
}
DSP_INLINE int32_t dw_ssat8(int32_t x) { return __ssat(x, 8); }
/* Lanes 1 and 3 of four int8 sign-extended (plus a), via SXTB16's rotate operand. */
DSP_INLINE uint32_t dw_sxtab16_ror8(uint32_t a, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* Lane-wise max / min of four int8 lanes (SSUB8 sets the GE flags SEL picks by). */
DSP_INLINE uint32_t dw_max8(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(a, b);
}
DSP_INLINE uint32_t dw_min8(uint32_t a, uint32_t b)
{
    (void)__ssub8((int8x4_t)a, (int8x4_t)b);
    return __sel(b, a);
}
#else
DSP_INLINE int32_t dw_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(dsp_lo16(a) * dsp_lo16(b)));
}
DSP_INLINE int32_t dw_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(dsp_hi16(a) * dsp_hi16(b)));
}
DSP_INLINE int32_t dw_smmlar(int32_t a, int32_t b, int32_t add)
{
    const uint64_t sum = (uint64_t)((int64_t)a * (int64_t)b) + ((uint64_t)(uint32_t)add << 32) + 0x80000000u;
    return (int32_t)(uint32_t)(sum >> 32);
}
DSP_INLINE int32_t dw_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
DSP_INLINE uint32_t dw_sxtab16_ror8(uint32_t a, uint32_t x) { return dsp_sxtab16(a, dsp_ror8(x)); }
DSP_INLINE uint32_t dw_lanes8(uint32_t a, uint32_t b, int want_max)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        const int32_t x = (int8_t)(uint8_t)(a >> i);
        const int32_t y = (int8_t)(uint8_t)(b >> i);
        const int32_t pick = (want_max ? x >= y : x <= y) ? x : y;
        r |= (uint32_t)(uint8_t)pick << i;
    }
    return r;
}
DSP_INLINE uint32_t dw_max8(uint32_t a, uint32_t b) { return dw_lanes8(a, b, 1); }
DSP_INLINE uint32_t dw_min8(uint32_t a, uint32_t b) { return dw_lanes8(a, b, 0); }
#endif

/* An int16 value in both halves. */
DSP_INLINE uint32_t dw_dup16(int32_t v) { return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16); }

/* TFLite's requantization of one accumulator (k times TFLite's), saturated to int8; rq = {mult, add, shift}. */
DSP_INLINE int32_t dw_requant(int32_t acc, const int32_t *rq, int neg_fix)
{
    int32_t add = rq[1];
    if (neg_fix) {
        add += acc >> 31;
    }
    return dw_ssat8(dw_smmlar(acc, rq[0], add) >> rq[2]);
}

/* Four accumulators -> four int8 outputs at out; g is the group's stream. */
DSP_INLINE void dw_store4(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t *g, int32_t taps,
                          int neg_fix, int clamp, int8_t *out)
{
    const int32_t *rq = g + DW_REQUANT_AT(taps);
    uint32_t v = (uint32_t)dw_requant(a0, rq, neg_fix) & 0xFFu;
    v |= ((uint32_t)dw_requant(a1, rq + 3, neg_fix) & 0xFFu) << 8;
    v |= ((uint32_t)dw_requant(a2, rq + 6, neg_fix) & 0xFFu) << 16;
    v |= (uint32_t)dw_requant(a3, rq + 9, neg_fix) << 24;
    if (clamp) {
        const int32_t *lim = g + DW_CLAMP_AT(taps);
        v = dw_min8(dw_max8(v, (uint32_t)lim[0]), (uint32_t)lim[1]);
    }
    memcpy(out, &v, sizeof v);
}

/* The per-group computations. Interior pixel: every tap inside the input, raw inputs on the interior bias;
 * `in` is the window's first tap at the group's first input channel and the stream gives each tap's byte
 * offset from it. Border pixel: only the taps [ky0, ky1) x [kx0, kx1) inside the input, each input plus
 * input_offset, on the border bias; rows, cols = the extents, tap0 = ky0 * kernel_w + kx0; `base` is the byte
 * offset of the window's first tap (it may lie outside the input: only taps inside are read). */

/* In C, with the flags read at run time: the portable build, and the any-size forms. */

/* One tap: four MACs with the tap's two weight words t[0], t[1]; the input at input[base + t[2]]. */
DSP_INLINE void dw_tap(const int32_t *t, const int8_t *input, int32_t base, uint32_t off2, int bcast, int border,
                       int32_t *a)
{
    uint32_t xe, xo;
    if (bcast) {
        xe = dw_dup16((int32_t)input[base + t[2]] + (border ? (int16_t)(uint16_t)off2 : 0));
        xo = xe;
    } else {
        const uint32_t x = dsp_load_s8x4(input + base + t[2]);
        xe = border ? dsp_sxtab16(off2, x) : dsp_sxtb16(x);
        xo = border ? dw_sxtab16_ror8(off2, x) : dsp_sxtb16(dsp_ror8(x));
    }
    a[0] = dw_smlabb(xe, (uint32_t)t[0], a[0]);
    a[2] = dw_smlatt(xe, (uint32_t)t[0], a[2]);
    a[1] = dw_smlabb(xo, (uint32_t)t[1], a[1]);
    a[3] = dw_smlatt(xo, (uint32_t)t[1], a[3]);
}

static void dw_group_c(const depthwise_conv2d_s8_dsp_params_t *p, const int32_t *g, const int8_t *input,
                       int32_t base, int8_t *out, int border, int32_t tap0, int32_t rows, int32_t cols)
{
    const int32_t taps = p->kernel_h * p->kernel_w;
    const int32_t *bias = g + (border ? DW_BORDER_BIAS_AT(taps) : 0);
    int32_t a[4] = {bias[0], bias[1], bias[2], bias[3]};
    const uint32_t off2 = dw_dup16(p->input_offset);
    for (int32_t i = 0; i < rows; ++i) {
        for (int32_t j = 0; j < cols; ++j) {
            const int32_t *t = g + DW_TAPS_AT + DW_TAP_WORDS * (tap0 + i * p->kernel_w + j);
            dw_tap(t, input, base, off2, p->depth_multiplier > 1, border, a);
        }
    }
    dw_store4(a[0], a[1], a[2], a[3], g, taps, p->neg_fix, p->clamp, out);
}

/* The output channels past the last complete group (depth multiplier 1, in_c not a multiple of 4), one at a
 * time, as a border pixel; g is the partial group's stream. */
static void dw_tail(const depthwise_conv2d_s8_dsp_params_t *p, const int32_t *g, const int8_t *input, int32_t base,
                    int8_t *out, int32_t taps, int32_t tap0, int32_t rows, int32_t cols)
{
    for (int32_t j = p->out_c & ~3; j < p->out_c; ++j) {
        const int32_t lane = j & 3;
        /* Word 0 of a tap holds lanes {0, 2}, word 1 lanes {1, 3}, as little-endian int16 halves. */
        const int32_t half = (lane & 1) * 2 + (lane >> 1);
        int32_t acc = g[DW_BORDER_BIAS_AT(taps) + lane];
        for (int32_t i = 0; i < rows; ++i) {
            for (int32_t k = 0; k < cols; ++k) {
                const int32_t *t = g + DW_TAPS_AT + DW_TAP_WORDS * (tap0 + i * p->kernel_w + k);
                int16_t w;
                memcpy(&w, (const int16_t *)(const void *)t + half, sizeof w);
                const int32_t x = (int32_t)input[base + j + t[2]] + p->input_offset;
                acc = (int32_t)((uint32_t)acc + (uint32_t)(x * w));
            }
        }
        const int32_t r = dw_requant(acc, g + DW_REQUANT_AT(taps) + 3 * lane, p->neg_fix);
        out[j] = (int8_t)(r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r));
    }
}

/* An interior row: n pixels from the window at row_in (first tap, channel 0), group by group so that a
 * group's stream stays in place while the window slides. */
typedef void (*dw_row_fn)(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *row_in, const int32_t *s,
                          int8_t *out, int32_t n);
/* A border pixel: every group, then the tail channels. */
typedef void (*dw_border_fn)(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *s,
                             int8_t *out, int32_t base, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1);

/* Groups in the order the stream holds them: body runs with s_ at group n's words and chan the input channel
 * it reads (depth multiplier 1: channel 4n; bcast, M = 4k: channel n / k). */
#define DW_FOR_GROUPS(p, s, n, chan, bcast, body)                                                                 \
    do {                                                                                                         \
        const int32_t dw_groups_ = (p)->out_c >> 2;                                                              \
        const int32_t dw_words_ = DW_GROUP_WORDS((p)->kernel_h * (p)->kernel_w);                                 \
        const int32_t dw_per_input_ = (p)->depth_multiplier >> 2;                                                \
        int32_t chan = 0;                                                                                        \
        int32_t dw_sub_ = 0;                                                                                     \
        const int32_t *s_ = (s);                                                                                 \
        for (int32_t n = 0; n < dw_groups_; ++n, s_ += dw_words_) {                                              \
            body;                                                                                                \
            if (!(bcast)) {                                                                                      \
                chan += 4;                                                                                       \
            } else if (++dw_sub_ == dw_per_input_) {                                                             \
                dw_sub_ = 0;                                                                                     \
                ++chan;                                                                                          \
            }                                                                                                    \
        }                                                                                                        \
    } while (0)

#if !MCU_HAS_DSP
static void dw_row_c(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *row_in, const int32_t *s, int8_t *out,
                     int32_t n_px)
{
    const int32_t in_step = p->stride_w * p->in_c;
    DW_FOR_GROUPS(p, s, n, chan, p->depth_multiplier > 1, {
        for (int32_t i = 0; i < n_px; ++i) {
            dw_group_c(p, s_, row_in, i * in_step + chan, out + i * p->out_c + 4 * n, 0, 0, p->kernel_h,
                       p->kernel_w);
        }
    });
}
#endif

static void dw_border_c(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *s, int8_t *out,
                        int32_t base, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1)
{
    const int32_t cols = kx1 - kx0;
    const int32_t rows = cols > 0 ? ky1 - ky0 : 0;
    const int32_t tap0 = ky0 * p->kernel_w + kx0;
    DW_FOR_GROUPS(p, s, n, chan, p->depth_multiplier > 1,
                  dw_group_c(p, s_, input, base + chan, out + 4 * n, 1, tap0, rows, cols));
    if (p->out_c & 3) {
        dw_tail(p, s + (p->out_c >> 2) * DW_GROUP_WORDS(p->kernel_h * p->kernel_w), input, base, out,
                p->kernel_h * p->kernel_w, tap0, rows, cols);
    }
}

/* The whole layer: interior rows through `row` (when given and no tail channels), the rest through `border`. */
static void dw_driver(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *stream,
                      int8_t *output, dw_row_fn row, dw_border_fn border)
{
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t out_c = p->out_c;
    const int inner = row != 0 && (out_c & 3) == 0;

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int8_t *out = output + oy * p->out_w * out_c;
        int32_t ky0, ky1;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky0, &ky1);
        const int inner_y = inner && oy >= p->interior_y0 && oy < p->interior_y1;
        const int32_t x0 = inner_y ? p->interior_x0 : p->out_w; /* interior columns [x0, x1) */
        const int32_t x1 = inner_y ? p->interior_x1 : p->out_w;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            if (ox == x0 && x1 > x0) {
                row(p, input + iy0 * in_row + ix0 * p->in_c, stream, out + ox * out_c, x1 - x0);
                ox = x1 - 1;
                continue;
            }
            int32_t kx0, kx1;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx0, &kx1);
            border(p, input, stream, out + ox * out_c, iy0 * in_row + ix0 * p->in_c, ky0, ky1, kx0, kx1);
        }
    }
}

#if MCU_HAS_DSP
/* Hand-scheduled. The four accumulators and a tap's words sit in fixed registers (r0-r3, r4-r6) so that one
 * LDM brings a tap's two weight words and its input offset and no address arithmetic is left. */
#define DW_ASM_TAP                                                                                               \
    "ldmia %[w]!, {r4-r6}\n\t"                                                                                   \
    ".if %c[bcast]\n\t"                                                                                          \
    "ldrsb %[x], [%[in], r6]\n\t"                                                                                \
    ".if %c[border]\n\t"                                                                                         \
    "add %[x], %[x], %[off2]\n\t" /* the low half is what counts: x + input_offset */                            \
    ".endif\n\t"                                                                                                 \
    "pkhbt %[x], %[x], %[x], lsl #16\n\t"                                                                        \
    "smlabb r0, %[x], r4, r0\n\t"                                                                                \
    "smlatt r2, %[x], r4, r2\n\t"                                                                                \
    "smlabb r1, %[x], r5, r1\n\t"                                                                                \
    "smlatt r3, %[x], r5, r3\n\t"                                                                                \
    ".else\n\t"                                                                                                  \
    "ldr %[x], [%[in], r6]\n\t"                                                                                  \
    ".if %c[border]\n\t"                                                                                         \
    "sxtab16 r6, %[off2], %[x], ror #8\n\t"                                                                      \
    "sxtab16 %[x], %[off2], %[x]\n\t"                                                                            \
    ".else\n\t"                                                                                                  \
    "sxtb16 r6, %[x], ror #8\n\t"                                                                                \
    "sxtb16 %[x], %[x]\n\t"                                                                                      \
    ".endif\n\t"                                                                                                 \
    "smlabb r0, %[x], r4, r0\n\t"                                                                                \
    "smlatt r2, %[x], r4, r2\n\t"                                                                                \
    "smlabb r1, r6, r5, r1\n\t"                                                                                  \
    "smlatt r3, r6, r5, r3\n\t"                                                                                  \
    ".endif\n\t"

/* r0-r3 -> four int8 at [out]; w at the group's requantization words. */
#define DW_ASM_REQUANT_STORE                                                                                     \
    ".irp acc, r0, r1, r2, r3\n\t"                                                                               \
    "ldmia %[w]!, {r4-r6}\n\t"                                                                                   \
    ".if %c[neg_fix]\n\t"                                                                                        \
    "add r5, r5, \\acc, asr #31\n\t"                                                                             \
    ".endif\n\t"                                                                                                 \
    "smmlar \\acc, \\acc, r4, r5\n\t"                                                                            \
    "asr \\acc, \\acc, r6\n\t"                                                                                   \
    "ssat \\acc, #8, \\acc\n\t"                                                                                  \
    ".endr\n\t"                                                                                                  \
    "bfi r0, r1, #8, #8\n\t"                                                                                     \
    "bfi r0, r2, #16, #8\n\t"                                                                                    \
    "bfi r0, r3, #24, #8\n\t"                                                                                    \
    ".if %c[clamp]\n\t"                                                                                          \
    "ldmia %[w], {r4-r5}\n\t"                                                                                    \
    "ssub8 r6, r0, r4\n\t"                                                                                       \
    "sel r0, r0, r4\n\t"                                                                                         \
    "ssub8 r6, r5, r0\n\t"                                                                                       \
    "sel r0, r0, r5\n\t"                                                                                         \
    ".endif\n\t"                                                                                                 \
    "str r0, [%[out]]\n\t"

#define DW_ASM_REGS                                                                                               \
    register int32_t r0 __asm__("r0");                                                                           \
    register int32_t r1 __asm__("r1");                                                                           \
    register int32_t r2 __asm__("r2");                                                                           \
    register int32_t r3 __asm__("r3");                                                                           \
    register int32_t r4 __asm__("r4");                                                                           \
    register int32_t r5 __asm__("r5");                                                                           \
    register int32_t r6 __asm__("r6")

DSP_INLINE void dw_interior_group_asm(const int32_t *g, const int8_t *in, int8_t *out, const int32_t taps,
                                      const int bcast, const int neg_fix, const int clamp)
{
    DW_ASM_REGS;
    const int32_t *w = g;
    uint32_t x;
    __asm__ volatile("ldmia %[w]!, {r0-r3}\n\t"
                     ".rept %c[taps]\n\t" DW_ASM_TAP ".endr\n\t" DW_ASM_REQUANT_STORE
                     : [w] "+&r"(w), [x] "=&r"(x), "=&r"(r0), "=&r"(r1), "=&r"(r2), "=&r"(r3), "=&r"(r4), "=&r"(r5),
                       "=&r"(r6)
                     : [in] "r"(in), [out] "r"(out), [off2] "i"(0), [taps] "i"(taps), [bcast] "i"(bcast),
                       [border] "i"(0), [neg_fix] "i"(neg_fix), [clamp] "i"(clamp)
                     : "cc", "memory");
}

/* A run of (compile-time) n taps of one filter row. The accumulators enter and leave the fixed registers
 * per statement, so the compiler is free between statements. */
#define DW_ASM_RUN(n)                                                                                             \
    do {                                                                                                         \
        DW_ASM_REGS;                                                                                             \
        uint32_t x;                                                                                              \
        r0 = a0;                                                                                                 \
        r1 = a1;                                                                                                 \
        r2 = a2;                                                                                                 \
        r3 = a3;                                                                                                 \
        __asm__ volatile(".rept " #n "\n\t" DW_ASM_TAP ".endr\n\t"                                              \
                         : [w] "+r"(w), [x] "=&r"(x), "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "=&r"(r4),         \
                           "=&r"(r5), "=&r"(r6)                                                                  \
                         : [in] "r"(in), [off2] "r"(off2), [bcast] "i"(bcast), [border] "i"(1)                   \
                         : "cc", "memory");                                                                      \
        a0 = r0;                                                                                                 \
        a1 = r1;                                                                                                 \
        a2 = r2;                                                                                                 \
        a3 = r3;                                                                                                 \
    } while (0)

/* kmax: the kernel width, known at compile time; cols <= kmax. */
DSP_INLINE void dw_border_group_asm(const int32_t *g, const int8_t *input, int32_t base, int8_t *out,
                                    const int32_t taps, int32_t tap0, int32_t rows, int32_t cols, const int32_t kmax,
                                    uint32_t off2, const int bcast, const int neg_fix, const int clamp)
{
    /* The window's first tap; it may lie outside the input, only the taps inside are read. */
    const int8_t *in = (const int8_t *)((uintptr_t)input + (uintptr_t)(intptr_t)base);
    const int32_t *bias = g + DW_BORDER_BIAS_AT(taps);
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    const int32_t *w = g + DW_TAPS_AT + DW_TAP_WORDS * tap0;
    /* One unrolled run per row, of a length fixed per case: no loop counter inside (the asm leaves the
     * compiler three registers), and the step to the next row's first tap is a constant. */
#define DW_ROWS(n)                                                                                                \
    case n:                                                                                                      \
        if (kmax >= (n)) {                                                                                       \
            for (int32_t i = rows; i > 0; --i) {                                                                 \
                DW_ASM_RUN(n);                                                                                   \
                w += DW_TAP_WORDS * (kmax - (n));                                                                \
            }                                                                                                    \
        }                                                                                                        \
        break;
    switch (cols) {
        DW_ROWS(1)
        DW_ROWS(2)
        DW_ROWS(3)
        DW_ROWS(4)
        DW_ROWS(5)
        DW_ROWS(6)
        DW_ROWS(7)
    default:
        break;
    }
#undef DW_ROWS
    DW_ASM_REGS;
    r0 = a0;
    r1 = a1;
    r2 = a2;
    r3 = a3;
    w = g + DW_REQUANT_AT(taps);
    __asm__ volatile(DW_ASM_REQUANT_STORE
                     : [w] "+&r"(w), "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "=&r"(r4), "=&r"(r5), "=&r"(r6)
                     : [out] "r"(out), [neg_fix] "i"(neg_fix), [clamp] "i"(clamp)
                     : "cc", "memory");
}

/* The fixed-size forms' row and border functions, with the flags and kernel width k at compile time. */
#define DW_ASM_FORMS(name, k, bcast, neg_fix, clamp)                                                              \
    static void name##_row(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *row_in, const int32_t *s,    \
                           int8_t *out, int32_t n_px)                                                            \
    {                                                                                                            \
        const int32_t in_step = p->stride_w * p->in_c;                                                           \
        const int32_t out_c = p->out_c;                                                                          \
        DW_FOR_GROUPS(p, s, n, chan, bcast, {                                                                    \
            const int8_t *in = row_in + chan;                                                                    \
            int8_t *o = out + 4 * n;                                                                             \
            for (int32_t i = n_px; i > 0; --i, in += in_step, o += out_c) {                                      \
                dw_interior_group_asm(s_, in, o, (k) * (k), bcast, neg_fix, clamp);                              \
            }                                                                                                    \
        });                                                                                                      \
    }                                                                                                            \
    static void name##_border(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *s,  \
                              int8_t *out, int32_t base, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1)     \
    {                                                                                                            \
        const int32_t cols = kx1 - kx0;                                                                          \
        const int32_t rows = cols > 0 ? ky1 - ky0 : 0;                                                           \
        const int32_t tap0 = ky0 * (k) + kx0;                                                                    \
        const uint32_t off2 = dw_dup16(p->input_offset);                                                         \
        DW_FOR_GROUPS(p, s, n, chan, bcast,                                                                      \
                      dw_border_group_asm(s_, input, base + chan, out + 4 * n, (k) * (k), tap0, rows, cols, k,   \
                                          off2, bcast, neg_fix, clamp));                                         \
        if (p->out_c & 3) {                                                                                      \
            dw_tail(p, s + (p->out_c >> 2) * DW_GROUP_WORDS((k) * (k)), input, base, out, (k) * (k), tap0, rows,  \
                    cols);                                                                                       \
        }                                                                                                        \
    }
/* Depth multiplier 1 in every flag combination; 4k (the rare case) only in 3x3. */
#define DW_ASM_FORMS_M1(prefix, k)                                                                                \
    DW_ASM_FORMS(prefix, k, 0, 0, 0)                                                                             \
    DW_ASM_FORMS(prefix##_cl, k, 0, 0, 1)                                                                        \
    DW_ASM_FORMS(prefix##_nf, k, 0, 1, 0)                                                                        \
    DW_ASM_FORMS(prefix##_nf_cl, k, 0, 1, 1)
DW_ASM_FORMS_M1(depthwise_conv2d_s8_dsp_3x3, 3)
DW_ASM_FORMS(depthwise_conv2d_s8_dsp_3x3_m4, 3, 1, 0, 0)
DW_ASM_FORMS(depthwise_conv2d_s8_dsp_3x3_m4_cl, 3, 1, 0, 1)
DW_ASM_FORMS(depthwise_conv2d_s8_dsp_3x3_m4_nf, 3, 1, 1, 0)
DW_ASM_FORMS(depthwise_conv2d_s8_dsp_3x3_m4_nf_cl, 3, 1, 1, 1)
DW_ASM_FORMS_M1(depthwise_conv2d_s8_dsp_5x5, 5)
DW_ASM_FORMS_M1(depthwise_conv2d_s8_dsp_7x7, 7)
#define DW_FIXED(name) dw_driver(p, input, stream, output, name##_row, name##_border)
#else
#define DW_FIXED(name) dw_driver(p, input, stream, output, dw_row_c, dw_border_c)
#endif

/* The exported kernels: the flags in the name only select code; the C forms read them from the params. */
#define DW_EXPORT(name, body)                                                                                     \
    void name(const depthwise_conv2d_s8_dsp_params_t *p, const int8_t *input, const int32_t *stream,            \
              int8_t *output)                                                                                    \
    {                                                                                                            \
        body;                                                                                                    \
    }
#define DW_EXPORT_M1(prefix, form)                                                                                \
    DW_EXPORT(prefix, form(prefix))                                                                              \
    DW_EXPORT(prefix##_cl, form(prefix##_cl))                                                                    \
    DW_EXPORT(prefix##_nf, form(prefix##_nf))                                                                    \
    DW_EXPORT(prefix##_nf_cl, form(prefix##_nf_cl))
#define DW_ANY(name) dw_driver(p, input, stream, output, 0, dw_border_c)

DW_EXPORT_M1(depthwise_conv2d_s8_dsp, DW_ANY)
DW_EXPORT_M1(depthwise_conv2d_s8_dsp_m4, DW_ANY)
DW_EXPORT_M1(depthwise_conv2d_s8_dsp_3x3, DW_FIXED)
DW_EXPORT_M1(depthwise_conv2d_s8_dsp_3x3_m4, DW_FIXED)
DW_EXPORT_M1(depthwise_conv2d_s8_dsp_5x5, DW_FIXED)
DW_EXPORT_M1(depthwise_conv2d_s8_dsp_7x7, DW_FIXED)
