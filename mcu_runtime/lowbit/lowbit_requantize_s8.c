#include "lowbit_requantize_s8.h"

#include "fixedpoint_s32.h"

void lowbit_requantize_s8(const lowbit_requantize_s8_params_t *p, int8_t *window)
{
    const int32_t z = p->zero_point;
    const int32_t k = p->shift;
    for (int32_t r = 0; r < p->rows; ++r) {
        int8_t *row = window + r * p->row_stride;
        for (int32_t i = 0; i < p->row_bytes; ++i) {
            int32_t m = rounding_divide_by_pot((int32_t)row[i] - z, k);
            m = m < p->m_lo ? p->m_lo : (m > p->m_hi ? p->m_hi : m);
            row[i] = (int8_t)(z + m * (1 << k)); /* within [-128, 127] by the format's construction */
        }
    }
}
