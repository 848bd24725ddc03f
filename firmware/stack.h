/* Stack high-water measurement: paint the free stack with a pattern, run, find the deepest overwritten word.
 * The stack is the linker-reserved region [__stack_start, __stack_top) (boards/common/sections.ld). */
#ifndef FIRMWARE_STACK_H
#define FIRMWARE_STACK_H

#include <stdint.h>

#define STACK_PAINT_WORD 0xC5AC5AC5u

/* Fill the stack below the caller's frame with STACK_PAINT_WORD. */
void stack_paint(void);
/* Bytes from the stack top down to the deepest word that no longer holds the pattern. */
uint32_t stack_high_water(void);
/* Size of the reserved stack region in bytes. */
uint32_t stack_reserved(void);
/* Non-zero when the bottom word was overwritten, i.e. the stack (probably) overflowed its region. */
int stack_overflowed(void);

#endif
