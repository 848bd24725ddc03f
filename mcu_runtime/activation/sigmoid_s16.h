/* LOGISTIC and TANH on int16 (16x8), bit-exact with TFLite Micro: the input is rescaled onto the grid of a
 * 256-entry Q0.16 sigmoid table (sigmoid(i/24)), looked up with linear interpolation between entries, and
 * mirrored for negative inputs; tanh reads the table at twice its argument (tanh x = 2 sigmoid 2x - 1). */
#ifndef MCU_RUNTIME_SIGMOID_S16_H
#define MCU_RUNTIME_SIGMOID_S16_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t tanh; /* 0: LOGISTIC, 1: TANH */
    int32_t input_multiplier;
    int32_t input_right_shift; /* the product is rounded half up before this shift */
} sigmoid_s16_params_t;

/* The output may alias the input. */
void sigmoid_s16(const sigmoid_s16_params_t *p, const int16_t *input, const uint16_t *sigmoid_table,
                 int16_t *output);

#endif
