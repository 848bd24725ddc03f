/* Stack painting and high-water measurement (see stack.h). Cortex-M: the stack grows down. */
#include "stack.h"

#include <stdint.h>

/* Linker-script symbols; only their addresses are meaningful. */
extern uint32_t __stack_start[];
extern uint32_t __stack_top[];

/* Words just below the current stack pointer left unpainted: room for an interrupt frame taken while
 * painting, which would otherwise be counted as usage. */
#define PAINT_MARGIN_WORDS 32u

void stack_paint(void) {
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    uintptr_t limit = sp - 4u * PAINT_MARGIN_WORDS;
    for (volatile uint32_t *p = __stack_start; (uintptr_t)p < limit; p++) *p = STACK_PAINT_WORD;
}

uint32_t stack_high_water(void) {
    const volatile uint32_t *p = __stack_start;
    while ((uintptr_t)p < (uintptr_t)__stack_top && *p == STACK_PAINT_WORD) p++;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t stack_reserved(void) { return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_start); }

int stack_overflowed(void) { return *(const volatile uint32_t *)__stack_start != STACK_PAINT_WORD; }
