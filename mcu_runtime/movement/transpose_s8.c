#include "transpose_s8.h"

#include <string.h>

void transpose_s8(const transpose_s8_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t in_dims[4] = {p->in_d0, p->in_d1, p->in_d2, p->in_d3};
    const int32_t in_strides[4] = {p->in_d1 * p->in_d2 * p->in_d3, p->in_d2 * p->in_d3, p->in_d3, 1};
    const int32_t perm[4] = {p->perm0, p->perm1, p->perm2, p->perm3};
    int32_t out_dims[4];
    int32_t stride[4]; /* input stride of each output axis */
    for (int32_t k = 0; k < 4; ++k) {
        out_dims[k] = in_dims[perm[k]];
        stride[k] = in_strides[perm[k]];
    }
    int8_t *dst = output;
    for (int32_t a = 0; a < out_dims[0]; ++a) {
        for (int32_t b = 0; b < out_dims[1]; ++b) {
            for (int32_t c = 0; c < out_dims[2]; ++c) {
                const int8_t *src = input + a * stride[0] + b * stride[1] + c * stride[2];
                if (stride[3] == 1) {
                    /* Innermost axis kept: whole rows are contiguous on both sides. */
                    memcpy(dst, src, (size_t)out_dims[3]);
                    dst += out_dims[3];
                } else {
                    for (int32_t d = 0; d < out_dims[3]; ++d) {
                        *dst++ = src[d * stride[3]];
                    }
                }
            }
        }
    }
}
