/* Framing, CRC-32 and the resynchronising frame parser of the device side (see PROTOCOL.md). */
#include "protocol.h"

#include <string.h>

/* zlib's CRC-32 (reflected polynomial 0xEDB88320), four bits at a time: a 64-byte table instead of 1 KB. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t proto_crc32_update(uint32_t crc, const uint8_t *data, uint32_t n) {
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

uint32_t proto_crc32(const uint8_t *data, uint32_t n) { return proto_crc32_update(0u, data, n); }

void proto_put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void proto_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void proto_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t proto_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | ((uint16_t)p[1] << 8)); }

uint32_t proto_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void proto_rx_init(proto_rx_t *rx) { rx->len = 0; }

static void rx_drop(proto_rx_t *rx, uint32_t n) {
    if (n >= rx->len) {
        rx->len = 0;
        return;
    }
    memmove(rx->buf, rx->buf + n, rx->len - n);
    rx->len -= n;
}

void proto_rx_push(proto_rx_t *rx, uint8_t byte) {
    /* Cannot happen while the caller scans after every byte (a valid header bounds the frame), but never
     * write past the buffer. */
    if (rx->len >= PROTO_FRAME_MAX) rx_drop(rx, 1);
    rx->buf[rx->len++] = byte;
}

void proto_rx_skip(proto_rx_t *rx) { rx_drop(rx, 1); }

void proto_rx_consume_frame(proto_rx_t *rx, const proto_frame_t *frame) {
    rx_drop(rx, PROTO_HEADER_BYTES + (uint32_t)frame->length + PROTO_CRC_BYTES);
}

proto_rx_status_t proto_rx_scan(proto_rx_t *rx, proto_frame_t *frame) {
    /* Hunt: discard bytes until one that can start a frame, 0xA5 followed by 0x5A (or by nothing yet). */
    uint32_t start = 0;
    while (start < rx->len) {
        if (rx->buf[start] == PROTO_SYNC0 && (start + 1 >= rx->len || rx->buf[start + 1] == PROTO_SYNC1)) break;
        start++;
    }
    rx_drop(rx, start);
    if (rx->len < PROTO_HEADER_BYTES) return PROTO_RX_MORE;

    frame->type = rx->buf[2];
    frame->seq = rx->buf[3];
    frame->length = proto_get_u16(rx->buf + 4);
    frame->payload = rx->buf + PROTO_HEADER_BYTES;
    frame->crc = 0;
    if (frame->length > PROTO_MAX_PAYLOAD) return PROTO_RX_BAD_LENGTH;
    uint32_t total = PROTO_HEADER_BYTES + (uint32_t)frame->length + PROTO_CRC_BYTES;
    if (rx->len < total) return PROTO_RX_MORE;

    frame->crc = proto_crc32(rx->buf + 2, 4u + frame->length);
    uint32_t sent = proto_get_u32(rx->buf + PROTO_HEADER_BYTES + frame->length);
    return frame->crc == sent ? PROTO_RX_FRAME : PROTO_RX_BAD_CRC;
}

uint32_t proto_build_frame(uint8_t *out, uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t length) {
    out[0] = PROTO_SYNC0;
    out[1] = PROTO_SYNC1;
    out[2] = type;
    out[3] = seq;
    proto_put_u16(out + 4, length);
    if (length != 0u && payload != out + PROTO_HEADER_BYTES) memmove(out + PROTO_HEADER_BYTES, payload, length);
    proto_put_u32(out + PROTO_HEADER_BYTES + length, proto_crc32(out + 2, 4u + length));
    return PROTO_HEADER_BYTES + (uint32_t)length + PROTO_CRC_BYTES;
}
