#include "cast.h"

void cast_elements(const cast_params_t *p, const void *input, void *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        int64_t v = 0;
        float f = 0.0f;
        int is_float = 0;
        switch (p->in_type) {
        case CAST_INT8: v = ((const int8_t *)input)[i]; break;
        case CAST_UINT8: v = ((const uint8_t *)input)[i]; break;
        case CAST_INT16: v = ((const int16_t *)input)[i]; break;
        case CAST_UINT16: v = ((const uint16_t *)input)[i]; break;
        case CAST_INT32: v = ((const int32_t *)input)[i]; break;
        case CAST_UINT32: v = ((const uint32_t *)input)[i]; break;
        default: f = ((const float *)input)[i]; is_float = 1; break;
        }
        if (p->out_type == CAST_FLOAT32) {
            ((float *)output)[i] = is_float ? f : (float)v;
            continue;
        }
        if (is_float) {
            v = (int64_t)f; /* truncation toward zero */
        }
        const uint64_t bits = (uint64_t)v; /* narrowing below is modulo 2^bits */
        switch (p->out_type) {
        case CAST_INT8: ((int8_t *)output)[i] = (int8_t)(uint8_t)bits; break;
        case CAST_UINT8: ((uint8_t *)output)[i] = (uint8_t)bits; break;
        case CAST_INT16: ((int16_t *)output)[i] = (int16_t)(uint16_t)bits; break;
        case CAST_UINT16: ((uint16_t *)output)[i] = (uint16_t)bits; break;
        case CAST_INT32: ((int32_t *)output)[i] = (int32_t)(uint32_t)bits; break;
        default: ((uint32_t *)output)[i] = (uint32_t)bits; break;
        }
    }
}
