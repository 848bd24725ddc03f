/* Framed UART protocol between the host (tools/device_link.py) and the firmware; see PROTOCOL.md.
 *
 * frame = 0xA5 0x5A | type u8 | seq u8 | length u16 LE | payload[length] | CRC-32 LE over type..payload.
 * Every constant here has the same name and value in tools/protocol.py (a test compares them).
 */
#ifndef FIRMWARE_PROTOCOL_H
#define FIRMWARE_PROTOCOL_H

#include <stdint.h>

#define PROTO_VERSION 1u
#define PROTO_SYNC0 0xA5u
#define PROTO_SYNC1 0x5Au
#define PROTO_HEADER_BYTES 6u  /* sync, sync, type, seq, length (2) */
#define PROTO_CRC_BYTES 4u
#define PROTO_MAX_PAYLOAD 1024u
#define PROTO_FRAME_MAX (PROTO_HEADER_BYTES + PROTO_MAX_PAYLOAD + PROTO_CRC_BYTES)

/* Host -> device requests. */
#define PROTO_HELLO 0x01u
#define PROTO_WRITE_INPUT 0x02u  /* index u8, offset u32, bytes */
#define PROTO_INVOKE 0x03u
#define PROTO_READ_OUTPUT 0x04u  /* index u8, offset u32, length u16 */
#define PROTO_READ_PROFILE 0x05u /* first point u32, count u16; only firmware built with MODEL_PROFILE */
#define PROTO_INPUT_DATA 0x06u   /* index u8, offset u32, bytes: the answer to an INPUT_REQUEST, no reply */
#define PROTO_RESET 0x07u        /* [model index u8]: zero the model's variable tensors (model_reset()) */

/* Device -> host replies; they echo the request's seq. */
#define PROTO_INFO 0x81u
#define PROTO_ACK 0x82u
#define PROTO_RESULT 0x83u  /* status u8, elapsed ticks u64, stack high-water bytes u32[, input ticks u64] */
#define PROTO_DATA 0x84u
#define PROTO_INPUT_REQUEST 0x85u  /* index u8, offset u32, length u16; sent during an INVOKE, with its seq */
#define PROTO_ERROR 0xEEu   /* code u8, ASCII message */

/* ERROR codes. The first three concern the frame itself: the host resends the same request at once. */
#define PROTO_ERR_BAD_CRC 1u
#define PROTO_ERR_BAD_LENGTH 2u
#define PROTO_ERR_TIMEOUT 3u      /* a frame started but stopped arriving */
#define PROTO_ERR_UNKNOWN_TYPE 4u
#define PROTO_ERR_BAD_PAYLOAD 5u  /* payload size wrong for the request type */
#define PROTO_ERR_BAD_INDEX 6u
#define PROTO_ERR_OUT_OF_RANGE 7u
#define PROTO_ERR_NOT_READY 8u    /* READ_OUTPUT before INVOKE, or after new inputs */
#define PROTO_ERR_FAULT 9u        /* the CPU took an unexpected exception; the device halts */

/* RESULT status. */
#define PROTO_STATUS_OK 0u
#define PROTO_STATUS_STACK_OVERFLOW 1u  /* the stack's bottom word was overwritten */
#define PROTO_STATUS_INPUT_STREAM_FAILED 2u  /* an INPUT_REQUEST went unanswered: the model read zeros */

/* Receive buffer: bytes of at most one candidate frame, starting at a sync byte once scanned. */
typedef struct {
    uint8_t buf[PROTO_FRAME_MAX];
    uint32_t len;
} proto_rx_t;

/* A frame found in the receive buffer; payload points into proto_rx_t.buf. */
typedef struct {
    uint8_t type;
    uint8_t seq;
    uint16_t length;
    const uint8_t *payload;
    uint32_t crc;
} proto_frame_t;

typedef enum {
    PROTO_RX_MORE = 0,   /* no complete frame yet */
    PROTO_RX_FRAME,      /* a valid frame starts at buf[0]; handle it, then proto_rx_consume_frame() */
    PROTO_RX_BAD_LENGTH, /* header at buf[0] declares too long a payload; type/seq filled; proto_rx_skip() */
    PROTO_RX_BAD_CRC     /* complete frame at buf[0] fails its CRC; type/seq filled; proto_rx_skip() */
} proto_rx_status_t;

uint32_t proto_crc32_update(uint32_t crc, const uint8_t *data, uint32_t n);
uint32_t proto_crc32(const uint8_t *data, uint32_t n);

void proto_rx_init(proto_rx_t *rx);
void proto_rx_push(proto_rx_t *rx, uint8_t byte);
proto_rx_status_t proto_rx_scan(proto_rx_t *rx, proto_frame_t *frame);
/* Drop the first byte (a failed frame start) so that scanning hunts for the next sync. */
void proto_rx_skip(proto_rx_t *rx);
void proto_rx_consume_frame(proto_rx_t *rx, const proto_frame_t *frame);

/* Build a frame into out (capacity PROTO_FRAME_MAX, payload length <= PROTO_MAX_PAYLOAD); returns its size.
 * The payload may already sit at out + PROTO_HEADER_BYTES (then it is not copied). */
uint32_t proto_build_frame(uint8_t *out, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t length);

void proto_put_u16(uint8_t *p, uint16_t v);
void proto_put_u32(uint8_t *p, uint32_t v);
void proto_put_u64(uint8_t *p, uint64_t v);
uint16_t proto_get_u16(const uint8_t *p);
uint32_t proto_get_u32(const uint8_t *p);

#endif
