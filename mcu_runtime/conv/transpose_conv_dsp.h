/* TRANSPOSE_CONV on cores with the DSP extension, bit-identical to transpose_conv.h's kernels (same parameters;
 * each output gathers its taps' products, a tap's in_c channels contiguous in input and filter):
 * - int8: SXTAB16 adds the input offset to two sign-extended inputs at once (lanes stay within +-255) and
 *   SMLAD multiplies them by two sign-extended weights: four MACs in eight instructions; the int32 sum wraps
 *   modulo 2^32 as TFLite's does. The filter is the model's.
 * - 16x8: the filter's in_c weights of each tap re-laid out in groups of four for SMLALD (dot_s16_dsp.h).
 * Mirrors codegen/kernels/conv/transpose_conv_dsp.py. */
#ifndef MCU_RUNTIME_TRANSPOSE_CONV_DSP_H
#define MCU_RUNTIME_TRANSPOSE_CONV_DSP_H

#include <stdint.h>

#include "transpose_conv.h"

void transpose_conv_s8_dsp(const transpose_conv_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *output);

void transpose_conv_s16_dsp(const transpose_conv_params_t *p, const int16_t *input, const int8_t *filter,
                            const int64_t *bias, const int32_t *mult, const int32_t *shift, int16_t *output);

#endif
