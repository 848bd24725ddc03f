#include "signal_spectral_subtraction.h"

void signal_spectral_subtraction(const signal_spectral_subtraction_params_t *p, const uint32_t *input,
                                 const uint32_t *state_in, uint32_t *output, uint32_t *noise_out, uint32_t *state)
{
    const uint32_t sb = (uint32_t)p->smoothing_bits;
    const uint32_t ssb = (uint32_t)p->spectral_subtraction_bits;
    for (int32_t i = 0; i < p->num_channels; ++i) {
        const int odd = (i & 1) != 0;
        const uint32_t smoothing = odd ? p->alternate_smoothing : p->smoothing;
        const uint32_t keep = odd ? p->alternate_one_minus_smoothing : p->one_minus_smoothing;
        const uint32_t scaled = input[i] << sb;
        uint32_t noise = (uint32_t)(((uint64_t)scaled * smoothing + (uint64_t)state_in[i] * keep) >> ssb);
        uint32_t estimate = noise;
        if (estimate > scaled) {
            estimate = scaled;
            if (p->clamping) {
                noise = estimate;
            }
        }
        const uint32_t floor = (uint32_t)(((uint64_t)input[i] * p->min_signal_remaining) >> ssb);
        const uint32_t subtracted = (scaled - estimate) >> sb;
        state[i] = noise;
        noise_out[i] = noise;
        output[i] = subtracted > floor ? subtracted : floor;
    }
}
