#include "maximum_minimum_s8.h"

#include "elementwise_s8.h"

static void max_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                    int32_t n)
{
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int8_t x = a[i * sa];
        const int8_t y = b[i * sb];
        out[i] = x > y ? x : y;
    }
}

static void min_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                    int32_t n)
{
    (void)params;
    for (int32_t i = 0; i < n; ++i) {
        const int8_t x = a[i * sa];
        const int8_t y = b[i * sb];
        out[i] = x < y ? x : y;
    }
}

static void run(const minmax_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                row_fn_t row)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    if (!p->broadcast) {
        row(p, input1, 1, input2, 1, output, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d(p, out_dims, in1_dims, in2_dims, input1, input2, output, row);
}

void maximum_s8(const minmax_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    run(p, input1, input2, output, max_row);
}

void minimum_s8(const minmax_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    run(p, input1, input2, output, min_row);
}
