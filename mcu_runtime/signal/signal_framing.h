/* TFLM's stateful framing operators (signal library). Each keeps its state in variable tensors (model_state,
 * zeroed by model_reset(), which is TFLM's freshly reset state in every encoding here): the call gets the
 * state before it (`*_in`) and after it, and the generated code passes the same buffer for both.
 *
 * signal_framer_s16: rows of n_frames * frame_step samples; per frame the row's last `history` samples move
 *   in by frame_step and, once `first_valid` frames have been pushed (count saturates there), the oldest
 *   frame_size of them are the output frame (else it is zeros and *valid is 0).
 * signal_stacker_s16: one frame of `channels`; the first is taken 1 + left times; when `frames` are held they
 *   are the output (oldest first) and `step` are dropped. count: 0 before any frame, else frames held + 1.
 * signal_delay_s16: each row of frame_size samples delayed by `delay` (history: the last `delay` samples of
 *   each row); with delay 0 the output is the input (signal_delay_s16_stateless).
 * signal_overlap_add_s16 / _f32: per row and frame, buffer += frame (int16: saturated), the first
 *   frame_step values out, then the buffer moves left by frame_step with zeros entering. */
#ifndef MCU_RUNTIME_SIGNAL_FRAMING_H
#define MCU_RUNTIME_SIGNAL_FRAMING_H

#include <stdint.h>

typedef struct {
    int32_t outer;
    int32_t n_frames;
    int32_t frame_size;
    int32_t frame_step;
    int32_t history;
    int32_t first_valid;
} signal_framer_params_t;

typedef struct {
    int32_t channels;
    int32_t left;
    int32_t frames;
    int32_t step;
} signal_stacker_params_t;

typedef struct {
    int32_t outer;
    int32_t frame_size;
    int32_t delay;
} signal_delay_params_t;

typedef struct {
    int32_t outer;
    int32_t n_frames;
    int32_t frame_size;
    int32_t frame_step;
} signal_overlap_add_params_t;

void signal_framer_s16(const signal_framer_params_t *p, const int16_t *input, const int16_t *history_in,
                       const int32_t *count_in, int16_t *output, uint8_t *valid, int16_t *history, int32_t *count);

void signal_stacker_s16(const signal_stacker_params_t *p, const int16_t *input, const int16_t *history_in,
                        const int32_t *count_in, int16_t *output, uint8_t *valid, int16_t *history, int32_t *count);

void signal_delay_s16(const signal_delay_params_t *p, const int16_t *input, const int16_t *history_in,
                      int16_t *output, int16_t *history);
void signal_delay_s16_stateless(const signal_delay_params_t *p, const int16_t *input, int16_t *output);

void signal_overlap_add_s16(const signal_overlap_add_params_t *p, const int16_t *input, const int16_t *buffer_in,
                            int16_t *output, int16_t *buffer);
void signal_overlap_add_f32(const signal_overlap_add_params_t *p, const float *input, const float *buffer_in,
                            float *output, float *buffer);

#endif
