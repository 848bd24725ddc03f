/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 input, output and hidden state, int16 cell state, int8 weights, int32
 * biases (and the 16x8 variant below): TFLite Micro's integer arithmetic (see codegen/kernels/sequence/lstm.py for the step). Gate
 * pre-activations are Q3.12, gate outputs Q0.15; the int16 sigmoid and tanh interpolate a 256-node table of
 * sigmoid(k/24) the compiler computes. Both states are variable tensors kept between invokes. */
#ifndef MCU_RUNTIME_LSTM_S8_H
#define MCU_RUNTIME_LSTM_S8_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t time_steps;
    int32_t input_size;
    int32_t units;
    int32_t time_major;            /* input [time][batch][input] when 1, [batch][time][input] when 0 */
    int32_t hidden_zero_point;
    int32_t forget_cell_multiplier;
    int32_t forget_cell_shift;
    int32_t input_cell_multiplier;
    int32_t input_cell_shift;
    int32_t hidden_multiplier;
    int32_t hidden_shift;
    int32_t tanh_multiplier;       /* tanh of the cell state reads (c * multiplier + round) >> shift */
    int32_t tanh_shift;
    int32_t cell_clip;             /* 0: no clipping */
} lstm_s8_params_t;

/* w_input ([4][units][input_size]) and w_recurrent ([4][units][units]), gate order input, forget, cell,
 * output, come packed per unit (see dot4 in lstm_s8.c; lstm_s16 reads them unpacked); bias [4][units] with -input zero point x each weight row's sum folded in, rec_bias [4][units]
 * the same for the recurrent weights and the hidden zero point; gate_mult and gate_shift [4][2] (input then
 * recurrent product of each gate);
 * sigmoid holds the 256 table nodes minus 32768. hidden_in/cell_in are the states before the call and
 * hidden/cell after it: the generated code passes the same buffers for both. scratch holds 4 * units int16. */
void lstm_s8(const lstm_s8_params_t *p, const int8_t *input, const int8_t *hidden_in, const int16_t *cell_in,
             const int8_t *w_input, const int8_t *w_recurrent, const int32_t *bias, const int32_t *rec_bias,
             const int32_t *gate_mult, const int32_t *gate_shift, const int16_t *sigmoid, int8_t *output,
             int8_t *hidden, int16_t *cell, int8_t *scratch);

/* 16x8: int16 input, output and hidden state (zero points 0), int8 weights, int64 biases [4][units], int64
 * accumulators; the same parameters and step otherwise. */
typedef lstm_s8_params_t lstm_s16_params_t;

void lstm_s16(const lstm_s16_params_t *p, const int16_t *input, const int16_t *hidden_in, const int16_t *cell_in,
              const int8_t *w_input, const int8_t *w_recurrent, const int64_t *bias, const int32_t *gate_mult,
              const int32_t *gate_shift, const int16_t *sigmoid, int16_t *output, int16_t *hidden, int16_t *cell,
              int8_t *scratch);

#endif
