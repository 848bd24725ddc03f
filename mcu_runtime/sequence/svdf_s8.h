/* SVDF, int8 input and output, int16 state and time weights, int32 bias: TFLite Micro's integer arithmetic.
 * The state ([batches][filters][memory] int16, a variable tensor kept between invokes) moves one slot left,
 * the feature projection of the input fills each filter's newest slot, and each output unit is the requantized
 * sum over its `rank` filters of the time weights times the state. No fused activation (as TFLM). */
#ifndef MCU_RUNTIME_SVDF_S8_H
#define MCU_RUNTIME_SVDF_S8_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t filters;            /* units * rank */
    int32_t memory;
    int32_t rank;
    int32_t input_offset;       /* -input zero point */
    int32_t state_zero_point;
    int32_t output_offset;      /* output zero point */
    int32_t feature_multiplier; /* input x feature weights -> state */
    int32_t feature_shift;
    int32_t time_multiplier;    /* state x time weights -> output */
    int32_t time_shift;
} svdf_s8_params_t;

/* state_in is the state before the call and state the state after it: the generated code passes the same
 * buffer for both (the kernel reads each old value before it writes over it). weights_feature is
 * [filters][in_features], weights_time [filters][memory], bias [filters / rank] (zeros if the model has none). */
void svdf_s8(const svdf_s8_params_t *p, const int8_t *input, const int16_t *state_in,
             const int8_t *weights_feature, const int16_t *weights_time, const int32_t *bias, int8_t *output,
             int16_t *state);

#endif
