/* Read rows of a streamed model input into the arena (cached band execution with --stream-input). */
#ifndef MCU_RUNTIME_INPUT_STREAM_H
#define MCU_RUNTIME_INPUT_STREAM_H

#include <stdint.h>

typedef struct {
    int32_t rows;
    int32_t row_bytes;
    int32_t src_offset, src_stride; /* bytes of the input, as if it were one NHWC array */
    int32_t dst_offset, dst_stride;
    int32_t dst_bytes;
    uint32_t input; /* which model input */
} read_input_params_t;

/* Provided by the application: copy bytes [offset, offset + n) of model input `index` into dst. */
void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst);

void read_input_window(const read_input_params_t *p, void *dst);

/* Longest piece of a channel's row read_input_planar() asks for at once (staged on the stack). */
#define READ_INPUT_PIECE 64

/* A window of an NCHW input read into an NHWC buffer: the input's layout TRANSPOSE folded into stage 1. */
typedef struct {
    int32_t channels, rows, cols;
    int32_t src_offset, src_row_stride, src_plane_stride; /* bytes of the NCHW input */
    int32_t dst_offset, dst_stride;
    int32_t dst_bytes;
    uint32_t input; /* which model input */
} read_input_planar_params_t;

void read_input_planar(const read_input_planar_params_t *p, void *dst);

#endif
