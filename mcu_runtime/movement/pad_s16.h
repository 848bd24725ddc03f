/* PAD of int16 tensors: the int16 variant of pad_s8, same parameter struct (codegen/kernels/movement/pad_s16.py). */
#ifndef MCU_RUNTIME_PAD_S16_H
#define MCU_RUNTIME_PAD_S16_H

#include <stdint.h>

#include "pad_s8.h"

void pad_s16(const pad_s8_params_t *p, const int16_t *input, int16_t *output);

#endif
