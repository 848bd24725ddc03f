"""The device link: `protocol` (framing of the firmware protocol, see firmware/PROTOCOL.md),
`device_link` (requests over a pyserial port, retries, streamed input) and `emulator` (QEMU twins on a TCP
serial port). May import: `codegen.errors` only.
"""
