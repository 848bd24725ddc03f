/* Cortex-M startup shared by every board: vector table, Reset_Handler (FPU on, .data copied, .bss zeroed,
 * then main), and a default handler that reports unexpected exceptions through firmware_fault(). */
#include <stdint.h>

#include "board.h"
#include "cortex_m.h"

/* Linker-script symbols (boards/common/sections.ld). */
extern uint32_t __stack_top[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);

/* Only the core exceptions: the firmware polls its peripherals, so no external interrupt is ever enabled. */
__attribute__((section(".isr_vector"), used)) const vector_t vector_table[16] = {
    (vector_t)(uintptr_t)__stack_top,  /* initial main stack pointer */
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

/* Separate and not inlined so that no floating-point instruction can be scheduled before CPACR is set. */
__attribute__((noinline)) static void fpu_enable(void) {
    SCB_CPACR |= 0xFu << 20;  /* CP10 and CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

__attribute__((noinline)) static void memory_init(void) {
    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end;) *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end;) *dst++ = 0u;
}

void Reset_Handler(void) {
    fpu_enable();
    /* Boot may run through an alias of flash (e.g. 0x00200000 on STM32F7): point VTOR at the real table. */
    SCB_VTOR = (uint32_t)(uintptr_t)vector_table;
    memory_init();
    (void)main();
    board_halt(0u);
}

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    firmware_fault(ipsr & 0x1FFu);
}
