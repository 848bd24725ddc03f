/* PAD: copy an int8 tensor into a larger one filled with a constant (the zero point). */
#ifndef MCU_RUNTIME_PAD_S8_H
#define MCU_RUNTIME_PAD_S8_H

#include <stdint.h>

typedef struct {
    int32_t in_d0, in_d1, in_d2, in_d3;
    int32_t before_d0, before_d1, before_d2, before_d3;
    int32_t out_d0, out_d1, out_d2, out_d3;
    int32_t pad_value;
} pad_s8_params_t;

void pad_s8(const pad_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
