#include "lowbit_pack.h"

#include "lowbit_codes.h"

void lowbit_pack(const lowbit_pack_params_t *p, const int8_t *input, uint8_t *output)
{
    const int32_t width = lowbit_pixel_bytes(p->channels, p->bits);
    for (int32_t px = 0; px < p->pixels; ++px) {
        uint8_t *out = output + px * width;
        for (int32_t i = 0; i < width; ++i) {
            out[i] = 0;
        }
        for (int32_t c = 0; c < p->channels; ++c) {
            lowbit_store(out, c, input[c], p->bits, p->zero_point, p->shift, p->m_lo, p->m_hi);
        }
        input += p->channels;
    }
}

void lowbit_unpack(const lowbit_pack_params_t *p, const uint8_t *input, int8_t *output)
{
    const int32_t width = lowbit_pixel_bytes(p->channels, p->bits);
    const int32_t mask = (1 << p->bits) - 1;
    for (int32_t px = 0; px < p->pixels; ++px) {
        for (int32_t c = 0; c < p->channels; ++c) {
            const int32_t bit = c * p->bits;
            const int32_t m = ((input[bit >> 3] >> (bit & 7)) & mask) + p->m_lo;
            /* In [-128, 127] by construction of the format (check_format). */
            *output++ = (int8_t)(p->zero_point + m * (1 << p->shift));
        }
        input += width;
    }
}
