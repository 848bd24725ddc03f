/* STM32F7 clock tree at 216 MHz, the family maximum (RM0385 for F74x/F75x, RM0410 for F76x/F77x: the
 * registers used here are the same in both). Shared by the F7 board layers.
 *
 *   PLL input 1 MHz (PLLM = source MHz), VCO 432 MHz (PLLN = 432), SYSCLK = VCO / 2 = 216 MHz,
 *   48 MHz domain = VCO / 9; HCLK = SYSCLK, APB1 = HCLK / 4 = 54 MHz, APB2 = HCLK / 2 = 108 MHz.
 *
 * Above 180 MHz the regulator must be in voltage scale 1 with over-drive on (RM0385, PWR chapter, "Voltage
 * regulator": the numbered over-drive activation sequence, followed below), and flash reads need 7 wait
 * states at 2.7-3.6 V (RM0385 / RM0410 "Read access latency": wait states versus HCLK). */
#include "stm32.h"

#define HSI_HZ 16000000u
#define HSE_START_SPINS 0x40000u  /* ~100 ms on the 16 MHz HSI; a crystal needs ~2 ms */

/* RCC registers (RM0385 "RCC registers"). */
#define RCC_BASE 0x40023800u
#define RCC_CR STM32_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR STM32_REG(RCC_BASE + 0x04u)
#define RCC_CFGR STM32_REG(RCC_BASE + 0x08u)
#define RCC_APB1ENR STM32_REG(RCC_BASE + 0x40u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_FIELDS 0x0F437FFFu  /* PLLM[5:0] PLLN[14:6] PLLP[17:16] PLLSRC[22] PLLQ[27:24]; the rest kept */
#define RCC_PLLCFGR_PLLSRC_HSE (1u << 22)
#define RCC_CFGR_SW_MASK 0x3u
#define RCC_CFGR_SW_PLL 0x2u
#define RCC_CFGR_SWS_MASK (0x3u << 2)
#define RCC_CFGR_SWS_PLL (0x2u << 2)
#define RCC_CFGR_PRESCALERS 0xFCF0u       /* HPRE[7:4] PPRE1[12:10] PPRE2[15:13] */
#define RCC_CFGR_PPRE1_DIV4 (0x5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (0x4u << 13)
#define RCC_APB1ENR_PWREN (1u << 28)

/* PWR registers (RM0385 "PWR registers"). */
#define PWR_BASE 0x40007000u
#define PWR_CR1 STM32_REG(PWR_BASE + 0x00u)
#define PWR_CSR1 STM32_REG(PWR_BASE + 0x04u)
#define PWR_CR1_VOS_MASK (0x3u << 14)
#define PWR_CR1_VOS_SCALE1 (0x3u << 14)
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)

/* Flash interface (RM0385 "FLASH_ACR"). */
#define FLASH_ACR STM32_REG(0x40023C00u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_LATENCY_7WS 7u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ARTEN (1u << 9)

void stm32f7_clock_216mhz(uint32_t hse_hz, int hse_bypass) {
    /* The PWR registers need their bus clock; VOS may only be changed while the PLL is off. */
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_SCALE1;

    /* 1. Keep running on the HSI; start the HSE beside it (HSEBYP may only be set while HSEON is 0). */
    uint32_t source_hz = HSI_HZ;
    uint32_t pllsrc = 0u;
    if (hse_hz != 0u) {
        if (hse_bypass) RCC_CR |= RCC_CR_HSEBYP;
        RCC_CR |= RCC_CR_HSEON;
        if (stm32_wait(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY, HSE_START_SPINS)) {
            source_hz = hse_hz;
            pllsrc = RCC_PLLCFGR_PLLSRC_HSE;
        } else {
            RCC_CR &= ~(RCC_CR_HSEON | RCC_CR_HSEBYP);  /* no clock on the pin: stay on the HSI */
        }
    }

    /* 2. Configure the PLL and start it. */
    const uint32_t pllm = source_hz / 1000000u;
    const uint32_t plln = 432u;
    const uint32_t pllp = 0u;  /* divide by 2 */
    const uint32_t pllq = 9u;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_FIELDS) | pllm | (plln << 6) | (pllp << 16) | pllsrc | (pllq << 24);
    RCC_CR |= RCC_CR_PLLON;

    /* 3-5. Over-drive on, then switch the regulator to it (the core stalls during the switch). */
    PWR_CR1 |= PWR_CR1_ODEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODRDY)) {
    }
    PWR_CR1 |= PWR_CR1_ODSWEN;
    while (!(PWR_CSR1 & PWR_CSR1_ODSWRDY)) {
    }

    /* 6. Flash wait states (read back: the new value must be in effect before the clock rises), ART
     * accelerator and prefetch for the ITCM path; then the bus prescalers. */
    FLASH_ACR = FLASH_ACR_LATENCY_7WS | FLASH_ACR_PRFTEN | FLASH_ACR_ARTEN;
    while ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != FLASH_ACR_LATENCY_7WS) {
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_PRESCALERS) | RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2;

    /* 7-8. PLL locked: make it the system clock. */
    while (!(RCC_CR & RCC_CR_PLLRDY)) {
    }
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL) {
    }
}
