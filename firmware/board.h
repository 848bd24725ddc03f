/* The board-layer API: everything the shared firmware needs from a board (boards/<name>/board.c).
 * Implementations are register-level, polled, and use no heap. */
#ifndef FIRMWARE_BOARD_H
#define FIRMWARE_BOARD_H

#include <stdint.h>

/* Identity reported in the INFO reply. */
extern const char board_name[];
/* What one timer tick is, e.g. "cycles" on hardware or "instructions/40" under QEMU -icount shift=0. */
extern const char board_tick_unit[];
/* Nominal ticks per millisecond; only used for the receive timeout of a half-received frame. */
extern const uint32_t board_ticks_per_ms;

/* Clocks, console UART (115200 8N1 on hardware) and the tick timer. Called first thing in main(). */
void board_init(void);

/* Blocking write of one byte to the console UART. */
void board_uart_putc(uint8_t c);
/* One received byte (0..255), or -1 when none is waiting. Never blocks. */
int32_t board_uart_getc(void);

/* Restart the tick counter at 0 (same phase every time, so that timings are reproducible). */
void board_timer_start(void);
/* Ticks since the last board_timer_start(); 64 bits, wraps of the hardware counter are accounted for. */
uint64_t board_timer_read(void);

/* Stop for good: semihosting exit in the emulator, a spin loop with interrupts off on hardware. */
void board_halt(uint32_t code) __attribute__((noreturn));

/* Implemented by the firmware, called by the startup code on any unexpected exception (IPSR number). */
void firmware_fault(uint32_t exception) __attribute__((noreturn));

#endif
