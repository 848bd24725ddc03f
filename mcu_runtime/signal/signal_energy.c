#include "signal_energy.h"

void signal_energy_s16(const signal_energy_params_t *p, const int16_t *input, uint32_t *output) {
    for (int32_t i = 0; i < p->out_size; ++i) {
        uint32_t e = 0u;
        if (i >= p->start_index && i < p->end_index) {
            const int32_t re = input[2 * i];
            const int32_t im = input[2 * i + 1];
            /* Each square is at most 2^30: the sum, at most 2^31, is formed in uint32 to stay defined. */
            e = (uint32_t)(re * re) + (uint32_t)(im * im);
        }
        output[i] = e;
    }
}
