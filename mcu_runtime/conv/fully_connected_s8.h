/* FULLY_CONNECTED, int8, with TFLite Micro's reference arithmetic:
 *   output[b][o] = requant(sum_i (filter[o][i] + filter_offset) * (input[b][i] + input_offset) + bias[o]).
 * The input is any tensor read as [batches][in_features]; the filter is [out_features][in_features]
 * row-major; bias holds out_features int32 values (zeros if the model has none). */
#ifndef MCU_RUNTIME_FULLY_CONNECTED_S8_H
#define MCU_RUNTIME_FULLY_CONNECTED_S8_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    int32_t input_offset;      /* -input zero point */
    int32_t filter_offset;     /* -filter zero point; per-tensor kernel only */
    int32_t output_offset;     /* output zero point */
    int32_t output_multiplier; /* per-tensor kernel only */
    int32_t output_shift;      /* per-tensor kernel only; > 0 shifts left */
    int32_t act_min;
    int32_t act_max;
} fully_connected_s8_params_t;

/* Per-tensor weight scale. */
void fully_connected_s8(const fully_connected_s8_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output);

/* Per-channel weight scales: multiplier[o], shift[o] per output; weights are symmetric (no filter offset). */
void fully_connected_per_channel_s8(const fully_connected_s8_params_t *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                    const int32_t *shift, int8_t *output);

#endif
