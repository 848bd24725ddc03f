#include "signal_filter_bank.h"

/* Number of significant bits of x (0 for 0), for 32- and 64-bit values alike: one CLZ (or two, on a 32-bit
 * core) with GCC or Clang, else a loop. */
static uint32_t bit_length(uint64_t x)
{
#if defined(__GNUC__)
    return x != 0u ? 64u - (uint32_t)__builtin_clzll(x) : 0u;
#else
    uint32_t n = 0;
    while (x != 0u) {
        x >>= 1;
        ++n;
    }
    return n;
#endif
}

void signal_filter_bank(const signal_filter_bank_params_t *p, const uint32_t *input, const int16_t *weights,
                        const int16_t *unweights, const int16_t *freq_starts, const int16_t *weight_starts,
                        const int16_t *widths, uint64_t *output)
{
    uint64_t carry = 0; /* the previous filter's unweighted share of its bins */
    for (int32_t i = 0; i <= p->num_channels; ++i) {
        const uint32_t *x = input + freq_starts[i];
        const int16_t *w = weights + weight_starts[i];
        const int16_t *u = unweights + weight_starts[i];
        uint64_t acc = carry;
        uint64_t next = 0;
        for (int32_t j = 0; j < widths[i]; ++j) {
            const uint64_t v = x[j];
            /* an int16 weight as a uint64: sign-extended, modulo 2^64 */
            acc += (uint64_t)(int64_t)w[j] * v;
            next += (uint64_t)(int64_t)u[j] * v;
        }
        if (i > 0) {
            output[i - 1] = acc;
        }
        carry = next;
    }
}

/* Bit-by-bit square root with TFLM's rounding: +1 when the remainder exceeds the root (unless at the top). */
static uint32_t sqrt32_rounded(uint32_t num)
{
    if (num == 0u) {
        return 0;
    }
    uint32_t res = 0;
    const int32_t top = (int32_t)((32u - bit_length(num)) | 1u);
    uint32_t bit = 1u << (31 - top);
    for (int32_t k = (31 - top) / 2 + 1; k > 0; --k) {
        if (num >= res + bit) {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if (num > res && res != 0xFFFFu) {
        ++res;
    }
    return res;
}

static uint32_t sqrt64_rounded(uint64_t num)
{
    if ((num >> 32) == 0u) {
        return sqrt32_rounded((uint32_t)num);
    }
    uint64_t res = 0;
    const int32_t top = (int32_t)((64u - bit_length(num)) | 1u);
    uint64_t bit = (uint64_t)1 << (63 - top);
    for (int32_t k = (63 - top) / 2 + 1; k > 0; --k) {
        if (num >= res + bit) {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if (num > res && res != 0xFFFFFFFFu) {
        ++res;
    }
    return (uint32_t)res;
}

void signal_filter_bank_sqrt(const signal_filter_bank_sqrt_params_t *p, const uint64_t *input,
                             const int32_t *scale_bits, uint32_t *output)
{
    const uint32_t shift = (uint32_t)*scale_bits & 31u;
    for (int32_t i = 0; i < p->num_channels; ++i) {
        output[i] = sqrt64_rounded(input[i]) >> shift;
    }
}

/* ln-correction of the log2 fraction, Q16, over 128 segments (+1 end point, +1 pad), as TFLM's table. */
static const uint16_t k_log_lut[130] = {
    0,    224,  442,  654,  861,  1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944,
    3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791,
    4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578,
    5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498,
    5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697,
    4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286,
    3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353,
    1224, 1094, 963,  830,  695,  559,  421,  282,  142,  0,    0};

/* output_scale * ln(x), x >= 2, rounded through Q16 as TFLM's Log32. */
static uint32_t log_scaled(uint32_t x, uint32_t out_scale)
{
    const uint32_t integer = bit_length(x) - 1u;
    int32_t frac = (int32_t)(x - (1u << integer));
    if (integer < 16u) {
        frac = (int32_t)((uint32_t)frac << (16u - integer));
    } else {
        frac >>= (integer - 16u);
    }
    const int32_t seg = frac >> 9;
    const int32_t c0 = k_log_lut[seg];
    const int32_t c1 = k_log_lut[seg + 1];
    const int32_t rel = ((c1 - c0) * (frac - 512 * seg)) >> 16;
    const uint32_t fraction = (uint32_t)(frac + c0 + rel);
    const uint32_t log2 = (integer << 16) + fraction;
    const uint32_t loge = (uint32_t)(((uint64_t)45426u * log2 + 32768u) >> 16);
    return (out_scale * loge + 32768u) >> 16;
}

void signal_filter_bank_log(const signal_filter_bank_log_params_t *p, const uint32_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->num_channels; ++i) {
        const uint32_t scaled = input[i] << p->correction_bits;
        if (scaled > 1u) {
            const uint32_t v = log_scaled(scaled, p->output_scale);
            output[i] = (int16_t)(v < 32767u ? v : 32767u);
        } else {
            output[i] = 0;
        }
    }
}
