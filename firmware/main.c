/* Firmware main loop: receive framed requests over the console UART, run the generated model, reply.
 * Requests and replies are described in PROTOCOL.md; model.h is generated (see its contract there). */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "model.h"
#include "protocol.h"
#include "stack.h"

#ifndef FIRMWARE_VERSION
#define FIRMWARE_VERSION "0.1.0"
#endif

/* A frame that starts but stops arriving for this long is dropped (then the buffer is rescanned). Under QEMU
 * these are virtual milliseconds: the polling loop runs some 20x slower than real time, i.e. ~0.5 s. */
#define RX_TIMEOUT_MS 20u

/* INFO must fit one payload: 21 fixed bytes, 4 per tensor size, 4 length-prefixed strings. */
#if MODEL_NUM_INPUTS < 1 || MODEL_NUM_INPUTS > 255 || MODEL_NUM_OUTPUTS < 1 || MODEL_NUM_OUTPUTS > 255
#error "the protocol supports 1..255 model inputs and outputs"
#endif
#if 21 + 4 * (MODEL_NUM_INPUTS + MODEL_NUM_OUTPUTS) + 4 * 64 > PROTO_MAX_PAYLOAD
#error "too many model inputs/outputs for one INFO reply"
#endif

#define INFO_STRING_MAX 63u
#define OOB_MESSAGE_MAX 63u

static proto_rx_t rx;
/* The reply to the last valid request, kept so that a retransmitted request (same type, seq and CRC) is
 * answered again without being executed twice -- an INVOKE can take long enough for the host to retry. */
static uint8_t tx[PROTO_FRAME_MAX];
static uint32_t tx_len;
static int have_last;
static uint8_t last_type, last_seq;
static uint32_t last_crc;
/* Replies about broken frames and faults go through this buffer so they never clobber `tx`. */
static uint8_t oob[PROTO_HEADER_BYTES + 1u + OOB_MESSAGE_MAX + PROTO_CRC_BYTES];
/* Outputs are only meaningful after an INVOKE that followed the last input write. */
static int outputs_valid;
/* The seq of the request being handled, for a fault report. */
static volatile uint8_t current_seq;

#ifdef MODEL_PROFILE
#if MODEL_NUM_CALLS < 1
#error "profiling needs at least one kernel call"
#endif
/* Timer reading after each kernel call of the last INVOKE (ticks since its start; 32 bits is over an hour
 * of instructions/40). Only a profiled build pays for this array and the handler below. */
static uint32_t profile_ticks[MODEL_NUM_CALLS];
static int profile_valid;

void model_profile_point(uint32_t k) {
    profile_ticks[k] = (uint32_t)board_timer_read();
}
#endif

static void send(const uint8_t *buf, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) board_uart_putc(buf[i]);
}

static uint32_t build_error(uint8_t *out, uint8_t seq, uint8_t code, const char *message) {
    uint8_t *p = out + PROTO_HEADER_BYTES;
    uint32_t n = (uint32_t)strlen(message);
    if (n > OOB_MESSAGE_MAX) n = OOB_MESSAGE_MAX;
    p[0] = code;
    memcpy(p + 1, message, n);
    return proto_build_frame(out, PROTO_ERROR, seq, p, (uint16_t)(1u + n));
}

static void send_oob_error(uint8_t seq, uint8_t code, const char *message) {
    send(oob, build_error(oob, seq, code, message));
}

static uint32_t put_string(uint8_t *p, uint32_t n, const char *s) {
    uint32_t len = (uint32_t)strlen(s);
    if (len > INFO_STRING_MAX) len = INFO_STRING_MAX;
    p[n] = (uint8_t)len;
    memcpy(p + n + 1u, s, len);
    return n + 1u + len;
}

/* Each handler writes its reply payload at tx + PROTO_HEADER_BYTES and returns the reply frame's size. */

static uint32_t reply_error(uint8_t seq, uint8_t code, const char *message) {
    return build_error(tx, seq, code, message);
}

static uint32_t handle_hello(const proto_frame_t *f) {
    uint8_t *p = tx + PROTO_HEADER_BYTES;
    uint32_t n = 0;
    p[n++] = (uint8_t)PROTO_VERSION;
    proto_put_u16(p + n, (uint16_t)PROTO_MAX_PAYLOAD);
    n += 2u;
    p[n++] = (uint8_t)MODEL_NUM_INPUTS;
    p[n++] = (uint8_t)MODEL_NUM_OUTPUTS;
    proto_put_u32(p + n, (uint32_t)MODEL_ARENA_BYTES);
    n += 4u;
    proto_put_u32(p + n, stack_reserved());
    n += 4u;
    memcpy(p + n, model_hash, 8u);
    n += 8u;
    for (uint32_t i = 0; i < (uint32_t)MODEL_NUM_INPUTS; i++, n += 4u) proto_put_u32(p + n, model_input_bytes[i]);
    for (uint32_t i = 0; i < (uint32_t)MODEL_NUM_OUTPUTS; i++, n += 4u) proto_put_u32(p + n, model_output_bytes[i]);
    n = put_string(p, n, FIRMWARE_VERSION);
    n = put_string(p, n, board_name);
    n = put_string(p, n, model_name);
    n = put_string(p, n, board_tick_unit);
    return proto_build_frame(tx, PROTO_INFO, f->seq, p, (uint16_t)n);
}

static uint32_t handle_write_input(const proto_frame_t *f) {
    if (f->length < 5u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "WRITE_INPUT needs index and offset");
    uint32_t index = f->payload[0];
    uint32_t offset = proto_get_u32(f->payload + 1);
    uint32_t n = (uint32_t)f->length - 5u;
    if (index >= (uint32_t)MODEL_NUM_INPUTS) return reply_error(f->seq, PROTO_ERR_BAD_INDEX, "no such input");
    uint32_t size = model_input_bytes[index];
    if (offset > size || n > size - offset)
        return reply_error(f->seq, PROTO_ERR_OUT_OF_RANGE, "write past the end of the input");
    memcpy(model_input(index) + offset, f->payload + 5, n);
    outputs_valid = 0;
    return proto_build_frame(tx, PROTO_ACK, f->seq, 0, 0);
}

static uint32_t handle_invoke(const proto_frame_t *f) {
    if (f->length != 0u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "INVOKE takes no payload");
    stack_paint();
    board_timer_start();
    model_invoke();
    uint64_t ticks = board_timer_read();
    uint32_t high_water = stack_high_water();
    outputs_valid = 1;
#ifdef MODEL_PROFILE
    profile_valid = 1;
#endif
    uint8_t *p = tx + PROTO_HEADER_BYTES;
    p[0] = (uint8_t)(stack_overflowed() ? PROTO_STATUS_STACK_OVERFLOW : PROTO_STATUS_OK);
    proto_put_u64(p + 1, ticks);
    proto_put_u32(p + 9, high_water);
    return proto_build_frame(tx, PROTO_RESULT, f->seq, p, 13u);
}

static uint32_t handle_read_output(const proto_frame_t *f) {
    if (f->length != 7u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "READ_OUTPUT needs 7 bytes");
    uint32_t index = f->payload[0];
    uint32_t offset = proto_get_u32(f->payload + 1);
    uint32_t n = proto_get_u16(f->payload + 5);
    if (index >= (uint32_t)MODEL_NUM_OUTPUTS) return reply_error(f->seq, PROTO_ERR_BAD_INDEX, "no such output");
    uint32_t size = model_output_bytes[index];
    if (n > PROTO_MAX_PAYLOAD || offset > size || n > size - offset)
        return reply_error(f->seq, PROTO_ERR_OUT_OF_RANGE, "read past the end of the output");
    if (!outputs_valid) return reply_error(f->seq, PROTO_ERR_NOT_READY, "no INVOKE since the inputs changed");
    return proto_build_frame(tx, PROTO_DATA, f->seq, model_output(index) + offset, (uint16_t)n);
}

#ifdef MODEL_PROFILE
/* Reply: total points u32, then the u32 ticks of points offset.. (as many as asked and fit one payload). */
static uint32_t handle_read_profile(const proto_frame_t *f) {
    if (f->length != 6u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "READ_PROFILE needs 6 bytes");
    uint32_t offset = proto_get_u32(f->payload);
    uint32_t n = proto_get_u16(f->payload + 4);
    if (offset > (uint32_t)MODEL_NUM_CALLS) return reply_error(f->seq, PROTO_ERR_OUT_OF_RANGE, "no such point");
    if (!profile_valid) return reply_error(f->seq, PROTO_ERR_NOT_READY, "no INVOKE yet");
    if (n > (uint32_t)MODEL_NUM_CALLS - offset) n = (uint32_t)MODEL_NUM_CALLS - offset;
    if (n > (PROTO_MAX_PAYLOAD - 4u) / 4u) n = (PROTO_MAX_PAYLOAD - 4u) / 4u;
    uint8_t *p = tx + PROTO_HEADER_BYTES;
    proto_put_u32(p, (uint32_t)MODEL_NUM_CALLS);
    for (uint32_t i = 0; i < n; i++) proto_put_u32(p + 4u + 4u * i, profile_ticks[offset + i]);
    return proto_build_frame(tx, PROTO_DATA, f->seq, p, (uint16_t)(4u + 4u * n));
}
#endif

static void handle_frame(const proto_frame_t *f) {
    if (have_last && f->type == last_type && f->seq == last_seq && f->crc == last_crc) {
        send(tx, tx_len);  /* retransmission: our reply was lost or late */
        return;
    }
    current_seq = f->seq;
    switch (f->type) {
        case PROTO_HELLO: tx_len = handle_hello(f); break;
        case PROTO_WRITE_INPUT: tx_len = handle_write_input(f); break;
        case PROTO_INVOKE: tx_len = handle_invoke(f); break;
        case PROTO_READ_OUTPUT: tx_len = handle_read_output(f); break;
#ifdef MODEL_PROFILE
        /* Without profiling READ_PROFILE takes the unknown-type path: the default build stays as it was. */
        case PROTO_READ_PROFILE: tx_len = handle_read_profile(f); break;
#endif
        default: tx_len = reply_error(f->seq, PROTO_ERR_UNKNOWN_TYPE, "unknown request type"); break;
    }
    have_last = 1;
    last_type = f->type;
    last_seq = f->seq;
    last_crc = f->crc;
    send(tx, tx_len);
}

/* Handle every complete frame in the receive buffer; broken ones are reported and resynchronised past. */
static void process_rx(void) {
    proto_frame_t f;
    for (;;) {
        proto_rx_status_t status = proto_rx_scan(&rx, &f);
        if (status == PROTO_RX_MORE) return;
        if (status == PROTO_RX_FRAME) {
            handle_frame(&f);
            proto_rx_consume_frame(&rx, &f);
        } else {
            if (status == PROTO_RX_BAD_CRC) send_oob_error(f.seq, PROTO_ERR_BAD_CRC, "bad CRC");
            else send_oob_error(f.seq, PROTO_ERR_BAD_LENGTH, "payload length too large");
            proto_rx_skip(&rx);
        }
    }
}

void firmware_fault(uint32_t exception) {
    static const char *const names[] = {"HardFault", "MemManage", "BusFault", "UsageFault"};
    char message[32] = "CPU fault: exception ";
    if (exception >= 3u && exception <= 6u) {
        strcpy(message + 11, names[exception - 3u]);
    } else {
        uint32_t at = (uint32_t)strlen(message);
        message[at++] = (char)('0' + (exception / 100u) % 10u);
        message[at++] = (char)('0' + (exception / 10u) % 10u);
        message[at++] = (char)('0' + exception % 10u);
        message[at] = '\0';
    }
    send_oob_error(current_seq, PROTO_ERR_FAULT, message);
    board_halt(1u);
}

int main(void) {
    board_init();
    proto_rx_init(&rx);
    const uint64_t timeout = (uint64_t)RX_TIMEOUT_MS * board_ticks_per_ms;
    uint64_t idle_since = 0;
    int idle = 0;  /* idle_since is valid: no byte arrived since it was taken */
    for (;;) {
        int32_t c = board_uart_getc();
        if (c >= 0) {
            proto_rx_push(&rx, (uint8_t)c);
            process_rx();
            idle = 0;  /* the timer is only read while waiting: it costs nothing per received byte */
        } else if (rx.len != 0u) {
            uint64_t now = board_timer_read();
            if (!idle || now < idle_since) {  /* (now < idle_since: an INVOKE restarted the timer) */
                idle_since = now;
                idle = 1;
            } else if (now - idle_since > timeout) {
                if (rx.len >= PROTO_HEADER_BYTES) send_oob_error(rx.buf[3], PROTO_ERR_TIMEOUT, "incomplete frame");
                proto_rx_skip(&rx);
                process_rx();
                idle = 0;
            }
        }
    }
}
