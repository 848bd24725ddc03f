/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 with an int16 cell state: see lstm_s8.h. */
#include "lstm_s8.h"

#include <string.h>

#include "fixedpoint_s32.h"

static int32_t table_node(const int16_t *sigmoid, uint32_t k)
{
    return (int32_t)sigmoid[k] + 32768;
}

/* int16 sigmoid, Q3.12 in, Q0.15 out. */
static int16_t sigmoid_s16(int32_t v, const int16_t *sigmoid)
{
    const int32_t data = v * 3;
    const uint32_t mag = (uint32_t)(data < 0 ? -data : data);
    const uint32_t hi = mag >> 9;
    uint32_t res;
    if (hi >= 255u) {
        res = 0x7FFFu << 10;
    } else {
        const uint32_t ua = (uint32_t)table_node(sigmoid, hi);
        const uint32_t ub = (uint32_t)table_node(sigmoid, hi + 1u);
        res = (ua << 9) + (mag & 0x1FFu) * (ub - ua);
    }
    res = data >= 0 ? res + (1u << 9) : (1u << 25) - res + (1u << 9) - 1u;
    return (int16_t)(res >> 10);
}

/* int16 tanh: the input is (v * multiplier + round) >> shift, Q3.12 scaled by 3/4; Q0.15 out. */
static int16_t tanh_s16(int32_t v, int32_t multiplier, int32_t shift, const int16_t *sigmoid)
{
    const int32_t rnd = shift > 0 ? (1 << (shift - 1)) : 0;
    const int32_t data = (v * multiplier + rnd) >> shift;
    const uint32_t mag = (uint32_t)(data < 0 ? -data : data);
    const uint32_t hi = mag >> 8;
    int32_t res;
    if (hi >= 255u) {
        res = 0xFFFF << 8;
    } else {
        const uint32_t ua = (uint32_t)table_node(sigmoid, hi);
        const uint32_t ub = (uint32_t)table_node(sigmoid, hi + 1u);
        res = (int32_t)((ua << 8) + (mag & 0xFFu) * (ub - ua));
    }
    res = data >= 0 ? res - (1 << 23) + (1 << 7) : -res + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(res >> 8);
}

static int32_t mul_q(int32_t a, int32_t b, int32_t multiplier, int32_t shift, int32_t lo, int32_t hi)
{
    return clamp_s32(multiply_by_quantized_multiplier(a * b, multiplier, shift), lo, hi);
}

/* One gate for one batch row: act(sat16(fc(x) + fc(h))) into out[units]. */
static void gate(const lstm_s8_params_t *p, int32_t g, const int8_t *x, const int8_t *h, const int8_t *w_input,
                 const int8_t *w_recurrent, const int32_t *bias, const int32_t *gate_mult,
                 const int32_t *gate_shift, const int16_t *sigmoid, int32_t use_tanh, int16_t *out)
{
    const int32_t n = p->input_size;
    const int32_t u = p->units;
    const int8_t *wi = w_input + g * u * n;
    const int8_t *wr = w_recurrent + g * u * u;
    for (int32_t j = 0; j < u; ++j) {
        int32_t acc = bias[g * u + j];
        for (int32_t i = 0; i < n; ++i) {
            acc += (int32_t)wi[j * n + i] * ((int32_t)x[i] + p->input_offset);
        }
        acc = clamp_s32(multiply_by_quantized_multiplier(acc, gate_mult[2 * g], gate_shift[2 * g]),
                        INT16_MIN, INT16_MAX);
        int32_t rec = 0;
        for (int32_t k = 0; k < u; ++k) {
            rec += (int32_t)wr[j * u + k] * ((int32_t)h[k] + p->hidden_offset);
        }
        rec = clamp_s32(multiply_by_quantized_multiplier(rec, gate_mult[2 * g + 1], gate_shift[2 * g + 1]),
                        INT16_MIN, INT16_MAX);
        const int32_t sum = clamp_s32(acc + rec, INT16_MIN, INT16_MAX);
        out[j] = use_tanh ? tanh_s16(sum, 3, 0, sigmoid) : sigmoid_s16(sum, sigmoid);
    }
}

void lstm_s8(const lstm_s8_params_t *p, const int8_t *input, const int8_t *hidden_in, const int16_t *cell_in,
             const int8_t *w_input, const int8_t *w_recurrent, const int32_t *bias, const int32_t *gate_mult,
             const int32_t *gate_shift, const int16_t *sigmoid, int8_t *output, int8_t *hidden, int16_t *cell,
             int8_t *scratch)
{
    const int32_t u = p->units;
    const int32_t n = p->input_size;
    int16_t *forget_gate = (int16_t *)(void *)scratch;
    int16_t *input_gate = forget_gate + u;
    int16_t *cell_gate = input_gate + u;
    int16_t *output_gate = cell_gate + u;

    if (hidden != hidden_in) {
        memcpy(hidden, hidden_in, (size_t)(p->batches * u));
    }
    if (cell != cell_in) {
        memcpy(cell, cell_in, (size_t)(p->batches * u) * sizeof(int16_t));
    }
    /* Batch rows are independent: each runs its whole sequence in turn, whatever the layout. */
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *h = hidden + b * u;
        int16_t *c = cell + b * u;
        for (int32_t t = 0; t < p->time_steps; ++t) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->time_steps + t;
            const int8_t *x = input + row * n;
            gate(p, 1, x, h, w_input, w_recurrent, bias, gate_mult, gate_shift, sigmoid, 0, forget_gate);
            gate(p, 0, x, h, w_input, w_recurrent, bias, gate_mult, gate_shift, sigmoid, 0, input_gate);
            gate(p, 2, x, h, w_input, w_recurrent, bias, gate_mult, gate_shift, sigmoid, 1, cell_gate);
            gate(p, 3, x, h, w_input, w_recurrent, bias, gate_mult, gate_shift, sigmoid, 0, output_gate);
            for (int32_t j = 0; j < u; ++j) {
                const int32_t kept = mul_q(forget_gate[j], c[j], p->forget_cell_multiplier, p->forget_cell_shift,
                                           INT16_MIN, INT16_MAX);
                const int32_t added = mul_q(input_gate[j], cell_gate[j], p->input_cell_multiplier,
                                            p->input_cell_shift, INT16_MIN, INT16_MAX);
                int32_t next = clamp_s32(kept + added, INT16_MIN, INT16_MAX);
                if (p->cell_clip > 0) {
                    next = clamp_s32(next, -p->cell_clip, p->cell_clip);
                }
                c[j] = (int16_t)next;
            }
            int8_t *y = output + row * u;
            for (int32_t j = 0; j < u; ++j) {
                const int32_t th = tanh_s16(c[j], p->tanh_multiplier, p->tanh_shift, sigmoid);
                const int32_t v = multiply_by_quantized_multiplier(th * output_gate[j], p->hidden_multiplier,
                                                                   p->hidden_shift) + p->hidden_zero_point;
                h[j] = (int8_t)clamp_s32(v, INT8_MIN, INT8_MAX);
                y[j] = h[j];
            }
        }
    }
}
