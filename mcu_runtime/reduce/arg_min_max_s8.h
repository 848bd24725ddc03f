/* ARG_MAX / ARG_MIN of an int8 tensor along one axis, as TFLite Micro: the input viewed as
 * [outer][axis_size][inner], the first index of the largest (smallest) value, int32 or int64 indices. */
#ifndef MCU_RUNTIME_ARG_MIN_MAX_S8_H
#define MCU_RUNTIME_ARG_MIN_MAX_S8_H

#include <stdint.h>

typedef struct {
    int32_t outer;     /* product of the dims before the axis */
    int32_t axis_size;
    int32_t inner;     /* product of the dims after the axis */
    int32_t is_max;    /* 1: ARG_MAX, 0: ARG_MIN */
} arg_min_max_s8_params_t;

void arg_min_max_s8_i32(const arg_min_max_s8_params_t *p, const int8_t *input, int32_t *output);
void arg_min_max_s8_i64(const arg_min_max_s8_params_t *p, const int8_t *input, int64_t *output);

#endif
