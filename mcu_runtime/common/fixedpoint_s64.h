/* TFLite's 16x8 requantization: MultiplyByQuantizedMultiplier on an int64 accumulator.
 * Must stay bit-identical to codegen/kernels/fixedpoint_s16.py (the host reference). */
#ifndef MCU_RUNTIME_FIXEDPOINT_S64_H
#define MCU_RUNTIME_FIXEDPOINT_S64_H

#include <stdint.h>

#include "fixedpoint_s32.h"

/* round(x * m16 / 2^(15 - shift)) with m16 the multiplier reduced to 16 bits (rounded, capped at 0x7FFF);
 * valid for |x| < 2^47 and shift in [-31, 7]. The int32 result wraps like TFLite's static_cast. A negative
 * multiplier (negative filter scale) is reduced by the same arithmetic shift as TFLite's, a floor: ties go up,
 * so -(2^30 + 2^15) becomes -2^14 and -2^31 becomes -2^15 (GCC shifts signed values arithmetically). */
MCU_INLINE int32_t multiply_by_quantized_multiplier_s64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (((int64_t)multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const int64_t rounded = x * reduced + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(uint32_t)(uint64_t)(rounded >> total_shift);
}

MCU_INLINE int16_t clamp_to_s16(int32_t x)
{
    return (int16_t)(x < INT16_MIN ? INT16_MIN : (x > INT16_MAX ? INT16_MAX : x));
}

#endif
