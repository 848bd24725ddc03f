/* Board layer of the STM32F746G-DISCO (STM32F746NG, Cortex-M7; board manual UM1907, reference manual
 * RM0385).
 * Clock: 216 MHz from the PLL (stm32f7_clock.c), fed by the board's 25 MHz crystal X2 on the HSE; L1 caches on.
 * Console: USART1 on PA9 (TX) / PB7 (RX), AF7, wired to the ST-LINK virtual COM port, 115200 8N1.
 * Everything else (polled console, DWT cycle timer, halt) is boards/common/stm32_board.c. */
#include "board.h"
#include "cortex_m.h"
#include "stm32.h"

const char board_name[] = "disco-f746ng";
const uint32_t board_ticks_per_ms = STM32F7_SYSCLK_HZ / 1000u;

#define RCC_AHB1ENR STM32_REG(0x40023800u + 0x30u)
#define RCC_APB2ENR STM32_REG(0x40023800u + 0x44u)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_GPIOBEN (1u << 1)
#define RCC_APB2ENR_USART1EN (1u << 4)
#define GPIOA_BASE 0x40020000u
#define GPIOB_BASE 0x40020400u
#define USART1_BASE 0x40011000u
#define AF7_USART 7u

void board_init(void) {
    stm32f7_clock_216mhz(25000000u, 0);
    cm7_caches_enable();

    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN | RCC_AHB1ENR_GPIOBEN;
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    (void)RCC_APB2ENR;  /* read back: the clock must be running before the peripheral is touched */
    stm32_pin_alternate(GPIOA_BASE, 9u, AF7_USART, 0);
    stm32_pin_alternate(GPIOB_BASE, 7u, AF7_USART, 1);  /* pull-up: idle line when the ST-LINK is unplugged */
    /* USART1's kernel clock is PCLK2 (RCC_DCKCFGR2.USART1SEL reset value). */
    stm32_console_init(USART1_BASE, STM32_USART_BRR(STM32F7_PCLK2_HZ, STM32_CONSOLE_BAUD));
    stm32_timer_init();
}
