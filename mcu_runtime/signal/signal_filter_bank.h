/* TFLite Micro's signal-library filter bank ops (SignalFilterBank, SignalFilterBankSquareRoot,
 * SignalFilterBankLog), bit-exact with its integer arithmetic. */
#ifndef MCU_RUNTIME_SIGNAL_FILTER_BANK_H
#define MCU_RUNTIME_SIGNAL_FILTER_BANK_H

#include <stdint.h>

typedef struct {
    int32_t num_channels;
} signal_filter_bank_params_t;

/* Triangular filters over a uint32 power spectrum: num_channels + 1 filters (filter 0 is scratch); filter i
 * spans widths[i] bins from freq_starts[i], weighting bin j by weights[weight_starts[i] + j] for itself and by
 * unweights[...] for filter i + 1. uint64 sums (wrapping). output: filters 1..num_channels. */
void signal_filter_bank(const signal_filter_bank_params_t *p, const uint32_t *input, const int16_t *weights,
                        const int16_t *unweights, const int16_t *freq_starts, const int16_t *weight_starts,
                        const int16_t *widths, uint64_t *output);

typedef struct {
    int32_t num_channels;
} signal_filter_bank_sqrt_params_t;

/* output[i] = rounded integer square root of input[i], >> (*scale_bits mod 32). */
void signal_filter_bank_sqrt(const signal_filter_bank_sqrt_params_t *p, const uint64_t *input,
                             const int32_t *scale_bits, uint32_t *output);

typedef struct {
    int32_t num_channels;
    uint32_t output_scale;
    int32_t correction_bits;
} signal_filter_bank_log_params_t;

/* output[i] = min(output_scale * ln(input[i] << correction_bits) in TFLM's fixed point, 32767); 0 for values
 * (after the shift) of 0 or 1. */
void signal_filter_bank_log(const signal_filter_bank_log_params_t *p, const uint32_t *input, int16_t *output);

#endif
