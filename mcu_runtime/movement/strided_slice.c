#include "strided_slice.h"

#include <string.h>

void strided_slice_bytes(const strided_slice_params_t *p, const void *input, void *output)
{
    const int32_t e = p->elem_bytes;
    /* Byte strides of the input's axes. */
    const int32_t s3 = e;
    const int32_t s2 = s3 * p->in_d3;
    const int32_t s1 = s2 * p->in_d2;
    const int32_t s0 = s1 * p->in_d1;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    const int32_t row_bytes = p->count_d3 * e;
    for (int32_t i0 = 0; i0 < p->count_d0; ++i0) {
        const uint8_t *a = in + (p->start_d0 + i0 * p->step_d0) * s0;
        for (int32_t i1 = 0; i1 < p->count_d1; ++i1) {
            const uint8_t *b = a + (p->start_d1 + i1 * p->step_d1) * s1;
            for (int32_t i2 = 0; i2 < p->count_d2; ++i2) {
                const uint8_t *c = b + (p->start_d2 + i2 * p->step_d2) * s2 + p->start_d3 * s3;
                if (p->step_d3 == 1) {
                    memcpy(out, c, (size_t)row_bytes); /* a contiguous run of the innermost axis */
                    out += row_bytes;
                    continue;
                }
                for (int32_t i3 = 0; i3 < p->count_d3; ++i3) {
                    memcpy(out, c + i3 * p->step_d3 * s3, (size_t)e);
                    out += e;
                }
            }
        }
    }
}
