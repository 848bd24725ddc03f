/* TFLite's integer requantization arithmetic, shared by every int8 kernel.
 * Must stay bit-identical to codegen/fixedpoint.py (the host reference). */
#ifndef MCU_RUNTIME_FIXEDPOINT_S32_H
#define MCU_RUNTIME_FIXEDPOINT_S32_H

#include <stdint.h>

#define MCU_INLINE static inline __attribute__((always_inline))

/* (a * b * 2) >> 32 with round-to-nearest; the single overflow case saturates. */
MCU_INLINE int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1LL - (1LL << 30));
    /* Division (not a shift) because TFLite truncates toward zero here. */
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent, rounding half away from zero. */
MCU_INLINE int32_t rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift, TFLite's MultiplyByQuantizedMultiplier (double rounding). */
MCU_INLINE int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* Shift through uint32 so an overflowing left shift wraps as it does in TFLite, without UB. */
    const int32_t shifted = (int32_t)((uint32_t)x << left);
    return rounding_divide_by_pot(sat_rounding_doubling_high_mul(shifted, multiplier), right);
}

MCU_INLINE int32_t clamp_s32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif
