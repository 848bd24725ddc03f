/* AVERAGE_POOL_2D and MAX_POOL_2D on int8 NHWC tensors (input and output share quantization). */
#ifndef MCU_RUNTIME_POOLING_S8_H
#define MCU_RUNTIME_POOLING_S8_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w; /* leading virtual padding; padded taps are skipped, not read */
    int32_t act_min, act_max;
} pool_s8_params_t;

/* Mean of the in-bounds window elements, rounded half away from zero, then clamped. */
void avg_pool2d_s8(const pool_s8_params_t *p, const int8_t *input, int8_t *output);

/* Largest in-bounds window element, then clamped. */
void max_pool2d_s8(const pool_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
