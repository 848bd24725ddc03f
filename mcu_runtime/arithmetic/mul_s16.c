#include "mul_s16.h"

#include "fixedpoint_s32.h"

/* |a * b| <= 2^30 with zero points 0: the product fits int32. */
static inline int16_t mul_one(const mul_s16_params_t *p, int32_t a, int32_t b)
{
    const int32_t y = multiply_by_quantized_multiplier(a * b, p->output_multiplier, p->output_shift);
    return (int16_t)clamp_s32(y, p->act_min, p->act_max);
}

/* Element strides of a row-major 4-D operand, 0 along the dimensions it repeats. */
static void operand_strides(int32_t d0, int32_t d1, int32_t d2, int32_t d3, int32_t s[4])
{
    s[3] = d3 == 1 ? 0 : 1;
    s[2] = d2 == 1 ? 0 : d3;
    s[1] = d1 == 1 ? 0 : d2 * d3;
    s[0] = d0 == 1 ? 0 : d1 * d2 * d3;
}

void mul_s16(const mul_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output)
{
    if (!p->broadcast) {
        const int32_t n = p->out_d0 * p->out_d1 * p->out_d2 * p->out_d3;
        for (int32_t i = 0; i < n; ++i) {
            output[i] = mul_one(p, input1[i], input2[i]);
        }
        return;
    }
    int32_t s1[4];
    int32_t s2[4];
    operand_strides(p->in1_d0, p->in1_d1, p->in1_d2, p->in1_d3, s1);
    operand_strides(p->in2_d0, p->in2_d1, p->in2_d2, p->in2_d3, s2);
    int16_t *out = output;
    for (int32_t i0 = 0; i0 < p->out_d0; ++i0) {
        for (int32_t i1 = 0; i1 < p->out_d1; ++i1) {
            for (int32_t i2 = 0; i2 < p->out_d2; ++i2) {
                const int16_t *a = input1 + i0 * s1[0] + i1 * s1[1] + i2 * s1[2];
                const int16_t *b = input2 + i0 * s2[0] + i1 * s2[1] + i2 * s2[2];
                for (int32_t i3 = 0; i3 < p->out_d3; ++i3) {
                    *out++ = mul_one(p, a[i3 * s1[3]], b[i3 * s2[3]]);
                }
            }
        }
    }
}
