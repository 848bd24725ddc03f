/* Board layer of the NUCLEO-F746ZG (STM32F746ZG, Cortex-M7). Register addresses from RM0385.
 * Clock: the reset default, HSI 16 MHz, no PLL; AHB and APB1 undivided, flash at 0 wait states, caches off.
 * Console: USART3 on PD8 (TX) / PD9 (RX), wired to the ST-LINK virtual COM port, 115200 8N1, polled.
 * Timing: the DWT cycle counter, extended to 64 bits; SysTick interrupts every 2^24 cycles only to sample it,
 * so no 32-bit wrap (every 268 s at 16 MHz) is missed. */
#include "board.h"
#include "cortex_m.h"

const char board_name[] = "nucleo-f746";
const char board_tick_unit[] = "cycles";
const uint32_t board_ticks_per_ms = 16000u;

#define PCLK1_HZ 16000000u
#define CONSOLE_BAUD 115200u

/* Reset and clock control. */
#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR CM_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR CM_REG(RCC_BASE + 0x40u)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_APB1ENR_USART3EN (1u << 18)

/* GPIO port D. */
#define GPIOD_BASE 0x40020C00u
#define GPIOD_MODER CM_REG(GPIOD_BASE + 0x00u)
#define GPIOD_OSPEEDR CM_REG(GPIOD_BASE + 0x08u)
#define GPIOD_PUPDR CM_REG(GPIOD_BASE + 0x0Cu)
#define GPIOD_AFRH CM_REG(GPIOD_BASE + 0x24u)
#define PIN_TX 8u
#define PIN_RX 9u
#define AF7_USART3 7u

/* USART3 (the F7 register layout: separate ISR/ICR/RDR/TDR). */
#define USART3_BASE 0x40004800u
#define USART_CR1 CM_REG(USART3_BASE + 0x00u)
#define USART_CR2 CM_REG(USART3_BASE + 0x04u)
#define USART_CR3 CM_REG(USART3_BASE + 0x08u)
#define USART_BRR CM_REG(USART3_BASE + 0x0Cu)
#define USART_ISR CM_REG(USART3_BASE + 0x1Cu)
#define USART_ICR CM_REG(USART3_BASE + 0x20u)
#define USART_RDR CM_REG(USART3_BASE + 0x24u)
#define USART_TDR CM_REG(USART3_BASE + 0x28u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_ERRORS 0x0Fu  /* PE, FE, NF, ORE */
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART_ICR_ERRORS 0x0Fu  /* PECF, FECF, NCF, ORECF */

/* Upper 32 bits of the cycle count and the last CYCCNT seen, to detect its wraps. */
static volatile uint32_t cycles_high;
static volatile uint32_t cycles_last;

/* Call with interrupts masked (or from the SysTick handler). */
static uint64_t cycles_sample(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < cycles_last) cycles_high++;
    cycles_last = now;
    return ((uint64_t)cycles_high << 32) | now;
}

void SysTick_Handler(void) { (void)cycles_sample(); }

static void console_init(void) {
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIODEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART3EN;
    (void)RCC_APB1ENR;  /* read back: the clock must be running before the peripheral is touched */

    const uint32_t two_bits = (3u << (2u * PIN_TX)) | (3u << (2u * PIN_RX));
    GPIOD_MODER = (GPIOD_MODER & ~two_bits) | (2u << (2u * PIN_TX)) | (2u << (2u * PIN_RX));  /* alternate */
    GPIOD_OSPEEDR = (GPIOD_OSPEEDR & ~two_bits) | (2u << (2u * PIN_TX)) | (2u << (2u * PIN_RX)); /* high */
    GPIOD_PUPDR = (GPIOD_PUPDR & ~two_bits) | (1u << (2u * PIN_RX));  /* pull-up: idle line when unplugged */
    const uint32_t af_mask = (0xFu << (4u * (PIN_TX - 8u))) | (0xFu << (4u * (PIN_RX - 8u)));
    GPIOD_AFRH = (GPIOD_AFRH & ~af_mask) | (AF7_USART3 << (4u * (PIN_TX - 8u))) | (AF7_USART3 << (4u * (PIN_RX - 8u)));

    USART_CR1 = 0u;  /* disabled while configuring */
    USART_CR2 = 0u;  /* 1 stop bit */
    USART_CR3 = 0u;  /* no flow control */
    USART_BRR = (PCLK1_HZ + CONSOLE_BAUD / 2u) / CONSOLE_BAUD;  /* oversampling by 16: 139 -> 0.08 % error */
    USART_CR1 = USART_CR1_TE | USART_CR1_RE | USART_CR1_UE;  /* 8 data bits, no parity */
}

void board_init(void) {
    console_init();
    SCB_DEMCR |= SCB_DEMCR_TRCENA;
    DWT_LAR = DWT_LAR_KEY;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    SYST_RVR = SYST_MAX_RELOAD;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CORE;
    board_timer_start();
}

void board_uart_putc(uint8_t c) {
    while (!(USART_ISR & USART_ISR_TXE)) {
    }
    USART_TDR = c;
}

int32_t board_uart_getc(void) {
    uint32_t isr = USART_ISR;
    /* An overrun (bytes sent while the model ran) would stop reception until cleared; the protocol's
     * CRC and resynchronisation take care of the lost bytes. */
    if (isr & USART_ISR_ERRORS) USART_ICR = USART_ICR_ERRORS;
    if (!(isr & USART_ISR_RXNE)) return -1;
    return (int32_t)(USART_RDR & 0xFFu);
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
