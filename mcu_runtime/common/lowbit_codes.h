/* Packed b-bit activation codes of the low-bit (QuantMCU) path; layout in codegen/kernels/lowbit/codes.py:
 * each pixel's channels packed little end first into whole bytes (4-bit: channel 2i in the low nibble of byte
 * i; 2-bit: channel 4i in bits 0-1). Level m = code + m_lo stands for the int8 value z + m * 2^shift.
 * bits == 8 means plain int8 (level = q + input_offset). */
#ifndef MCU_RUNTIME_LOWBIT_CODES_H
#define MCU_RUNTIME_LOWBIT_CODES_H

#include <stdint.h>

#include "fixedpoint_s32.h"

MCU_INLINE int32_t lowbit_pixel_bytes(int32_t channels, int32_t bits)
{
    return (channels * bits + 7) >> 3;
}

/* Levels of channels [c0, c0 + n) of one pixel into dst. */
MCU_INLINE void lowbit_levels(const uint8_t *px, int32_t c0, int32_t n, int32_t bits, int32_t bias, int16_t *dst)
{
    if (bits == 8) {
        const int8_t *q = (const int8_t *)px + c0;
        for (int32_t i = 0; i < n; ++i) {
            dst[i] = (int16_t)((int32_t)q[i] + bias);
        }
        return;
    }
    const int32_t mask = (1 << bits) - 1;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t bit = (c0 + i) * bits;
        dst[i] = (int16_t)(((px[bit >> 3] >> (bit & 7)) & mask) + bias);
    }
}

/* The output code of an int8 result (its byte for 8-bit outputs). */
MCU_INLINE int32_t lowbit_code(int32_t q, int32_t bits, int32_t zero_point, int32_t shift, int32_t m_lo, int32_t m_hi)
{
    if (bits == 8) {
        return (int32_t)(uint8_t)(int8_t)q;
    }
    return clamp_s32(rounding_divide_by_pot(q - zero_point, shift), m_lo, m_hi) - m_lo;
}

/* One int8 result into the output pixel: a byte, or a code ORed into a pixel whose bytes start cleared. */
MCU_INLINE void lowbit_store(uint8_t *px, int32_t c, int32_t q, int32_t bits, int32_t zero_point, int32_t shift,
                             int32_t m_lo, int32_t m_hi)
{
    const int32_t bit = c * bits;
    px[bit >> 3] = (uint8_t)(px[bit >> 3] | (lowbit_code(q, bits, zero_point, shift, m_lo, m_hi) << (bit & 7)));
}

/* Requantization by comparison (codegen/kernels/lowbit/thresholds.py): row = {base, dir, t_1 .. t_levels}
 * ascending, levels 3 or 15; the code is base + dir * #{j : acc >= t_j}, by an unrolled binary search. */
/* One step of the search: t += step when acc >= t[off]. On Thumb-2 four instructions (LDR with an immediate
 * offset, CMP, IT, ADD): GCC otherwise turns the walk back into index arithmetic of seven or eight. */
#if defined(__thumb2__)
#define LOWBIT_THR_STEP(t, acc, off, step)                                                                         \
    do {                                                                                                        \
        int32_t thr_v_;                                                                                         \
        __asm__("ldr %[v], [%[p], %[o]]\n\t"                                                                     \
                "cmp %[a], %[v]\n\t"                                                                            \
                "it ge\n\t"                                                                                     \
                "addge %[p], %[p], %[s]"                                                                        \
                : [v] "=&r"(thr_v_), [p] "+r"(t)                                                                \
                : [a] "r"(acc), [o] "n"(4 * (off)), [s] "n"(4 * (step))                                         \
                : "cc");                                                                                        \
    } while (0)
#else
#define LOWBIT_THR_STEP(t, acc, off, step) ((t) += (acc) >= (t)[off] ? (step) : 0)
#endif

MCU_INLINE int32_t lowbit_threshold_code(const int32_t *row, int32_t levels, int32_t acc)
{
    const int32_t *t0 = row + 2;
    const int32_t *t = t0;
    if (levels == 15) {
        LOWBIT_THR_STEP(t, acc, 7, 8);
        LOWBIT_THR_STEP(t, acc, 3, 4);
    }
    LOWBIT_THR_STEP(t, acc, 1, 2);
    LOWBIT_THR_STEP(t, acc, 0, 1);
    return row[0] + row[1] * (int32_t)(t - t0);
}

/* Level of a code (or int8 value) and the shift back to int8 steps, from a kernel's input format. */
MCU_INLINE int32_t lowbit_level_bias(int32_t bits, int32_t m_lo, int32_t input_offset)
{
    return bits == 8 ? input_offset : m_lo;
}
MCU_INLINE int32_t lowbit_level_shift(int32_t bits, int32_t shift)
{
    return bits == 8 ? 0 : shift;
}

/* The accumulator of levels scaled back to int8 steps (bits < 8), plus the bias; wraps like the int8 kernels. */
MCU_INLINE int32_t lowbit_scaled_acc(int32_t acc, int32_t shift, int32_t bias)
{
    return (int32_t)(((uint32_t)acc << shift) + (uint32_t)bias);
}

#endif
