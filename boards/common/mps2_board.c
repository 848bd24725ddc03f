/* The board API (firmware/board.h) of every emulated twin: the QEMU Arm MPS2 FPGA images (mps2-an500 with a
 * Cortex-M7, mps2-an386 with a Cortex-M4), both with a 25 MHz core clock and a CMSDK UART0 at 0x40004000.
 * A twin layer's board.c only names itself (board_name); its board.ld gives it its real board's memory.
 * Run with -icount shift=0: one instruction is 1 ns of virtual time, so a SysTick tick on the 25 MHz core
 * clock is exactly 40 instructions, run after run. (QEMU's DWT cycle counter always reads 0.) */
#include "board.h"
#include "cortex_m.h"

const char board_tick_unit[] = "instructions/40";
const uint32_t board_ticks_per_ms = 25000u;

#define SYSCLK_HZ 25000000u
#define CONSOLE_BAUD 115200u

/* CMSDK APB UART0. */
#define UART0_BASE 0x40004000u
#define UART_DATA CM_REG(UART0_BASE + 0x00u)
#define UART_STATE CM_REG(UART0_BASE + 0x04u)
#define UART_CTRL CM_REG(UART0_BASE + 0x08u)
#define UART_BAUDDIV CM_REG(UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL (1u << 0)
#define UART_STATE_RX_FULL (1u << 1)
#define UART_CTRL_TX_EN (1u << 0)
#define UART_CTRL_RX_EN (1u << 1)

#define SYSTICK_PERIOD ((uint64_t)SYST_MAX_RELOAD + 1u)

/* SysTick transitions to 0 since board_timer_start(); SysTick reloads with SYST_MAX_RELOAD. */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void board_init(void) {
    UART_BAUDDIV = SYSCLK_HZ / CONSOLE_BAUD;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
    board_timer_start();
}

void board_uart_putc(uint8_t c) {
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = c;
}

int32_t board_uart_getc(void) {
    if (!(UART_STATE & UART_STATE_RX_FULL)) return -1;
    return (int32_t)(UART_DATA & 0xFFu);
}

void board_timer_start(void) {
    uint32_t primask = cm_irq_save();
    SYST_CSR = 0u;
    SYST_RVR = SYST_MAX_RELOAD;
    SYST_CVR = 0u;                   /* any write clears the counter (and COUNTFLAG) */
    SCB_ICSR = SCB_ICSR_PENDSTCLR;   /* forget a wrap from before the restart */
    systick_wraps = 0u;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CORE;
    cm_irq_restore(primask);
}

uint64_t board_timer_read(void) {
    uint32_t primask = cm_irq_save();
    uint32_t pending, value;
    /* With interrupts masked a wrap shows up as a pending SysTick; retry if it happened between reads. */
    do {
        pending = SCB_ICSR & SCB_ICSR_PENDSTSET;
        value = SYST_CVR;
    } while (pending != (SCB_ICSR & SCB_ICSR_PENDSTSET));
    uint64_t wraps = (uint64_t)systick_wraps + (pending ? 1u : 0u);
    cm_irq_restore(primask);
    /* The counter reads 0 right after a restart and for the one tick after each wrap, before the reload. */
    if (value == 0u) return wraps * SYSTICK_PERIOD;
    return wraps * SYSTICK_PERIOD + (SYSTICK_PERIOD - value);
}

void board_halt(uint32_t code) {
    /* Semihosting SYS_EXIT: QEMU (-semihosting-config enable=on) exits with status 0 for
     * ADP_Stopped_ApplicationExit and 1 for anything else. */
    register uint32_t r0 __asm__("r0") = 0x18u;
    register uint32_t r1 __asm__("r1") = code == 0u ? 0x20026u : 0x20023u;
    __asm__ volatile("bkpt 0xab" ::"r"(r0), "r"(r1) : "memory");
    cm_irq_disable();
    for (;;) {
    }
}
