/* Board layer shared by the Nucleo-144 boards with an STM32F7 (NUCLEO-F746ZG, NUCLEO-F767ZI): same pins, same
 * clock source. Clock: 216 MHz from the PLL (stm32f7_clock.c), fed by the ST-LINK's 8 MHz MCO (HSE bypass, the
 * boards' default solder-bridge setting, UM1974 "HSE clock"); L1 caches on. Console: USART3 on PD8 (TX) / PD9
 * (RX), AF7, the ST-LINK virtual COM port (UM1974 "USART communication"), 115200 8N1. Each board's own board.c
 * only names the board. */
#include "board.h"
#include "cortex_m.h"
#include "stm32.h"

const uint32_t board_ticks_per_ms = STM32F7_SYSCLK_HZ / 1000u;

#define RCC_AHB1ENR STM32_REG(0x40023800u + 0x30u)
#define RCC_APB1ENR STM32_REG(0x40023800u + 0x40u)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_APB1ENR_USART3EN (1u << 18)
#define GPIOD_BASE 0x40020C00u
#define USART3_BASE 0x40004800u
#define AF7_USART 7u

void board_init(void) {
    stm32f7_clock_216mhz(8000000u, 1);
    cm7_caches_enable();

    RCC_AHB1ENR |= RCC_AHB1ENR_GPIODEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART3EN;
    (void)RCC_APB1ENR;  /* read back: the clock must be running before the peripheral is touched */
    stm32_pin_alternate(GPIOD_BASE, 8u, AF7_USART, 0);
    stm32_pin_alternate(GPIOD_BASE, 9u, AF7_USART, 1);  /* pull-up: idle line when the ST-LINK is unplugged */
    /* USART3's kernel clock is PCLK1 (RCC_DCKCFGR2.USART3SEL reset value). */
    stm32_console_init(USART3_BASE, STM32_USART_BRR(STM32F7_PCLK1_HZ, STM32_CONSOLE_BAUD));
    stm32_timer_init();
}
