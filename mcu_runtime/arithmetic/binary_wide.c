#include "binary_wide.h"

#include <float.h>

static int32_t op_i32(int32_t op, int32_t u, int32_t v)
{
    switch (op) {
    case BINARY_ADD: return (int32_t)((uint32_t)u + (uint32_t)v); /* modulo 2^32 */
    case BINARY_SUB: return (int32_t)((uint32_t)u - (uint32_t)v);
    case BINARY_MUL: return (int32_t)((uint32_t)u * (uint32_t)v);
    case BINARY_MAXIMUM: return u > v ? u : v;
    case BINARY_DIV:
        if (v == 0) {
            return 0; /* TFLM fails the invoke */
        }
        return (u == INT32_MIN && v == -1) ? INT32_MIN : u / v;
    default: return u < v ? u : v;
    }
}

static int32_t clamp_i32(int32_t activation, int32_t r)
{
    switch (activation) {
    case 1: return r < 0 ? 0 : r;
    case 2: return r < 0 ? 0 : (r > 6 ? 6 : r);
    case 3: return r < -1 ? -1 : (r > 1 ? 1 : r);
    default: return r;
    }
}

void binary_i32(const binary_wide_params_t *p, const int32_t *first, const int32_t *second, int32_t *output)
{
    int32_t k = 0;
    for (int32_t i0 = 0; i0 < p->d0; ++i0) {
        for (int32_t i1 = 0; i1 < p->d1; ++i1) {
            for (int32_t i2 = 0; i2 < p->d2; ++i2) {
                const int32_t *x = first + i0 * p->a0 + i1 * p->a1 + i2 * p->a2;
                const int32_t *y = second + i0 * p->b0 + i1 * p->b1 + i2 * p->b2;
                for (int32_t i3 = 0; i3 < p->d3; ++i3) {
                    const int32_t f = x[i3 * p->a3];
                    const int32_t s = y[i3 * p->b3];
                    const int32_t r = p->swapped ? op_i32(p->op, s, f) : op_i32(p->op, f, s);
                    output[k++] = clamp_i32(p->activation, r);
                }
            }
        }
    }
}

static float op_f32(int32_t op, int32_t activation, float u, float v)
{
    float r;
    switch (op) {
    case BINARY_ADD: r = u + v; break;
    case BINARY_SUB: r = u - v; break;
    case BINARY_MUL: r = u * v; break;
    case BINARY_DIV: r = u / v; break;
    case BINARY_MAXIMUM: return u > v ? u : v;
    default: return u < v ? u : v;
    }
    /* min(max(r, low), high): NaN passes, infinities stop at FLT_MAX */
    const float low = activation == 0 ? -FLT_MAX : (activation == 3 ? -1.0f : 0.0f);
    const float high = activation == 2 ? 6.0f : (activation == 3 ? 1.0f : FLT_MAX);
    r = r < low ? low : r;
    return r > high ? high : r;
}

void binary_f32(const binary_wide_params_t *p, const float *first, const float *second, float *output)
{
    int32_t k = 0;
    for (int32_t i0 = 0; i0 < p->d0; ++i0) {
        for (int32_t i1 = 0; i1 < p->d1; ++i1) {
            for (int32_t i2 = 0; i2 < p->d2; ++i2) {
                const float *x = first + i0 * p->a0 + i1 * p->a1 + i2 * p->a2;
                const float *y = second + i0 * p->b0 + i1 * p->b1 + i2 * p->b2;
                for (int32_t i3 = 0; i3 < p->d3; ++i3) {
                    const float f = x[i3 * p->a3];
                    const float s = y[i3 * p->b3];
                    output[k++] = p->swapped ? op_f32(p->op, p->activation, s, f)
                                             : op_f32(p->op, p->activation, f, s);
                }
            }
        }
    }
}
