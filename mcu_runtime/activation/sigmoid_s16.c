#include "sigmoid_s16.h"

#define TABLE_LAST 255

void sigmoid_s16(const sigmoid_s16_params_t *p, const int16_t *input, const uint16_t *sigmoid_table,
                 int16_t *output)
{
    const int32_t shift = p->input_right_shift;
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    /* LOGISTIC keeps 9 fraction bits between entries, TANH 8 (its argument is doubled). */
    const uint32_t frac_bits = p->tanh ? 8u : 9u;
    const uint32_t frac_mask = (1u << frac_bits) - 1u;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = (input[i] * p->input_multiplier + round) >> shift;
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t index = a >> frac_bits;
        if (p->tanh) {
            int32_t r;
            if (index >= TABLE_LAST) {
                r = (int32_t)(0xFFFFu << 8);
            } else {
                const int32_t lo = sigmoid_table[index], hi = sigmoid_table[index + 1];
                r = (lo << 8) + (int32_t)(a & frac_mask) * (hi - lo);
            }
            /* 2 sigmoid - 1 around zero; the negative side rounds toward minus infinity (arithmetic shift). */
            r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
            output[i] = (int16_t)(r >> 8);
        } else {
            uint32_t r;
            if (index >= TABLE_LAST) {
                r = 0x7FFFu << 10;
            } else {
                const uint32_t lo = sigmoid_table[index], hi = sigmoid_table[index + 1];
                r = (lo << 9) + (a & frac_mask) * (hi - lo);
            }
            r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
            output[i] = (int16_t)(r >> 10);
        }
    }
}
