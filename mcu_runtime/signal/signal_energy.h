/* SignalEnergy (TFLM's signal library): out[i] = re_i^2 + im_i^2 of an int16 complex spectrum
 * ([re0, im0, re1, ...]) for start_index <= i < end_index, summed as TFLM does (int32, read as uint32).
 * The other out_size - (end - start) outputs are set to 0 (TFLM leaves them unwritten). */
#ifndef MCU_RUNTIME_SIGNAL_ENERGY_H
#define MCU_RUNTIME_SIGNAL_ENERGY_H

#include <stdint.h>

typedef struct {
    int32_t start_index;
    int32_t end_index;
    int32_t out_size;
} signal_energy_params_t;

void signal_energy_s16(const signal_energy_params_t *p, const int16_t *input, uint32_t *output);

#endif
