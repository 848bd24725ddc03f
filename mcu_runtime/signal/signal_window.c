#include "signal_window.h"

void signal_window_s16(const signal_window_params_t *p, const int16_t *input, const int16_t *window,
                       int16_t *output) {
    for (int32_t r = 0; r < p->rows; ++r) {
        const int16_t *x = input + r * p->size;
        int16_t *y = output + r * p->size;
        for (int32_t i = 0; i < p->size; ++i) {
            int32_t v = ((int32_t)x[i] * window[i]) >> p->shift;
            if (v > INT16_MAX) v = INT16_MAX;
            if (v < INT16_MIN) v = INT16_MIN;
            y[i] = (int16_t)v;
        }
    }
}
