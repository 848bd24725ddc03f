/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 and 16x8 with an int16 cell state: see lstm_s8.h. */
#include "lstm_s8.h"

#include <string.h>

#include "dsp_intrinsics.h"
#include "fixedpoint_s32.h"
#include "fixedpoint_s64.h"

/* Lanes 1 and 3 of four int8, sign-extended to two int16: one SXTB16 with its rotation on Cortex-M (GCC does
 * not fold dsp_ror8 into it here). */
static inline __attribute__((always_inline)) uint32_t sxtb16_ror8(uint32_t x)
{
#if MCU_HAS_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return dsp_sxtb16(dsp_ror8(x));
#endif
}

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

/* n-element dot products of one int8 vector with one unit's four gate rows, packed as the compiler lays them
 * out (pack_gate_rows in lstm.py: four columns of each gate in turn, then each gate's n % 4 last columns), so
 * that one pointer walks them. acc holds the starting values (the folded biases) and receives the sums; they
 * wrap modulo 2^32 as TFLM's int32 accumulators do on its targets (SMLAD wraps too; unsigned avoids C's UB).
 * SXTB16 splits four int8 into lanes (0, 2) and (1, 3), SMLAD multiplies two lanes pairwise and accumulates
 * (dsp_intrinsics.h: the instructions on Cortex-M, bit-identical C elsewhere). */
static void dot4(const int8_t *v, const int8_t *w, int32_t n, uint32_t acc[4])
{
    int32_t a0 = (int32_t)acc[0], a1 = (int32_t)acc[1], a2 = (int32_t)acc[2], a3 = (int32_t)acc[3];
    const int32_t body = n & ~3;
    for (int32_t i = 0; i < body; i += 4) {
        const uint32_t xv = dsp_load_s8x4(v + i);
        const uint32_t x02 = dsp_sxtb16(xv);
        const uint32_t x13 = sxtb16_ror8(xv);
        uint32_t wv = dsp_load_s8x4(w);
        a0 = dsp_smlad(dsp_sxtb16(wv), x02, a0);
        a0 = dsp_smlad(sxtb16_ror8(wv), x13, a0);
        wv = dsp_load_s8x4(w + 4);
        a1 = dsp_smlad(dsp_sxtb16(wv), x02, a1);
        a1 = dsp_smlad(sxtb16_ror8(wv), x13, a1);
        wv = dsp_load_s8x4(w + 8);
        a2 = dsp_smlad(dsp_sxtb16(wv), x02, a2);
        a2 = dsp_smlad(sxtb16_ror8(wv), x13, a2);
        wv = dsp_load_s8x4(w + 12);
        a3 = dsp_smlad(dsp_sxtb16(wv), x02, a3);
        a3 = dsp_smlad(sxtb16_ror8(wv), x13, a3);
        w += 16;
    }
    uint32_t sums[4] = {(uint32_t)a0, (uint32_t)a1, (uint32_t)a2, (uint32_t)a3};
    const int32_t rest = n - body;
    for (int32_t g = 0; g < 4; ++g) {
        for (int32_t i = 0; i < rest; ++i) {
            sums[g] += (uint32_t)((int32_t)v[body + i] * w[g * rest + i]);
        }
        acc[g] = sums[g];
    }
}

/* The four gate pre-activations of unit j for one batch row: sat16(fc(x) + fc(h)), each fc requantized to
 * int16 at 2^-12, in gate order input, forget, cell, output. */
static void preactivations(const lstm_s8_params_t *p, int32_t j, const int8_t *x, const int8_t *h,
                           const int8_t *w_input, const int8_t *w_recurrent, const int32_t *bias,
                           const int32_t *rec_bias, const int32_t *gate_mult, const int32_t *gate_shift,
                           int32_t out[4])
{
    const int32_t n = p->input_size;
    const int32_t u = p->units;
    uint32_t in[4], rec[4];
    for (int32_t g = 0; g < 4; ++g) {
        in[g] = (uint32_t)bias[g * u + j];
        rec[g] = (uint32_t)rec_bias[g * u + j];
    }
    dot4(x, w_input + 4 * j * n, n, in);
    dot4(h, w_recurrent + 4 * j * u, u, rec);
    for (int32_t g = 0; g < 4; ++g) {
        const int32_t a = clamp_s32(multiply_by_quantized_multiplier((int32_t)in[g], gate_mult[2 * g],
                                                                     gate_shift[2 * g]), INT16_MIN, INT16_MAX);
        const int32_t r = clamp_s32(multiply_by_quantized_multiplier((int32_t)rec[g], gate_mult[2 * g + 1],
                                                                     gate_shift[2 * g + 1]), INT16_MIN, INT16_MAX);
        out[g] = clamp_s32(a + r, INT16_MIN, INT16_MAX);
    }
}

/* The four gate outputs of every unit from their pre-activations, in gates[4][units] (input, forget, cell,
 * output). The gates all come from the hidden state before the step, so they are all computed before the
 * cell and hidden states change (TFLM computes the output gate after the cell update, from the same old
 * hidden state). */
static void activate(const int32_t pre[4], int32_t j, int32_t u, const int16_t *sigmoid, int16_t *gates)
{
    gates[j] = sigmoid_s16(pre[0], sigmoid);
    gates[u + j] = sigmoid_s16(pre[1], sigmoid);
    gates[2 * u + j] = tanh_s16(pre[2], 3, 0, sigmoid);
    gates[3 * u + j] = sigmoid_s16(pre[3], sigmoid);
}

/* Unit j's new cell state (in place) and its new hidden value, clamped to [lo, hi]. */
static int32_t update_unit(const lstm_s8_params_t *p, const int16_t *gates, int32_t j, int16_t *c,
                           const int16_t *sigmoid, int32_t lo, int32_t hi)
{
    const int32_t u = p->units;
    const int32_t kept = mul_q(gates[u + j], c[j], p->forget_cell_multiplier, p->forget_cell_shift, INT16_MIN,
                               INT16_MAX);
    const int32_t added = mul_q(gates[j], gates[2 * u + j], p->input_cell_multiplier, p->input_cell_shift,
                                INT16_MIN, INT16_MAX);
    int32_t next = clamp_s32(kept + added, INT16_MIN, INT16_MAX);
    if (p->cell_clip > 0) {
        next = clamp_s32(next, -p->cell_clip, p->cell_clip);
    }
    c[j] = (int16_t)next;
    const int32_t th = tanh_s16(next, p->tanh_multiplier, p->tanh_shift, sigmoid);
    const int32_t v = multiply_by_quantized_multiplier(th * gates[3 * u + j], p->hidden_multiplier,
                                                       p->hidden_shift) + p->hidden_zero_point;
    return clamp_s32(v, lo, hi);
}

/* The input row of batch b at step t. */
static int32_t row_of(const lstm_s8_params_t *p, int32_t b, int32_t t)
{
    return p->time_major ? t * p->batches + b : b * p->time_steps + t;
}

void lstm_s8(const lstm_s8_params_t *p, const int8_t *input, const int8_t *hidden_in, const int16_t *cell_in,
             const int8_t *w_input, const int8_t *w_recurrent, const int32_t *bias, const int32_t *rec_bias,
             const int32_t *gate_mult, const int32_t *gate_shift, const int16_t *sigmoid, int8_t *output,
             int8_t *hidden, int16_t *cell, int8_t *scratch)
{
    const int32_t u = p->units;
    const int32_t n = p->input_size;
    int16_t *gates = (int16_t *)(void *)scratch;

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
            const int32_t row = row_of(p, b, t);
            const int8_t *x = input + row * n;
            for (int32_t j = 0; j < u; ++j) {
                int32_t pre[4];
                preactivations(p, j, x, h, w_input, w_recurrent, bias, rec_bias, gate_mult, gate_shift, pre);
                activate(pre, j, u, sigmoid, gates);
            }
            int8_t *y = output + row * u;
            for (int32_t j = 0; j < u; ++j) {
                h[j] = (int8_t)update_unit(p, gates, j, c, sigmoid, INT8_MIN, INT8_MAX);
                y[j] = h[j];
            }
        }
    }
}

/* 16x8: the four gates' int64 dot products of one int16 vector with int8 rows `stride` apart. */
static void dot4_s16(const int16_t *v, const int8_t *w, int32_t stride, int32_t n, int64_t acc[4])
{
    for (int32_t g = 0; g < 4; ++g) {
        const int8_t *row = w + g * stride;
        int64_t a = acc[g];
        for (int32_t i = 0; i < n; ++i) {
            a += (int64_t)((int32_t)v[i] * row[i]);
        }
        acc[g] = a;
    }
}

void lstm_s16(const lstm_s16_params_t *p, const int16_t *input, const int16_t *hidden_in, const int16_t *cell_in,
              const int8_t *w_input, const int8_t *w_recurrent, const int64_t *bias, const int32_t *gate_mult,
              const int32_t *gate_shift, const int16_t *sigmoid, int16_t *output, int16_t *hidden, int16_t *cell,
              int8_t *scratch)
{
    const int32_t u = p->units;
    const int32_t n = p->input_size;
    int16_t *gates = (int16_t *)(void *)scratch;

    if (hidden != hidden_in) {
        memcpy(hidden, hidden_in, (size_t)(p->batches * u) * sizeof(int16_t));
    }
    if (cell != cell_in) {
        memcpy(cell, cell_in, (size_t)(p->batches * u) * sizeof(int16_t));
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        int16_t *h = hidden + b * u;
        int16_t *c = cell + b * u;
        for (int32_t t = 0; t < p->time_steps; ++t) {
            const int32_t row = row_of(p, b, t);
            const int16_t *x = input + row * n;
            for (int32_t j = 0; j < u; ++j) {
                int64_t in[4], rec[4] = {0, 0, 0, 0};
                int32_t pre[4];
                for (int32_t g = 0; g < 4; ++g) {
                    in[g] = bias[g * u + j];
                }
                dot4_s16(x, w_input + j * n, u * n, n, in);
                dot4_s16(h, w_recurrent + j * u, u * u, u, rec);
                for (int32_t g = 0; g < 4; ++g) {
                    const int32_t a = clamp_to_s16(multiply_by_quantized_multiplier_s64(in[g], gate_mult[2 * g],
                                                                                         gate_shift[2 * g]));
                    const int32_t r = clamp_to_s16(multiply_by_quantized_multiplier_s64(
                        rec[g], gate_mult[2 * g + 1], gate_shift[2 * g + 1]));
                    pre[g] = clamp_s32(a + r, INT16_MIN, INT16_MAX);
                }
                activate(pre, j, u, sigmoid, gates);
            }
            int16_t *y = output + row * u;
            for (int32_t j = 0; j < u; ++j) {
                h[j] = (int16_t)update_unit(p, gates, j, c, sigmoid, INT16_MIN, INT16_MAX);
                y[j] = h[j];
            }
        }
    }
}
