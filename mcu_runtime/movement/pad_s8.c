#include "pad_s8.h"

#include <string.h>

void pad_s8(const pad_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t out_plane = p->out_d2 * p->out_d3;
    const int32_t total = p->out_d0 * p->out_d1 * out_plane;
    memset(output, (int8_t)p->pad_value, (size_t)total);
    /* Copy whole innermost rows: the last dimension is contiguous in both tensors. */
    const int8_t *src = input;
    for (int32_t a = 0; a < p->in_d0; ++a) {
        for (int32_t b = 0; b < p->in_d1; ++b) {
            for (int32_t c = 0; c < p->in_d2; ++c) {
                int8_t *dst = output
                    + (((a + p->before_d0) * p->out_d1 + (b + p->before_d1)) * p->out_d2 + (c + p->before_d2)) * p->out_d3
                    + p->before_d3;
                memcpy(dst, src, (size_t)p->in_d3);
                src += p->in_d3;
            }
        }
    }
}
