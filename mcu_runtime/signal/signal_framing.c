#include "signal_framing.h"

#include <string.h>

/* The state after the call starts as the state before it (one buffer in the generated code, then no copy). */
static void carry_i16(const int16_t *from, int16_t *to, int32_t n) {
    if (from != to) memcpy(to, from, (size_t)n * sizeof(int16_t));
}

/* history (n samples) moves left by k and the k new samples enter at its end (k <= n). */
static void push_i16(int16_t *history, int32_t n, const int16_t *values, int32_t k) {
    memmove(history, history + k, (size_t)(n - k) * sizeof(int16_t));
    memcpy(history + (n - k), values, (size_t)k * sizeof(int16_t));
}

void signal_framer_s16(const signal_framer_params_t *p, const int16_t *input, const int16_t *history_in,
                       const int32_t *count_in, int16_t *output, uint8_t *valid, int16_t *history, int32_t *count) {
    carry_i16(history_in, history, p->outer * p->history);
    int32_t pushed = *count_in;
    uint8_t all_valid = 1u;
    for (int32_t f = 0; f < p->n_frames; ++f) {
        if (pushed < p->first_valid) ++pushed;
        const int32_t out_now = pushed >= p->first_valid;
        if (!out_now) all_valid = 0u;
        for (int32_t r = 0; r < p->outer; ++r) {
            int16_t *h = history + r * p->history;
            push_i16(h, p->history, input + (r * p->n_frames + f) * p->frame_step, p->frame_step);
            int16_t *y = output + (r * p->n_frames + f) * p->frame_size;
            if (out_now) {
                memcpy(y, h, (size_t)p->frame_size * sizeof(int16_t));
            } else {
                memset(y, 0, (size_t)p->frame_size * sizeof(int16_t));
            }
        }
    }
    *count = pushed;
    *valid = all_valid;
}

void signal_stacker_s16(const signal_stacker_params_t *p, const int16_t *input, const int16_t *history_in,
                        const int32_t *count_in, int16_t *output, uint8_t *valid, int16_t *history, int32_t *count) {
    const int32_t n = p->frames * p->channels;
    carry_i16(history_in, history, n);
    int32_t held = *count_in;
    const int32_t copies = held == 0 ? 1 + p->left : 1;
    if (held == 0) held = 1;
    for (int32_t c = 0; c < copies; ++c) push_i16(history, n, input, p->channels);
    held += copies;
    if (held - 1 >= p->frames) {
        memcpy(output, history, (size_t)n * sizeof(int16_t));
        held -= p->step;
        *valid = 1u;
    } else {
        memset(output, 0, (size_t)n * sizeof(int16_t));
        *valid = 0u;
    }
    *count = held;
}

void signal_delay_s16(const signal_delay_params_t *p, const int16_t *input, const int16_t *history_in,
                      int16_t *output, int16_t *history) {
    carry_i16(history_in, history, p->outer * p->delay);
    for (int32_t r = 0; r < p->outer; ++r) {
        const int16_t *x = input + r * p->frame_size;
        int16_t *y = output + r * p->frame_size;
        int16_t *h = history + r * p->delay;
        /* The stream is h followed by x: the output is its first frame_size samples, the history its last
         * `delay`. Each output sample is read before the history moves. */
        for (int32_t i = 0; i < p->frame_size; ++i) y[i] = i < p->delay ? h[i] : x[i - p->delay];
        if (p->frame_size >= p->delay) {
            memcpy(h, x + (p->frame_size - p->delay), (size_t)p->delay * sizeof(int16_t));
        } else {
            push_i16(h, p->delay, x, p->frame_size);
        }
    }
}

void signal_delay_s16_stateless(const signal_delay_params_t *p, const int16_t *input, int16_t *output) {
    if (input != output) memcpy(output, input, (size_t)(p->outer * p->frame_size) * sizeof(int16_t));
}

void signal_overlap_add_s16(const signal_overlap_add_params_t *p, const int16_t *input, const int16_t *buffer_in,
                            int16_t *output, int16_t *buffer) {
    carry_i16(buffer_in, buffer, p->outer * p->frame_size);
    for (int32_t r = 0; r < p->outer; ++r) {
        int16_t *b = buffer + r * p->frame_size;
        for (int32_t f = 0; f < p->n_frames; ++f) {
            const int16_t *x = input + (r * p->n_frames + f) * p->frame_size;
            for (int32_t i = 0; i < p->frame_size; ++i) {
                int32_t v = (int32_t)b[i] + x[i];
                if (v > INT16_MAX) v = INT16_MAX;
                if (v < INT16_MIN) v = INT16_MIN;
                b[i] = (int16_t)v;
            }
            memcpy(output + (r * p->n_frames + f) * p->frame_step, b, (size_t)p->frame_step * sizeof(int16_t));
            memmove(b, b + p->frame_step, (size_t)(p->frame_size - p->frame_step) * sizeof(int16_t));
            memset(b + (p->frame_size - p->frame_step), 0, (size_t)p->frame_step * sizeof(int16_t));
        }
    }
}

void signal_overlap_add_f32(const signal_overlap_add_params_t *p, const float *input, const float *buffer_in,
                            float *output, float *buffer) {
    if (buffer_in != buffer) memcpy(buffer, buffer_in, (size_t)(p->outer * p->frame_size) * sizeof(float));
    for (int32_t r = 0; r < p->outer; ++r) {
        float *b = buffer + r * p->frame_size;
        for (int32_t f = 0; f < p->n_frames; ++f) {
            const float *x = input + (r * p->n_frames + f) * p->frame_size;
            for (int32_t i = 0; i < p->frame_size; ++i) b[i] += x[i];
            memcpy(output + (r * p->n_frames + f) * p->frame_step, b, (size_t)p->frame_step * sizeof(float));
            memmove(b, b + p->frame_step, (size_t)(p->frame_size - p->frame_step) * sizeof(float));
            for (int32_t i = p->frame_size - p->frame_step; i < p->frame_size; ++i) b[i] = 0.0f;
        }
    }
}
