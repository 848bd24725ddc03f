/* FULLY_CONNECTED 16x8 on cores with the DSP extension: fully_connected_s16 / fully_connected_s16_b32 with each
 * weight row re-laid out in groups of four (dot_s16_dsp.h), bit-identical to them. Mirrors
 * codegen/kernels/conv_s16/fully_connected_s16_dsp.py. */
#ifndef MCU_RUNTIME_FULLY_CONNECTED_S16_DSP_H
#define MCU_RUNTIME_FULLY_CONNECTED_S16_DSP_H

#include <stdint.h>

#include "fully_connected_s8.h"

void fully_connected_s16_dsp(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                             const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

void fully_connected_s16_b32_dsp(const fully_connected_s8_params_t *p, const int16_t *input, const int8_t *filter,
                                 const int32_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
