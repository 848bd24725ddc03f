#include "mul_f32.h"

#include <float.h>

void mul_f32(const mul_f32_params_t *p, const float *a, const float *b, float *output)
{
    int32_t ia = 0;
    int32_t ib = 0;
    for (int32_t i = 0; i < p->size; ++i) {
        float v = a[ia] * b[ib];
        ia += p->a_step;
        ib += p->b_step;
        /* min(max(v, low), high) as TFLM writes it: a NaN passes through, infinities stop at FLT_MAX */
        switch (p->activation) {
        case 1: v = v < 0.0f ? 0.0f : v; v = v > FLT_MAX ? FLT_MAX : v; break;
        case 2: v = v < 0.0f ? 0.0f : v; v = v > 6.0f ? 6.0f : v; break;
        case 3: v = v < -1.0f ? -1.0f : v; v = v > 1.0f ? 1.0f : v; break;
        default: v = v < -FLT_MAX ? -FLT_MAX : v; v = v > FLT_MAX ? FLT_MAX : v; break;
        }
        output[i] = v;
    }
}
