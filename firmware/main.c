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

/* Models generated before input streaming existed do not say; they stream nothing. */
#ifndef MODEL_STREAMED_INPUTS
#define MODEL_STREAMED_INPUTS 0
#endif

/* The models this firmware carries. A model.h for several models (`codegen build --model A --model B`) defines
 * MODEL_COUNT, MODEL_MAX_INPUTS, MODEL_MAX_OUTPUTS and MODEL_LIST(X), which calls X(prefix, PREFIX) once per model
 * (symbols prefix_invoke, prefix_input_bytes, ..., macros PREFIX_NUM_INPUTS, ...); one model's model.h defines
 * none of them and is the single model `model`. */
#ifndef MODEL_COUNT
#define MODEL_COUNT 1
#define MODEL_LIST(X) X(model, MODEL)
#define MODEL_MAX_INPUTS MODEL_NUM_INPUTS
#define MODEL_MAX_OUTPUTS MODEL_NUM_OUTPUTS
#ifndef MODEL_STATE_BYTES /* a model.h from before model_reset(): no variable tensors, nothing to reset */
#define MODEL_STATE_BYTES 0
static void model_reset(void) {}
#endif
#endif

#if MODEL_COUNT < 1 || MODEL_COUNT > 255
#error "the protocol supports 1..255 models"
#endif
#if MODEL_COUNT > 1 && MODEL_STREAMED_INPUTS != 0
#error "a firmware with several models streams no input"
#endif

/* INFO must fit one payload: 21 fixed bytes, 4 per tensor size, 4 length-prefixed strings, with streamed inputs
 * one flag byte per input, and with several models one flag byte per input plus model index and count. */
#if MODEL_MAX_INPUTS < 1 || MODEL_MAX_INPUTS > 255 || MODEL_MAX_OUTPUTS < 1 || MODEL_MAX_OUTPUTS > 255
#error "the protocol supports 1..255 model inputs and outputs"
#endif
#if MODEL_STREAMED_INPUTS < 0 || MODEL_STREAMED_INPUTS > MODEL_MAX_INPUTS
#error "MODEL_STREAMED_INPUTS must be 0..MODEL_NUM_INPUTS"
#endif
#if 21 + 4 * (MODEL_MAX_INPUTS + MODEL_MAX_OUTPUTS) + 4 * 64 + \
    (MODEL_STREAMED_INPUTS > 0 || MODEL_COUNT > 1) * MODEL_MAX_INPUTS + 2 * (MODEL_COUNT > 1) > PROTO_MAX_PAYLOAD
#error "too many model inputs/outputs for one INFO reply"
#endif

typedef struct {
    const char *name;
    const uint8_t *hash;
    uint32_t num_inputs, num_outputs, arena_bytes;
    const uint32_t *input_bytes, *output_bytes;
    uint8_t *(*input)(uint32_t index);
    const uint8_t *(*output)(uint32_t index);
    void (*invoke)(void);
    void (*reset)(void);
} model_entry_t;

#define MODEL_ENTRY(p, P)                                                                                          \
    {p##_name,   p##_hash,          P##_NUM_INPUTS, P##_NUM_OUTPUTS, P##_ARENA_BYTES, p##_input_bytes,             \
     p##_output_bytes, p##_input,   p##_output,     p##_invoke,      p##_reset},
static const model_entry_t models[MODEL_COUNT] = {MODEL_LIST(MODEL_ENTRY)};
/* The model WRITE_INPUT and READ_OUTPUT address: the one the last HELLO, INVOKE or RESET named (0 at start). */
static uint32_t selected;

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

#if MODEL_STREAMED_INPUTS > 0
/* State of the input stream of the running INVOKE (see model_read_input() below). */
static uint8_t stream_seq;   /* the running INVOKE's seq: requests carry it, answers must too */
static int stream_failed;    /* once set, the rest of the inference reads zeros without asking */
static uint64_t model_ticks; /* model time before the current model_read_input() (the timer restarts there) */
static uint64_t input_ticks; /* time inside model_read_input(), i.e. waiting for the host */
static int invoke_consumed;  /* process_rx() must not consume the INVOKE frame a second time */
#endif

#ifdef MODEL_PROFILE
#if MODEL_NUM_CALLS < 1
#error "profiling needs at least one kernel call"
#endif
/* Timer reading after each kernel call of the last INVOKE (ticks since its start; 32 bits is over an hour
 * of instructions/40). Only a profiled build pays for this array and the handler below. */
static uint32_t profile_ticks[MODEL_NUM_CALLS];
static int profile_valid;

void model_profile_point(uint32_t k) {
#if MODEL_STREAMED_INPUTS > 0
    profile_ticks[k] = (uint32_t)(model_ticks + board_timer_read()); /* the timer restarts after input waits */
#else
    profile_ticks[k] = (uint32_t)board_timer_read();
#endif
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

#if MODEL_STREAMED_INPUTS > 0
/* Streamed inputs: model_invoke() asks for their bytes through model_read_input(), and each piece becomes an
 * INPUT_REQUEST to the host answered by INPUT_DATA (PROTOCOL.md). The answers arrive through the same rx
 * buffer, so handle_invoke() takes its INVOKE frame out of it first. */
#define RESULT_BYTES 21u
#define STREAM_CHUNK_MAX (PROTO_MAX_PAYLOAD - 5u) /* INPUT_DATA payload: index u8, offset u32, bytes */
/* A request is sent again when nothing arrived for this long since it was sent or since the last byte (so a
 * 1 KB answer at 115200 baud, ~90 ms, is never cut short). Under QEMU virtual ms: ~3 s real. */
#ifndef STREAM_TIMEOUT_MS
#define STREAM_TIMEOUT_MS 100u
#endif
#define STREAM_ATTEMPTS 4u /* requests per piece before the stream is declared failed */

static void stream_begin(const proto_frame_t *f) {
    stream_seq = f->seq;
    proto_rx_consume_frame(&rx, f);
    invoke_consumed = 1;
    stream_failed = 0;
    model_ticks = 0u;
    input_ticks = 0u;
}

/* Scan rx for the INPUT_DATA that answers the outstanding request; copy its bytes and return 1. Any other
 * frame (a stale answer, a retransmitted INVOKE, a new request) and any broken one is dropped silently: the
 * host is waiting for RESULT, and an ERROR with the INVOKE's seq would make it resend the INVOKE. */
static int stream_scan(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst) {
    proto_frame_t f;
    for (;;) {
        proto_rx_status_t status = proto_rx_scan(&rx, &f);
        if (status == PROTO_RX_MORE) return 0;
        if (status != PROTO_RX_FRAME) {
            proto_rx_skip(&rx);
            continue;
        }
        int match = f.type == PROTO_INPUT_DATA && f.seq == stream_seq && f.length == 5u + n &&
                    f.payload[0] == index && proto_get_u32(f.payload + 1) == offset;
        if (match) memcpy(dst, f.payload + 5, n);
        proto_rx_consume_frame(&rx, &f);
        if (match) return 1;
    }
}

/* Bytes [offset, offset + n) of input `index`, n <= STREAM_CHUNK_MAX, from the host; 0 if it never answered. */
static int stream_fetch(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst) {
    const uint64_t timeout = (uint64_t)STREAM_TIMEOUT_MS * board_ticks_per_ms;
    uint8_t *p = oob + PROTO_HEADER_BYTES;
    for (uint32_t attempt = 0; attempt < STREAM_ATTEMPTS; attempt++) {
        p[0] = (uint8_t)index;
        proto_put_u32(p + 1, offset);
        proto_put_u16(p + 5, (uint16_t)n);
        send(oob, proto_build_frame(oob, PROTO_INPUT_REQUEST, stream_seq, p, 7u));
        /* Nothing received before this request can be its answer; a half frame left over (garbage, a cut
         * answer) would otherwise swallow the bytes of the real one. */
        proto_rx_init(&rx);
        uint64_t quiet_since = 0;
        int quiet = 0; /* quiet_since is valid: no byte arrived since it was taken */
        for (;;) {
            int32_t c = board_uart_getc();
            if (c >= 0) {
                proto_rx_push(&rx, (uint8_t)c);
                if (stream_scan(index, offset, n, dst)) return 1;
                quiet = 0; /* as in main(): no timer read per received byte */
            } else if (!quiet) {
                quiet_since = board_timer_read();
                quiet = 1;
            } else if (board_timer_read() - quiet_since > timeout) {
                break;
            }
        }
    }
    return 0;
}

/* Called by model_invoke() (model.h). The timer is stopped around the wait and restarted at 0 afterwards, so
 * RESULT's elapsed ticks count the model alone, with the same phase run after run whatever the host's
 * latency. */
void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst) {
    model_ticks += board_timer_read();
    board_timer_start();
    /* Bytes outside a streamed input are a generator bug: fail the stream rather than ask the host for them. */
    if (index >= (uint32_t)MODEL_NUM_INPUTS || !model_input_streamed[index] || offset > model_input_bytes[index] ||
        n > model_input_bytes[index] - offset)
        stream_failed = 1;
    while (n != 0u) {
        uint32_t part = n < STREAM_CHUNK_MAX ? n : STREAM_CHUNK_MAX;
        if (stream_failed || !stream_fetch(index, offset, part, dst)) {
            stream_failed = 1;
            memset(dst, 0, n);
            break;
        }
        dst += part;
        offset += part;
        n -= part;
    }
    input_ticks += board_timer_read();
    board_timer_start();
}

static uint32_t reply_streamed(uint8_t seq, uint32_t index) {
    char message[24] = "input ";
    uint32_t at = 6u;
    if (index >= 100u) message[at++] = (char)('0' + index / 100u);
    if (index >= 10u) message[at++] = (char)('0' + (index / 10u) % 10u);
    message[at++] = (char)('0' + index % 10u);
    memcpy(message + at, " is streamed", 13u);
    return build_error(tx, seq, PROTO_ERR_BAD_INDEX, message);
}
#else
#define RESULT_BYTES 13u
#endif

/* Each handler writes its reply payload at tx + PROTO_HEADER_BYTES and returns the reply frame's size. */

static uint32_t reply_error(uint8_t seq, uint8_t code, const char *message) {
    return build_error(tx, seq, code, message);
}

/* HELLO, INVOKE and RESET take an optional model index u8 (none: model 0) and select that model. Returns 0 and
 * writes the error reply's size to *reply when the payload is not such an index. */
static int select_model(const proto_frame_t *f, const char *refusal, uint32_t *reply) {
    if (f->length > 1u) {
        *reply = reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, refusal);
        return 0;
    }
    uint32_t index = f->length == 1u ? f->payload[0] : 0u;
    if (index >= (uint32_t)MODEL_COUNT) {
        *reply = reply_error(f->seq, PROTO_ERR_BAD_INDEX, "no such model");
        return 0;
    }
    if (index != selected) outputs_valid = 0; /* the models share the arena: the other one's outputs are gone */
    selected = index;
    return 1;
}

static uint32_t handle_hello(const proto_frame_t *f) {
    uint32_t reply;
    if (!select_model(f, "HELLO takes a model index or nothing", &reply)) return reply;
    const model_entry_t *m = &models[selected];
    uint8_t *p = tx + PROTO_HEADER_BYTES;
    uint32_t n = 0;
    p[n++] = (uint8_t)PROTO_VERSION;
    proto_put_u16(p + n, (uint16_t)PROTO_MAX_PAYLOAD);
    n += 2u;
    p[n++] = (uint8_t)m->num_inputs;
    p[n++] = (uint8_t)m->num_outputs;
    proto_put_u32(p + n, m->arena_bytes);
    n += 4u;
    proto_put_u32(p + n, stack_reserved());
    n += 4u;
    memcpy(p + n, m->hash, 8u);
    n += 8u;
    for (uint32_t i = 0; i < m->num_inputs; i++, n += 4u) proto_put_u32(p + n, m->input_bytes[i]);
    for (uint32_t i = 0; i < m->num_outputs; i++, n += 4u) proto_put_u32(p + n, m->output_bytes[i]);
    n = put_string(p, n, FIRMWARE_VERSION);
    n = put_string(p, n, board_name);
    n = put_string(p, n, m->name);
    n = put_string(p, n, board_tick_unit);
#if MODEL_STREAMED_INPUTS > 0
    for (uint32_t i = 0; i < (uint32_t)MODEL_NUM_INPUTS; i++) p[n++] = model_input_streamed[i] ? 1u : 0u;
#endif
#if MODEL_COUNT > 1
    for (uint32_t i = 0; i < m->num_inputs; i++) p[n++] = 0u; /* nothing is streamed */
    p[n++] = (uint8_t)selected;
    p[n++] = (uint8_t)MODEL_COUNT;
#endif
    return proto_build_frame(tx, PROTO_INFO, f->seq, p, (uint16_t)n);
}

static uint32_t handle_reset(const proto_frame_t *f) {
    uint32_t reply;
    if (!select_model(f, "RESET takes a model index or nothing", &reply)) return reply;
    models[selected].reset();
    return proto_build_frame(tx, PROTO_ACK, f->seq, 0, 0);
}

static uint32_t handle_write_input(const proto_frame_t *f) {
    if (f->length < 5u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "WRITE_INPUT needs index and offset");
    uint32_t index = f->payload[0];
    uint32_t offset = proto_get_u32(f->payload + 1);
    uint32_t n = (uint32_t)f->length - 5u;
    const model_entry_t *m = &models[selected];
    if (index >= m->num_inputs) return reply_error(f->seq, PROTO_ERR_BAD_INDEX, "no such input");
#if MODEL_STREAMED_INPUTS > 0
    if (model_input_streamed[index]) return reply_streamed(f->seq, index);  /* model_input() is NULL for it */
#endif
    uint32_t size = m->input_bytes[index];
    if (offset > size || n > size - offset)
        return reply_error(f->seq, PROTO_ERR_OUT_OF_RANGE, "write past the end of the input");
    memcpy(m->input(index) + offset, f->payload + 5, n);
    outputs_valid = 0;
    return proto_build_frame(tx, PROTO_ACK, f->seq, 0, 0);
}

static uint32_t handle_invoke(const proto_frame_t *f) {
    uint32_t reply;
    uint32_t was = selected;
    if (!select_model(f, "INVOKE takes a model index or nothing", &reply)) return reply;
    /* The models share the arena: only the model whose inputs were written last may run. */
    if (selected != was) {
        selected = was;
        return reply_error(f->seq, PROTO_ERR_NOT_READY, "HELLO this model before writing its inputs");
    }
#if MODEL_STREAMED_INPUTS > 0
    stream_begin(f);
#endif
    stack_paint();
    board_timer_start();
    models[selected].invoke();
    uint64_t ticks = board_timer_read();
    uint32_t high_water = stack_high_water();
    outputs_valid = 1;
#ifdef MODEL_PROFILE
    profile_valid = 1;
#endif
    uint8_t *p = tx + PROTO_HEADER_BYTES;
    p[0] = (uint8_t)(stack_overflowed() ? PROTO_STATUS_STACK_OVERFLOW : PROTO_STATUS_OK);
#if MODEL_STREAMED_INPUTS > 0
    ticks += model_ticks;
    if (p[0] == PROTO_STATUS_OK && stream_failed) p[0] = (uint8_t)PROTO_STATUS_INPUT_STREAM_FAILED;
    proto_put_u64(p + 13, input_ticks);
#endif
    proto_put_u64(p + 1, ticks);
    proto_put_u32(p + 9, high_water);
    return proto_build_frame(tx, PROTO_RESULT, f->seq, p, (uint16_t)RESULT_BYTES);
}

static uint32_t handle_read_output(const proto_frame_t *f) {
    if (f->length != 7u) return reply_error(f->seq, PROTO_ERR_BAD_PAYLOAD, "READ_OUTPUT needs 7 bytes");
    uint32_t index = f->payload[0];
    uint32_t offset = proto_get_u32(f->payload + 1);
    uint32_t n = proto_get_u16(f->payload + 5);
    const model_entry_t *m = &models[selected];
    if (index >= m->num_outputs) return reply_error(f->seq, PROTO_ERR_BAD_INDEX, "no such output");
    uint32_t size = m->output_bytes[index];
    if (n > PROTO_MAX_PAYLOAD || offset > size || n > size - offset)
        return reply_error(f->seq, PROTO_ERR_OUT_OF_RANGE, "read past the end of the output");
    if (!outputs_valid) return reply_error(f->seq, PROTO_ERR_NOT_READY, "no INVOKE since the inputs changed");
    return proto_build_frame(tx, PROTO_DATA, f->seq, m->output(index) + offset, (uint16_t)n);
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
#if MODEL_STREAMED_INPUTS > 0
        case PROTO_INPUT_DATA: return;  /* a late answer to a finished stream: no reply, keep the last one */
#endif
        case PROTO_HELLO: tx_len = handle_hello(f); break;
        case PROTO_WRITE_INPUT: tx_len = handle_write_input(f); break;
        case PROTO_INVOKE: tx_len = handle_invoke(f); break;
        case PROTO_READ_OUTPUT: tx_len = handle_read_output(f); break;
        case PROTO_RESET: tx_len = handle_reset(f); break;
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
#if MODEL_STREAMED_INPUTS > 0
            if (invoke_consumed) {  /* handle_invoke() already took the frame out of rx */
                invoke_consumed = 0;
                continue;
            }
#endif
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
