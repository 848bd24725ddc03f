/* In place over a window (as max_s8's): q -> z + clamp(RoundingDivideByPOT(q - z, k), m_lo, m_hi) * 2^k, the
 * int8 value a consumer reads of a feature map held in b bits on the low-bit path of a mixed-precision patch
 * (codegen/quantize/mixed_precision.py, LowBitFormat.requantize). */
#ifndef MCU_RUNTIME_LOWBIT_REQUANTIZE_S8_H
#define MCU_RUNTIME_LOWBIT_REQUANTIZE_S8_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t row_bytes;
    int32_t row_stride;
    int32_t zero_point;
    int32_t shift;
    int32_t m_lo;
    int32_t m_hi;
} lowbit_requantize_s8_params_t;

void lowbit_requantize_s8(const lowbit_requantize_s8_params_t *p, int8_t *window);

#endif
