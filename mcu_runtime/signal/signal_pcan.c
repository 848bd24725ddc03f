#include "signal_pcan.h"

static int16_t pcan_gain(uint32_t x, const int16_t *lut)
{
    if (x <= 2u) {
        return lut[x];
    }
#if defined(__GNUC__)
    const int32_t interval = 32 - __builtin_clz(x); /* x > 2: nonzero */
#else
    int32_t interval = 0;
    for (uint32_t v = x; v != 0u; v >>= 1) {
        ++interval;
    }
#endif
    const int16_t *c = lut + 4 * interval - 6;
    const uint32_t moved = interval < 11 ? x << (11 - interval) : x >> (interval - 11);
    const int32_t frac = (int32_t)(moved & 0x3FFu);
    int32_t result = ((int32_t)c[2] * frac) >> 5;
    result += (int32_t)((uint32_t)(int32_t)c[1] << 5);
    result *= frac; /* |result| < 2^31 for any int16 table */
    result = (result + (1 << 14)) >> 15;
    result += c[0];
    return (int16_t)result;
}

static uint32_t pcan_shrink(uint32_t x)
{
    if (x < (2u << 12)) {
        return (x * x) >> 20; /* x^2 / 4 from Q12 to Q6 */
    }
    return (x >> 6) - (1u << 6); /* x - 1 in Q6 */
}

void signal_pcan(const signal_pcan_params_t *p, const uint32_t *input, const uint32_t *noise_estimate,
                 const int16_t *gain_lut, uint32_t *output)
{
    for (int32_t i = 0; i < p->num_channels; ++i) {
        const uint32_t gain = (uint32_t)(int32_t)pcan_gain(noise_estimate[i], gain_lut);
        const uint32_t snr = (uint32_t)(((uint64_t)input[i] * gain) >> p->snr_shift);
        output[i] = pcan_shrink(snr);
    }
}
