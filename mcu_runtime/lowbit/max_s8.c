#include "max_s8.h"

#include <string.h>

int32_t max_s8(const window_s8_params_t *p, const int8_t *window)
{
    int32_t best = INT8_MIN;
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *row = window + r * p->row_stride;
        for (int32_t i = 0; i < p->row_bytes; ++i) {
            best = row[i] > best ? row[i] : best;
        }
    }
    return best;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* Per signed byte lane, the larger of a and b: SSUB8 sets GE where a >= b, SEL then takes a there. One asm
 * statement, so that nothing can clobber the GE flags between the two. */
static inline __attribute__((always_inline)) uint32_t max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
#else
static inline uint32_t max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    for (int32_t lane = 0; lane < 32; lane += 8) {
        const int8_t x = (int8_t)(uint8_t)(a >> lane);
        const int8_t y = (int8_t)(uint8_t)(b >> lane);
        r |= (uint32_t)(uint8_t)(x >= y ? x : y) << lane;
    }
    return r;
}
#endif

int32_t max_s8_dsp(const window_s8_params_t *p, const int8_t *window)
{
    uint32_t lanes = 0x80808080u; /* -128 in each byte */
    int32_t best = INT8_MIN;
    for (int32_t r = 0; r < p->rows; ++r) {
        const int8_t *row = window + r * p->row_stride;
        int32_t i = 0;
        for (; i + 4 <= p->row_bytes; i += 4) {
            uint32_t v;
            memcpy(&v, row + i, sizeof v); /* one unaligned LDR on ARMv7-M */
            lanes = max_s8x4(lanes, v);
        }
        for (; i < p->row_bytes; ++i) {
            best = row[i] > best ? row[i] : best;
        }
    }
    for (int32_t lane = 0; lane < 32; lane += 8) {
        const int8_t v = (int8_t)(uint8_t)(lanes >> lane);
        best = v > best ? v : best;
    }
    return best;
}
