#include "input_stream.h"

/* Weak: the application defines it only when its model streams an input, and the host test library, which
 * holds every kernel, must still load without it. */
extern void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst) __attribute__((weak));

/* One request per row: a row is contiguous in the input, rows of a window are not. */
void read_input_window(const read_input_params_t *p, void *dst)
{
    uint8_t *d = (uint8_t *)dst + p->dst_offset;
    uint32_t offset = (uint32_t)p->src_offset;
    for (int32_t r = 0; r < p->rows; ++r) {
        model_read_input(p->input, offset, (uint32_t)p->row_bytes, d);
        offset += (uint32_t)p->src_stride;
        d += p->dst_stride;
    }
}

/* An NCHW input read into an NHWC buffer: one request per channel and row (pieces of at most
 * READ_INPUT_PIECE bytes, staged on the stack), each byte then placed every `channels` bytes. */
void read_input_planar(const read_input_planar_params_t *p, void *dst)
{
    uint8_t piece[READ_INPUT_PIECE];
    uint8_t *d0 = (uint8_t *)dst + p->dst_offset;
    for (int32_t r = 0; r < p->rows; ++r) {
        for (int32_t c = 0; c < p->channels; ++c) {
            uint32_t offset = (uint32_t)(p->src_offset + c * p->src_plane_stride + r * p->src_row_stride);
            uint8_t *d = d0 + r * p->dst_stride + c;
            for (int32_t x0 = 0; x0 < p->cols; x0 += READ_INPUT_PIECE) {
                int32_t n = p->cols - x0 < READ_INPUT_PIECE ? p->cols - x0 : READ_INPUT_PIECE;
                model_read_input(p->input, offset + (uint32_t)x0, (uint32_t)n, piece);
                for (int32_t x = 0; x < n; ++x) {
                    d[(x0 + x) * p->channels] = piece[x];
                }
            }
        }
    }
}
