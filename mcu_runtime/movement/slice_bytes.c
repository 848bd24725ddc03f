#include "slice_bytes.h"

#include <string.h>

void slice_bytes(const slice_bytes_params_t *p, const void *input, void *output)
{
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *dst = (uint8_t *)output;
    const int32_t stride2 = p->in_d3;
    const int32_t stride1 = p->in_d2 * stride2;
    const int32_t stride0 = p->in_d1 * stride1;
    const size_t row = (size_t)p->out_d3;
    if (row == 0) {
        return;
    }
    for (int32_t a = 0; a < p->out_d0; ++a) {
        const uint8_t *plane = in + (a + p->begin0) * stride0;
        for (int32_t b = 0; b < p->out_d1; ++b) {
            const uint8_t *sheet = plane + (b + p->begin1) * stride1;
            for (int32_t c = 0; c < p->out_d2; ++c) {
                memcpy(dst, sheet + (c + p->begin2) * stride2 + p->begin3, row);
                dst += row;
            }
        }
    }
}
