/* What the STM32 board layers (F7, H7, L4+) share: the GPIO and U(S)ART register layouts, which are the same
 * in all three families, and the family-independent half of the board API (stm32_board.c). A layer's
 * board.c sets up its clock tree and console pins, then calls stm32_console_init() and stm32_timer_init(). */
#ifndef BOARDS_STM32_H
#define BOARDS_STM32_H

#include <stdint.h>

#define STM32_REG(addr) (*(volatile uint32_t *)(addr))

/* GPIO port registers, "GPIO registers" in RM0385 (F74x), RM0410 (F76x), RM0433 (H7) and RM0432 (L4+). */
#define GPIO_MODER(port) STM32_REG((port) + 0x00u)
#define GPIO_OSPEEDR(port) STM32_REG((port) + 0x08u)
#define GPIO_PUPDR(port) STM32_REG((port) + 0x0Cu)
#define GPIO_AFR(port, pin) STM32_REG((port) + ((pin) < 8u ? 0x20u : 0x24u))

/* USART ("USART registers" in RM0385, RM0410, RM0433, RM0432) and LPUART (RM0432): one register layout. */
#define UART_CR1(base) STM32_REG((base) + 0x00u)
#define UART_CR2(base) STM32_REG((base) + 0x04u)
#define UART_CR3(base) STM32_REG((base) + 0x08u)
#define UART_BRR(base) STM32_REG((base) + 0x0Cu)
#define UART_ISR(base) STM32_REG((base) + 0x1Cu)
#define UART_ICR(base) STM32_REG((base) + 0x20u)
#define UART_RDR(base) STM32_REG((base) + 0x24u)
#define UART_TDR(base) STM32_REG((base) + 0x28u)
#define UART_CR1_UE (1u << 0)
#define UART_CR1_RE (1u << 2)
#define UART_CR1_TE (1u << 3)
#define UART_ISR_ERRORS 0x0Fu  /* PE, FE, NF, ORE */
#define UART_ISR_RXNE (1u << 5)
#define UART_ISR_TXE (1u << 7)
#define UART_ICR_ERRORS 0x0Fu  /* PECF, FECF, NCF, ORECF */

/* BRR for 16x oversampling (USART) and for the LPUART, whose BRR is 256 * f_kernel / baud (RM0432, LPUART baud rate);
 * both rounded to the nearest integer. */
#define STM32_USART_BRR(kernel_hz, baud) (((kernel_hz) + (baud) / 2u) / (baud))
#define STM32_LPUART_BRR(kernel_hz, baud) ((uint32_t)((256ull * (kernel_hz) + (baud) / 2u) / (baud)))

#define STM32_CONSOLE_BAUD 115200u

/* A pin in alternate-function mode `af`, push-pull, high speed; `pull_up` for an input that must idle high. */
void stm32_pin_alternate(uint32_t port, uint32_t pin, uint32_t af, int pull_up);

/* Console U(S)ART at `base`, 8N1, polled; its kernel clock must already run. `brr` from the macros above. */
void stm32_console_init(uint32_t base, uint32_t brr);

/* DWT cycle counter extended to 64 bits by a SysTick sampler; call once the core clock is final. */
void stm32_timer_init(void);

/* Spin until (reg & mask) == value, at most `spins` reads; 1 if it got there. For clocks that may never start. */
int stm32_wait(volatile uint32_t *reg, uint32_t mask, uint32_t value, uint32_t spins);

/* STM32F7 (stm32f7_clock.c): 216 MHz from the PLL, fed by the HSE (`hse_hz`, crystal or `hse_bypass` for
 * an external clock such as the ST-LINK's MCO), or by the 16 MHz HSI when the HSE does not start. */
void stm32f7_clock_216mhz(uint32_t hse_hz, int hse_bypass);
#define STM32F7_SYSCLK_HZ 216000000u
#define STM32F7_PCLK1_HZ 54000000u   /* APB1 = HCLK / 4, its maximum */
#define STM32F7_PCLK2_HZ 108000000u  /* APB2 = HCLK / 2, its maximum */

#endif
