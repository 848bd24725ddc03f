#include "gather_bytes.h"

#include <string.h>

static void copy_slice(const gather_bytes_params_t *p, const uint8_t *data, int32_t outer, int32_t index,
                       uint8_t *dst)
{
    const size_t n = (size_t)p->inner_bytes;
    if (index < 0 || index >= p->axis_size) {
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, data + ((size_t)outer * (size_t)p->axis_size + (size_t)index) * n, n);
}

void gather_bytes_i32(const gather_bytes_params_t *p, const void *a, const void *b, void *output)
{
    const uint8_t *data = (const uint8_t *)(p->indices_first ? b : a);
    const int32_t *indices = (const int32_t *)(p->indices_first ? a : b);
    uint8_t *dst = (uint8_t *)output;
    for (int32_t o = 0; o < p->outer_count; ++o) {
        for (int32_t i = 0; i < p->num_indices; ++i) {
            copy_slice(p, data, o, indices[i], dst);
            dst += p->inner_bytes;
        }
    }
}

void gather_bytes_i16(const gather_bytes_params_t *p, const void *a, const void *b, void *output)
{
    const uint8_t *data = (const uint8_t *)(p->indices_first ? b : a);
    const int16_t *indices = (const int16_t *)(p->indices_first ? a : b);
    uint8_t *dst = (uint8_t *)output;
    for (int32_t o = 0; o < p->outer_count; ++o) {
        for (int32_t i = 0; i < p->num_indices; ++i) {
            copy_slice(p, data, o, (int32_t)indices[i], dst);
            dst += p->inner_bytes;
        }
    }
}
