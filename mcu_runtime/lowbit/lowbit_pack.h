/* int8 maps <-> packed b-bit codes of the low-bit path (layout: lowbit_codes.h). */
#ifndef MCU_RUNTIME_LOWBIT_PACK_H
#define MCU_RUNTIME_LOWBIT_PACK_H

#include <stdint.h>

typedef struct {
    int32_t pixels, channels;
    int32_t bits;                /* 2 or 4 */
    int32_t shift, zero_point, m_lo, m_hi;
} lowbit_pack_params_t;

/* q -> code clamp(RoundingDivideByPOT(q - z, shift), m_lo, m_hi) - m_lo, packed. */
void lowbit_pack(const lowbit_pack_params_t *p, const int8_t *input, uint8_t *output);
/* code -> z + (code + m_lo) * 2^shift. */
void lowbit_unpack(const lowbit_pack_params_t *p, const uint8_t *input, int8_t *output);

#endif
