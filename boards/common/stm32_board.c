/* The board API (firmware/board.h) for every STM32 layer, except what depends on the part and the board:
 * the clock tree, the console pins and which U(S)ART they belong to (each layer's board.c: board_init,
 * board_name, board_ticks_per_ms).
 * Console: one polled U(S)ART, 8N1. Timing: the DWT cycle counter, extended to 64 bits; SysTick interrupts
 * every 2^24 cycles only to sample it, so no 32-bit wrap (every 10.7 s at 400 MHz) is ever missed. */
#include "board.h"
#include "cortex_m.h"
#include "stm32.h"

const char board_tick_unit[] = "cycles";

static uint32_t console_base;

/* Upper 32 bits of the cycle count and the last CYCCNT seen, to detect its wraps. */
static volatile uint32_t cycles_high;
static volatile uint32_t cycles_last;

void stm32_pin_alternate(uint32_t port, uint32_t pin, uint32_t af, int pull_up) {
    const uint32_t two_bits = 3u << (2u * pin);
    GPIO_MODER(port) = (GPIO_MODER(port) & ~two_bits) | (2u << (2u * pin));      /* alternate function */
    GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~two_bits) | (2u << (2u * pin));  /* high speed */
    GPIO_PUPDR(port) = (GPIO_PUPDR(port) & ~two_bits) | ((pull_up ? 1u : 0u) << (2u * pin));
    const uint32_t shift = 4u * (pin & 7u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift)) | (af << shift);
}

void stm32_console_init(uint32_t base, uint32_t brr) {
    console_base = base;
    UART_CR1(base) = 0u;  /* disabled while configuring: 8 data bits, no parity, 16x oversampling */
    UART_CR2(base) = 0u;  /* 1 stop bit */
    UART_CR3(base) = 0u;  /* no flow control, FIFO (H7, L4+) off */
    UART_BRR(base) = brr;
    UART_CR1(base) = UART_CR1_TE | UART_CR1_RE | UART_CR1_UE;
}

int stm32_wait(volatile uint32_t *reg, uint32_t mask, uint32_t value, uint32_t spins) {
    for (uint32_t i = 0u; i < spins; i++) {
        if ((*reg & mask) == value) return 1;
    }
    return (*reg & mask) == value;
}

/* Call with interrupts masked (or from the SysTick handler). */
static uint64_t cycles_sample(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < cycles_last) cycles_high++;
    cycles_last = now;
    return ((uint64_t)cycles_high << 32) | now;
}

void SysTick_Handler(void) { (void)cycles_sample(); }

void stm32_timer_init(void) {
    SCB_DEMCR |= SCB_DEMCR_TRCENA;
    DWT_LAR = DWT_LAR_KEY;  /* needed on the Cortex-M7, ignored where there is no lock */
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    SYST_RVR = SYST_MAX_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CORE;
    board_timer_start();
}

void board_uart_putc(uint8_t c) {
    while (!(UART_ISR(console_base) & UART_ISR_TXE)) {
    }
    UART_TDR(console_base) = c;
}

int32_t board_uart_getc(void) {
    uint32_t isr = UART_ISR(console_base);
    /* An overrun (bytes sent while the model ran) would stop reception until cleared; the protocol's
     * CRC and resynchronisation take care of the lost bytes. */
    if (isr & UART_ISR_ERRORS) UART_ICR(console_base) = UART_ICR_ERRORS;
    if (!(isr & UART_ISR_RXNE)) return -1;
    return (int32_t)(UART_RDR(console_base) & 0xFFu);
}

void board_timer_start(void) {
    uint32_t primask = cm_irq_save();
    SYST_CVR = 0u;  /* same SysTick phase every run */
    SCB_ICSR = SCB_ICSR_PENDSTCLR;
    DWT_CYCCNT = 0u;
    cycles_high = 0u;
    cycles_last = 0u;
    cm_irq_restore(primask);
}

uint64_t board_timer_read(void) {
    uint32_t primask = cm_irq_save();
    uint64_t cycles = cycles_sample();
    cm_irq_restore(primask);
    return cycles;
}

void board_halt(uint32_t code) {
    (void)code;  /* nobody to report it to: stay put for a debugger */
    cm_irq_disable();
    for (;;) {
    }
}
