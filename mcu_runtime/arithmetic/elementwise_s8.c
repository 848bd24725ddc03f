#include "elementwise_s8.h"

#include "fixedpoint_s32.h"

static inline int32_t add_one(const add_s8_params_t *p, int32_t a, int32_t b)
{
    /* Multiply rather than shift: the offset value may be negative. */
    const int32_t headroom = (int32_t)1 << p->left_shift;
    const int32_t a_up = (a + p->input1_offset) * headroom;
    const int32_t b_up = (b + p->input2_offset) * headroom;
    const int32_t x1 = multiply_by_quantized_multiplier(a_up, p->input1_multiplier, p->input1_shift);
    const int32_t x2 = multiply_by_quantized_multiplier(b_up, p->input2_multiplier, p->input2_shift);
    const int32_t y = multiply_by_quantized_multiplier(x1 + x2, p->output_multiplier, p->output_shift)
        + p->output_offset;
    return clamp_s32(y, p->act_min, p->act_max);
}

static inline int32_t mul_one(const mul_s8_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t y = multiply_by_quantized_multiplier(prod, p->output_multiplier, p->output_shift)
        + p->output_offset;
    return clamp_s32(y, p->act_min, p->act_max);
}

static void add_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                    int32_t n)
{
    const add_s8_params_t *p = (const add_s8_params_t *)params;
    for (int32_t i = 0; i < n; ++i) {
        out[i] = (int8_t)add_one(p, a[i * sa], b[i * sb]);
    }
}

static void mul_row(const void *params, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb, int8_t *out,
                    int32_t n)
{
    const mul_s8_params_t *p = (const mul_s8_params_t *)params;
    for (int32_t i = 0; i < n; ++i) {
        out[i] = (int8_t)mul_one(p, a[i * sa], b[i * sb]);
    }
}

/* Element strides of a row-major 4-D operand, 0 along dimensions it repeats. */
static void broadcast_strides(const int32_t dims[4], int32_t strides[4])
{
    int32_t step = 1;
    for (int32_t k = 3; k >= 0; --k) {
        strides[k] = dims[k] == 1 ? 0 : step;
        step *= dims[k];
    }
}

/* General strided 4-D walk over the output; the innermost dimension is handed to row() whole. Pointers
 * advance by elem_bytes per element (1 for int8, 2 for int16); row() gets element strides. */
void broadcast_4d_sized(const void *p, int32_t elem_bytes, const int32_t out_dims[4], const int32_t in1_dims[4],
                        const int32_t in2_dims[4], const int8_t *input1, const int8_t *input2, int8_t *output,
                        row_fn_t row)
{
    int32_t s1[4];
    int32_t s2[4];
    broadcast_strides(in1_dims, s1);
    broadcast_strides(in2_dims, s2);
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < out_dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < out_dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < out_dims[2]; ++i2) {
                const int8_t *a = input1 + (i0 * s1[0] + i1 * s1[1] + i2 * s1[2]) * elem_bytes;
                const int8_t *b = input2 + (i0 * s2[0] + i1 * s2[1] + i2 * s2[2]) * elem_bytes;
                row(p, a, s1[3], b, s2[3], out, out_dims[3]);
                out += out_dims[3] * elem_bytes;
            }
        }
    }
}

void broadcast_4d(const void *p, const int32_t out_dims[4], const int32_t in1_dims[4],
                  const int32_t in2_dims[4], const int8_t *input1, const int8_t *input2,
                  int8_t *output, row_fn_t row)
{
    broadcast_4d_sized(p, 1, out_dims, in1_dims, in2_dims, input1, input2, output, row);
}

void add_s8(const add_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    if (!p->broadcast) {
        add_row(p, input1, 1, input2, 1, output, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d(p, out_dims, in1_dims, in2_dims, input1, input2, output, add_row);
}

void mul_s8(const mul_s8_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t out_dims[4] = {p->out_d0, p->out_d1, p->out_d2, p->out_d3};
    if (!p->broadcast) {
        mul_row(p, input1, 1, input2, 1, output, out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
        return;
    }
    const int32_t in1_dims[4] = {p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3};
    const int32_t in2_dims[4] = {p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3};
    broadcast_4d(p, out_dims, in1_dims, in2_dims, input1, input2, output, mul_row);
}
