/* The largest int8 value of a window of a buffer: the VDPC check of mixed-precision patches (a patch keeps
 * its int8 path when its region of the classified map exceeds the threshold). The window is `rows` runs of
 * `row_bytes` bytes, `row_stride` bytes apart, starting at `window`. */
#ifndef MCU_RUNTIME_MAX_S8_H
#define MCU_RUNTIME_MAX_S8_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t row_bytes;
    int32_t row_stride;
} window_s8_params_t;

int32_t max_s8(const window_s8_params_t *p, const int8_t *window);
/* Four bytes per step (SSUB8 + SEL on DSP cores; the same lanes in portable C elsewhere). */
int32_t max_s8_dsp(const window_s8_params_t *p, const int8_t *window);

#endif
