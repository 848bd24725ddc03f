#include "maximum_minimum.h"

#include "elementwise_s8.h"

static void max_row_s8(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                       int32_t n)
{
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int8_t x = a[i * sa];
        const int8_t y = b[i * sb];
        out[i] = x > y ? x : y;
    }
}

static void min_row_s8(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                       int32_t n)
{
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int8_t x = a[i * sa];
        const int8_t y = b[i * sb];
        out[i] = x < y ? x : y;
    }
}

/* The walk hands int16 rows over as byte pointers; they point at int16 data (the tensors' own type). */
static void max_row_s16(const void *params, const int8_t *a8, int32_t sa, const int8_t *b8, int32_t sb,
                        int8_t *out8, int32_t n)
{
    const int16_t *a = (const int16_t *)(const void *)a8;
    const int16_t *b = (const int16_t *)(const void *)b8;
    int16_t *out = (int16_t *)(void *)out8;
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int16_t x = a[i * sa];
        const int16_t y = b[i * sb];
        out[i] = x > y ? x : y;
    }
}

static void min_row_s16(const void *params, const int8_t *a8, int32_t sa, const int8_t *b8, int32_t sb,
                        int8_t *out8, int32_t n)
{
    const int16_t *a = (const int16_t *)(const void *)a8;
    const int16_t *b = (const int16_t *)(const void *)b8;
    int16_t *out = (int16_t *)(void *)out8;
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int16_t x = a[i * sa];
        const int16_t y = b[i * sb];
        out[i] = x < y ? x : y;
    }
}

static void run(const minmax_params_t *p, int32_t elem_bytes, const void *input1, const void *input2, void *output,
                row_fn_t row)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    const int8_t *in1 = (const int8_t *)input1;
    const int8_t *in2 = (const int8_t *)input2;
    int8_t *out = (int8_t *)output;
    if (!p->broadcast) {
        row(p, in1, 1, in2, 1, out, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d_sized(p, elem_bytes, out_dims, in1_dims, in2_dims, in1, in2, out, row);
}

void maximum_s8(const minmax_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    run(p, 1, input1, input2, output, max_row_s8);
}

void minimum_s8(const minmax_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    run(p, 1, input1, input2, output, min_row_s8);
}

void maximum_s16(const minmax_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    run(p, 2, input1, input2, output, max_row_s16);
}

void minimum_s16(const minmax_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    run(p, 2, input1, input2, output, min_row_s16);
}
