/* Board layer of the NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4 with single-precision FPU; reference manual
 * RM0432, board manual UM2179).
 * Clock: 120 MHz, the family maximum, which needs the regulator's Range 1 boost mode; PLL fed by the 16 MHz
 * HSI (always present: the board's HSE/MCO wiring depends on solder bridges), HCLK = PCLK1 = PCLK2 = 120 MHz,
 * 5 flash wait states, ART accelerator (instruction and data cache, prefetch) on. The Cortex-M4 has no L1
 * caches.
 * Console: LPUART1 on PG7 (TX) / PG8 (RX), AF8, wired to the ST-LINK virtual COM port, 115200 8N1. Port G
 * pins 2-15 are powered by VDDIO2, which must be declared valid first.
 * Everything else (polled console, DWT cycle timer, halt) is boards/common/stm32_board.c. */
#include "board.h"
#include "cortex_m.h"
#include "stm32.h"

#define SYSCLK_HZ 120000000u
#define PCLK1_HZ SYSCLK_HZ

const char board_name[] = "nucleo-l4r5zi";
const uint32_t board_ticks_per_ms = SYSCLK_HZ / 1000u;

/* RCC registers (RM0432 "RCC registers"). */
#define RCC_BASE 0x40021000u
#define RCC_CR STM32_REG(RCC_BASE + 0x00u)
#define RCC_CFGR STM32_REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR STM32_REG(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR STM32_REG(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 STM32_REG(RCC_BASE + 0x58u)
#define RCC_APB1ENR2 STM32_REG(RCC_BASE + 0x5Cu)
#define RCC_CR_HSION (1u << 8)
#define RCC_CR_HSIRDY (1u << 10)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_MASK 0x3u
#define RCC_CFGR_SW_PLL 0x3u
#define RCC_CFGR_SWS_MASK (0x3u << 2)
#define RCC_CFGR_SWS_PLL (0x3u << 2)
#define RCC_CFGR_HPRE_MASK (0xFu << 4)
#define RCC_CFGR_HPRE_DIV2 (0x8u << 4)
#define RCC_CFGR_PPRE_MASK (0x3Fu << 8)  /* PPRE1[10:8], PPRE2[13:11]: 0 = not divided */
#define RCC_PLLCFGR_SRC_HSI16 0x2u
#define RCC_PLLCFGR_PLLREN (1u << 24)
#define RCC_AHB2ENR_GPIOGEN (1u << 6)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define RCC_APB1ENR2_LPUART1EN (1u << 0)

/* PWR registers (RM0432 "PWR registers"). */
#define PWR_BASE 0x40007000u
#define PWR_CR1 STM32_REG(PWR_BASE + 0x00u)
#define PWR_CR2 STM32_REG(PWR_BASE + 0x04u)
#define PWR_SR2 STM32_REG(PWR_BASE + 0x14u)
#define PWR_CR5 STM32_REG(PWR_BASE + 0x80u)
#define PWR_CR1_VOS_MASK (0x3u << 9)
#define PWR_CR1_VOS_RANGE1 (0x1u << 9)
#define PWR_CR2_IOSV (1u << 9)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8)  /* 1: Range 1 normal mode (reset), 0: boost mode */

/* Flash (RM0432 FLASH_ACR): 5 wait states up to 120 MHz in Range 1 (RM0432 "Read access latency"). */
#define FLASH_ACR STM32_REG(0x40022000u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_LATENCY_5WS 5u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

#define GPIOG_BASE 0x48001800u
#define LPUART1_BASE 0x40008000u
#define AF8_LPUART1 8u

static void clock_120mhz(void) {
    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1;
    /* Range 1 (the reset value, but a debugger may have left Range 2). */
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
    while (PWR_SR2 & PWR_SR2_VOSF) {
    }

    RCC_CR |= RCC_CR_HSION;
    while (!(RCC_CR & RCC_CR_HSIRDY)) {
    }

    /* Range 1 normal -> boost, as RM0432 "Dynamic voltage scaling management" requires for a system
     * clock above 80 MHz: AHB prescaler /2 first, R1MODE = 0, wait states for the new frequency, switch to
     * it, then at least 1 us later the AHB prescaler back to /1. */
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | RCC_CFGR_HPRE_DIV2;
    PWR_CR5 &= ~PWR_CR5_R1MODE;
    while (PWR_SR2 & PWR_SR2_VOSF) {
    }
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN |
                FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != FLASH_ACR_LATENCY_5WS) {
    }

    /* PLL: HSI16 / M 2 = 8 MHz in, x N 30 = 240 MHz VCO, / R 2 = 120 MHz PLLCLK (RM0432 RCC_PLLCFGR: PLLM
     * is written as M - 1, PLLR 0 means /2). */
    RCC_PLLCFGR = RCC_PLLCFGR_SRC_HSI16 | ((2u - 1u) << 4) | (30u << 8) | RCC_PLLCFGR_PLLREN;
    RCC_CR |= RCC_CR_PLLON;
    while (!(RCC_CR & RCC_CR_PLLRDY)) {
    }
    RCC_CFGR = (RCC_CFGR & ~(RCC_CFGR_SW_MASK | RCC_CFGR_PPRE_MASK)) | RCC_CFGR_SW_PLL;  /* APB1, APB2 /1 */
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }

    /* >= 1 us at HCLK = 60 MHz: a volatile loop takes several cycles per iteration. */
    for (volatile uint32_t spin = 0u; spin < 100u; spin++) {
    }
    RCC_CFGR &= ~RCC_CFGR_HPRE_MASK;
}

void board_init(void) {
    clock_120mhz();

    RCC_AHB2ENR |= RCC_AHB2ENR_GPIOGEN;
    RCC_APB1ENR2 |= RCC_APB1ENR2_LPUART1EN;
    (void)RCC_APB1ENR2;  /* read back: the clock must be running before the peripheral is touched */
    PWR_CR2 |= PWR_CR2_IOSV;  /* VDDIO2 valid: without it PG2-PG15 stay isolated (RM0432 "Independent I/O supply") */
    stm32_pin_alternate(GPIOG_BASE, 7u, AF8_LPUART1, 0);
    stm32_pin_alternate(GPIOG_BASE, 8u, AF8_LPUART1, 1);  /* pull-up: idle line when the ST-LINK is unplugged */
    /* LPUART1's kernel clock is PCLK1 (RCC_CCIPR.LPUART1SEL reset value): BRR = 256 x 120 MHz / 115200. */
    stm32_console_init(LPUART1_BASE, STM32_LPUART_BRR(PCLK1_HZ, STM32_CONSOLE_BAUD));
    stm32_timer_init();
}
