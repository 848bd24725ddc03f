/* AVERAGE_POOL_2D and MAX_POOL_2D on int16 NHWC tensors (16x8; input and output share quantization).
 * Mirrors codegen/kernels/reduce/pooling_s16.py (PoolS16Params, the fields of pooling.py's PoolParams). */
#ifndef MCU_RUNTIME_POOLING_S16_H
#define MCU_RUNTIME_POOLING_S16_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w; /* leading virtual padding; padded taps are skipped, not read */
    int32_t act_min, act_max;
} pool_s16_params_t;

/* Mean of the in-bounds window elements (fewer than 2^16), rounded half away from zero, then clamped. */
void avg_pool2d_s16(const pool_s16_params_t *p, const int16_t *input, int16_t *output);

/* Largest in-bounds window element, then clamped. */
void max_pool2d_s16(const pool_s16_params_t *p, const int16_t *input, int16_t *output);

#endif
