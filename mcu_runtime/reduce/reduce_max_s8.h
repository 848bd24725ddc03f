/* REDUCE_MAX of an int8 tensor over a set of axes (raw values; TFLite Micro requires equal input and output
 * quantization). The parameters are MEAN's canonical view; its multiplier, shift and zero points are unused. */
#ifndef MCU_RUNTIME_REDUCE_MAX_S8_H
#define MCU_RUNTIME_REDUCE_MAX_S8_H

#include <stdint.h>

#include "mean_s8.h"

void reduce_max_s8(const mean_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
