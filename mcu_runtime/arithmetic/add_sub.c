#include "add_sub.h"

#include "fixedpoint_s32.h"

/* sign: +1 adds, -1 subtracts (in the operands' model order: swapped turns it around). */
static inline int32_t add_sub_one(const add_sub_params_t *p, int32_t a, int32_t b, int32_t sign)
{
    /* Multiply rather than shift: the offset value may be negative. */
    const int32_t headroom = (int32_t)1 << p->left_shift;
    const int32_t x1 = multiply_by_quantized_multiplier((a + p->input1_offset) * headroom, p->input1_multiplier,
                                                        p->input1_shift);
    const int32_t x2 = multiply_by_quantized_multiplier((b + p->input2_offset) * headroom, p->input2_multiplier,
                                                        p->input2_shift);
    const int32_t raw = sign > 0 ? x1 + x2 : (p->swapped ? x2 - x1 : x1 - x2);
    const int32_t y = multiply_by_quantized_multiplier(raw, p->output_multiplier, p->output_shift) + p->output_offset;
    return clamp_s32(y, p->act_min, p->act_max);
}

/* Element strides of a row-major 4-D operand, 0 along the dimensions it repeats. */
static void strides_4d(int32_t d0, int32_t d1, int32_t d2, int32_t d3, int32_t s[4])
{
    s[3] = d3 == 1 ? 0 : 1;
    s[2] = d2 == 1 ? 0 : d3;
    s[1] = d1 == 1 ? 0 : d2 * d3;
    s[0] = d0 == 1 ? 0 : d1 * d2 * d3;
}

/* Flat offsets of output element (i0, i1, i2, 0) in each operand: the walk both element types share. */
typedef struct {
    int32_t s1[4], s2[4];
} walk_t;

static void walk_init(const add_sub_params_t *p, walk_t *w)
{
    strides_4d(p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3, w->s1);
    strides_4d(p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3, w->s2);
}

static void run_s8(const add_sub_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out, int32_t sign)
{
    if (!p->broadcast) {
        const int32_t n = p->out_d0 * p->out_d1 * p->out_d2 * p->out_d3;
        for (int32_t i = 0; i < n; ++i) {
            out[i] = (int8_t)add_sub_one(p, in1[i], in2[i], sign);
        }
        return;
    }
    walk_t w;
    walk_init(p, &w);
    for (int32_t i0 = 0; i0 < p->out_d0; ++i0) {
        for (int32_t i1 = 0; i1 < p->out_d1; ++i1) {
            for (int32_t i2 = 0; i2 < p->out_d2; ++i2) {
                const int8_t *a = in1 + i0 * w.s1[0] + i1 * w.s1[1] + i2 * w.s1[2];
                const int8_t *b = in2 + i0 * w.s2[0] + i1 * w.s2[1] + i2 * w.s2[2];
                for (int32_t i3 = 0; i3 < p->out_d3; ++i3) {
                    *out++ = (int8_t)add_sub_one(p, a[i3 * w.s1[3]], b[i3 * w.s2[3]], sign);
                }
            }
        }
    }
}

static void run_s16(const add_sub_params_t *p, const int16_t *in1, const int16_t *in2, int16_t *out, int32_t sign)
{
    if (!p->broadcast) {
        const int32_t n = p->out_d0 * p->out_d1 * p->out_d2 * p->out_d3;
        for (int32_t i = 0; i < n; ++i) {
            out[i] = (int16_t)add_sub_one(p, in1[i], in2[i], sign);
        }
        return;
    }
    walk_t w;
    walk_init(p, &w);
    for (int32_t i0 = 0; i0 < p->out_d0; ++i0) {
        for (int32_t i1 = 0; i1 < p->out_d1; ++i1) {
            for (int32_t i2 = 0; i2 < p->out_d2; ++i2) {
                const int16_t *a = in1 + i0 * w.s1[0] + i1 * w.s1[1] + i2 * w.s1[2];
                const int16_t *b = in2 + i0 * w.s2[0] + i1 * w.s2[1] + i2 * w.s2[2];
                for (int32_t i3 = 0; i3 < p->out_d3; ++i3) {
                    *out++ = (int16_t)add_sub_one(p, a[i3 * w.s1[3]], b[i3 * w.s2[3]], sign);
                }
            }
        }
    }
}

void sub_s8(const add_sub_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    run_s8(p, input1, input2, output, -1);
}

void sub_s16(const add_sub_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    run_s16(p, input1, input2, output, -1);
}

void add_s16(const add_sub_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    run_s16(p, input1, input2, output, 1);
}
