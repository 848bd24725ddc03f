/* SignalWindow (TFLM's signal library): each row of `size` int16 samples times the int16 window, shifted
 * right by `shift` (arithmetic) and saturated to int16. The output may be the input's buffer. */
#ifndef MCU_RUNTIME_SIGNAL_WINDOW_H
#define MCU_RUNTIME_SIGNAL_WINDOW_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t size;  /* the window's length */
    int32_t shift;
} signal_window_params_t;

void signal_window_s16(const signal_window_params_t *p, const int16_t *input, const int16_t *window,
                       int16_t *output);

#endif
