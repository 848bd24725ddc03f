/* Which filter taps of a convolution or pooling window fall inside the input. */
#ifndef MCU_RUNTIME_CONV_WINDOW_H
#define MCU_RUNTIME_CONV_WINDOW_H

#include <stdint.h>

/* Taps t in [*lo, *hi) land inside [0, size) at origin + t * dilation. Computing the window once per output
 * row/column keeps the padding test out of the multiply-accumulate loops. */
static inline void conv_tap_range(int32_t origin, int32_t size, int32_t kernel, int32_t dilation, int32_t *lo,
                                  int32_t *hi)
{
    int32_t first = 0;
    int32_t end = 0;
    if (origin < 0) {
        first = (-origin + dilation - 1) / dilation;
    }
    if (origin < size) {
        end = (size - 1 - origin) / dilation + 1;
    }
    if (end > kernel) {
        end = kernel;
    }
    *lo = first;
    *hi = end > first ? end : first;
}

#endif
