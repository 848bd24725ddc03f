/* TFLite Micro's SignalFilterBankSpectralSubtraction: subtracts a smoothed per-channel noise estimate, kept
 * between invokes, from a uint32 filter bank, keeping at least min_signal_remaining of each value. */
#ifndef MCU_RUNTIME_SIGNAL_SPECTRAL_SUBTRACTION_H
#define MCU_RUNTIME_SIGNAL_SPECTRAL_SUBTRACTION_H

#include <stdint.h>

typedef struct {
    int32_t num_channels;
    uint32_t smoothing;            /* even channels */
    uint32_t one_minus_smoothing;
    uint32_t alternate_smoothing;  /* odd channels */
    uint32_t alternate_one_minus_smoothing;
    uint32_t min_signal_remaining;
    int32_t smoothing_bits;
    int32_t spectral_subtraction_bits;
    int32_t clamping;              /* nonzero: the estimate never exceeds the scaled signal */
} signal_spectral_subtraction_params_t;

/* state_in is the noise estimate before the call and state after it: the generated code passes one buffer
 * (model_state) for both. noise_out receives a copy of the new estimate (the op's second output). */
void signal_spectral_subtraction(const signal_spectral_subtraction_params_t *p, const uint32_t *input,
                                 const uint32_t *state_in, uint32_t *output, uint32_t *noise_out, uint32_t *state);

#endif
