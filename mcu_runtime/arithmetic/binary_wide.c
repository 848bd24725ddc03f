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

/* The broadcast walk, shared by both element types so that their kernels differ only in the element operation
 * (a plain C99 cursor rather than a macro loop template): the operands' element offsets of each output in
 * output order, dim 3 fastest; offsets advance by the dim-3 strides and are recomputed once per row. */
typedef struct {
    int32_t i0, i1, i2, i3;
    int32_t x, y; /* element offsets of the current output's operands in `first` and `second` */
} wide_cursor_t;

static void wide_seek_row(const binary_wide_params_t *p, wide_cursor_t *c)
{
    c->x = c->i0 * p->a0 + c->i1 * p->a1 + c->i2 * p->a2;
    c->y = c->i0 * p->b0 + c->i1 * p->b1 + c->i2 * p->b2;
}

static void wide_next(const binary_wide_params_t *p, wide_cursor_t *c)
{
    if (++c->i3 < p->d3) {
        c->x += p->a3;
        c->y += p->b3;
        return;
    }
    c->i3 = 0;
    if (++c->i2 == p->d2) {
        c->i2 = 0;
        if (++c->i1 == p->d1) {
            c->i1 = 0;
            ++c->i0;
        }
    }
    wide_seek_row(p, c);
}

static int32_t wide_count(const binary_wide_params_t *p)
{
    return p->d0 * p->d1 * p->d2 * p->d3;
}

/* One output element: the operator with the model's operand order, then the fused activation. */
static int32_t element_i32(const binary_wide_params_t *p, int32_t f, int32_t s)
{
    return clamp_i32(p->activation, p->swapped ? op_i32(p->op, s, f) : op_i32(p->op, f, s));
}

static float element_f32(const binary_wide_params_t *p, float f, float s)
{
    return p->swapped ? op_f32(p->op, p->activation, s, f) : op_f32(p->op, p->activation, f, s);
}

void binary_i32(const binary_wide_params_t *p, const int32_t *first, const int32_t *second, int32_t *output)
{
    wide_cursor_t c = {0, 0, 0, 0, 0, 0};
    wide_seek_row(p, &c);
    for (int32_t k = 0, n = wide_count(p); k < n; ++k, wide_next(p, &c)) {
        output[k] = element_i32(p, first[c.x], second[c.y]);
    }
}

void binary_f32(const binary_wide_params_t *p, const float *first, const float *second, float *output)
{
    wide_cursor_t c = {0, 0, 0, 0, 0, 0};
    wide_seek_row(p, &c);
    for (int32_t k = 0, n = wide_count(p); k < n; ++k, wide_next(p, &c)) {
        output[k] = element_f32(p, first[c.x], second[c.y]);
    }
}
