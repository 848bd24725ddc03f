/* TFLite Micro's SignalPCAN: per-channel energy normalization, a gain from the noise estimate read off a
 * piecewise-quadratic table, then a soft "shrink" of the gained signal. */
#ifndef MCU_RUNTIME_SIGNAL_PCAN_H
#define MCU_RUNTIME_SIGNAL_PCAN_H

#include <stdint.h>

typedef struct {
    int32_t num_channels;
    int32_t snr_shift;
} signal_pcan_params_t;

/* gain_lut: at least 125 int16 values (3 per leading-bit position, from index 6 on; 0..2 for inputs 0..2). */
void signal_pcan(const signal_pcan_params_t *p, const uint32_t *input, const uint32_t *noise_estimate,
                 const int16_t *gain_lut, uint32_t *output);

#endif
