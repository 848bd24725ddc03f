#include "pad_s16.h"

#include <string.h>

void pad_s16(const pad_s8_params_t *p, const int16_t *input, int16_t *output)
{
    const int32_t total = p->out_d0 * p->out_d1 * p->out_d2 * p->out_d3;
    const int16_t value = (int16_t)p->pad_value;
    for (int32_t i = 0; i < total; ++i) {
        output[i] = value;
    }
    /* Whole innermost rows at a time: the last dimension is contiguous in both tensors. */
    const int16_t *src = input;
    for (int32_t a = 0; a < p->in_d0; ++a) {
        for (int32_t b = 0; b < p->in_d1; ++b) {
            for (int32_t c = 0; c < p->in_d2; ++c) {
                const int32_t row = ((a + p->before_d0) * p->out_d1 + (b + p->before_d1)) * p->out_d2 + c + p->before_d2;
                memcpy(output + row * p->out_d3 + p->before_d3, src, (size_t)p->in_d3 * sizeof(int16_t));
                src += p->in_d3;
            }
        }
    }
}
