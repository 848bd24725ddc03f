/* The Cortex-M DSP-extension operations the fast kernels use, as ACLE intrinsics on cores that have them and
 * as bit-identical portable C elsewhere (the host, where the tests run the fast kernels against the portable
 * ones, and cores without DSP). Packed values are uint32_t holding two int16 or four int8 lanes. */
#ifndef MCU_RUNTIME_DSP_INTRINSICS_H
#define MCU_RUNTIME_DSP_INTRINSICS_H

#include <stdint.h>
#include <string.h>

#define DSP_INLINE static inline __attribute__((always_inline))

/* Unaligned 32-bit load of four int8 values (one LDR on ARMv7-M; memcpy keeps it legal C). */
DSP_INLINE uint32_t dsp_load_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Unaligned 32-bit load of two int16 values, lane 0 the first. */
DSP_INLINE uint32_t dsp_load_s16x2(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

DSP_INLINE uint32_t dsp_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24); /* GCC folds this into SXTB16's ROR operand */
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define MCU_HAS_DSP 1

/* Lanes 0 and 2 of four int8, sign-extended to two int16. */
DSP_INLINE uint32_t dsp_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int8x4_t)x); }
/* acc + lo(a)*lo(b) + hi(a)*hi(b), the int16 lanes signed. */
DSP_INLINE int32_t dsp_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}
/* Lanes 1 and 3 of four int8, sign-extended: SXTB16 with ROR #8 (GCC does not always fold the rotation). */
DSP_INLINE uint32_t dsp_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* acc + lo(a)*lo(b) + hi(a)*hi(b) in 64 bits (exact), the int16 lanes signed: SMLALD. */
DSP_INLINE int64_t dsp_smlald(uint32_t a, uint32_t b, int64_t acc)
{
    return __smlald((int16x2_t)a, (int16x2_t)b, acc);
}
/* Lane-wise int16 additions (wrapping). */
DSP_INLINE uint32_t dsp_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b); }
/* b's lanes 0 and 2 sign-extended and added to a's int16 lanes. */
DSP_INLINE uint32_t dsp_sxtab16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)b);
}
/* (acc * 2^32 + a * b + 2^31) >> 32, wrapped to 32 bits: SMMLAR. ACLE has no intrinsic for it. */
DSP_INLINE int32_t dsp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

#else
#define MCU_HAS_DSP 0

DSP_INLINE uint32_t dsp_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)(uint16_t)(int16_t)lo) | ((uint32_t)(uint16_t)(int16_t)hi << 16);
}
DSP_INLINE int32_t dsp_lo16(uint32_t x) { return (int16_t)(uint16_t)(x & 0xFFFFu); }
DSP_INLINE int32_t dsp_hi16(uint32_t x) { return (int16_t)(uint16_t)(x >> 16); }

DSP_INLINE uint32_t dsp_sxtb16(uint32_t x)
{
    return dsp_pack16((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}
DSP_INLINE int32_t dsp_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    /* The hardware wraps the 32-bit sum (and sets Q on overflow); so does this, via uint32_t. */
    const uint32_t sum = (uint32_t)acc + (uint32_t)(dsp_lo16(a) * dsp_lo16(b)) + (uint32_t)(dsp_hi16(a) * dsp_hi16(b));
    return (int32_t)sum;
}
DSP_INLINE uint32_t dsp_sxtb16_ror8(uint32_t x) { return dsp_sxtb16(dsp_ror8(x)); }
DSP_INLINE int64_t dsp_smlald(uint32_t a, uint32_t b, int64_t acc)
{
    return acc + (int64_t)(dsp_lo16(a) * dsp_lo16(b)) + (int64_t)(dsp_hi16(a) * dsp_hi16(b));
}
DSP_INLINE uint32_t dsp_sadd16(uint32_t a, uint32_t b)
{
    return dsp_pack16(dsp_lo16(a) + dsp_lo16(b), dsp_hi16(a) + dsp_hi16(b));
}
DSP_INLINE uint32_t dsp_sxtab16(uint32_t a, uint32_t b)
{
    return dsp_sadd16(a, dsp_sxtb16(b));
}
DSP_INLINE int32_t dsp_smmlar(int32_t a, int32_t b, int32_t acc)
{
    const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * (int64_t)b) + 0x80000000u;
    return (int32_t)(uint32_t)(sum >> 32);
}
#endif

#endif
