/* Board layer of the NUCLEO-H743ZI and NUCLEO-H743ZI2 (STM32H743ZI, Cortex-M7 with double-precision FPU;
 * reference manual RM0433, board manuals UM1974 / UM2407).
 * Clock: CPU 400 MHz, the maximum in voltage scale 1 on both silicon revisions (480 MHz needs revision V and
 * VOS0, which this layer does not attempt); AXI/AHB 200 MHz, all APB buses 100 MHz. The PLL is fed by the
 * ST-LINK's 8 MHz MCO (HSE bypass, the boards' default), or by the 64 MHz HSI if that clock is absent.
 * L1 caches (16 KB + 16 KB) on.
 * Memory (board.ld): stack in the 128 KB DTCM, .data/.bss (the arena) in the 512 KB AXI SRAM.
 * Console: USART3 on PD8 (TX) / PD9 (RX), AF7, wired to the ST-LINK virtual COM port, 115200 8N1.
 * Everything else (polled console, DWT cycle timer, halt) is boards/common/stm32_board.c. */
#include "board.h"
#include "cortex_m.h"
#include "stm32.h"

#define CPU_HZ 400000000u
#define PCLK1_HZ 100000000u
#define HSE_HZ 8000000u
#define HSI_HZ 64000000u
#define HSE_START_SPINS 0x100000u  /* ~50 ms on the 64 MHz HSI */

const char board_name[] = "nucleo-h743zi";
const uint32_t board_ticks_per_ms = CPU_HZ / 1000u;

/* RCC registers (RM0433 "RCC register description"). */
#define RCC_BASE 0x58024400u
#define RCC_CR STM32_REG(RCC_BASE + 0x00u)
#define RCC_CFGR STM32_REG(RCC_BASE + 0x10u)
#define RCC_D1CFGR STM32_REG(RCC_BASE + 0x18u)
#define RCC_D2CFGR STM32_REG(RCC_BASE + 0x1Cu)
#define RCC_D3CFGR STM32_REG(RCC_BASE + 0x20u)
#define RCC_PLLCKSELR STM32_REG(RCC_BASE + 0x28u)
#define RCC_PLLCFGR STM32_REG(RCC_BASE + 0x2Cu)
#define RCC_PLL1DIVR STM32_REG(RCC_BASE + 0x30u)
#define RCC_AHB4ENR STM32_REG(RCC_BASE + 0xE0u)
#define RCC_APB1LENR STM32_REG(RCC_BASE + 0xE8u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)
#define RCC_CFGR_SW_MASK 0x7u
#define RCC_CFGR_SW_PLL1 0x3u
#define RCC_CFGR_SWS_MASK (0x7u << 3)
#define RCC_CFGR_SWS_PLL1 (0x3u << 3)
#define RCC_PLLCKSELR_PLL1 (0x3u | (0x3Fu << 4))  /* PLLSRC[1:0], DIVM1[9:4] */
#define RCC_PLLCKSELR_SRC_HSE 0x2u
#define RCC_PLLCFGR_PLL1 0xFu                     /* PLL1FRACEN, PLL1VCOSEL (0: wide VCO), PLL1RGE[3:2] */
#define RCC_PLLCFGR_PLL1RGE_2_4MHZ (0x1u << 2)
#define RCC_PLLCFGR_DIV1EN (0x7u << 16)           /* DIVP1EN, DIVQ1EN, DIVR1EN */
#define RCC_DIV2 0x4u                             /* D1PPRE/D2PPRE1/D2PPRE2/D3PPRE encoding of /2 */
#define RCC_HPRE_DIV2 0x8u
#define RCC_AHB4ENR_GPIODEN (1u << 3)
#define RCC_APB1LENR_USART3EN (1u << 18)

/* PWR registers (RM0433 "PWR register description"). */
#define PWR_BASE 0x58024800u
#define PWR_CSR1 STM32_REG(PWR_BASE + 0x04u)
#define PWR_CR3 STM32_REG(PWR_BASE + 0x0Cu)
#define PWR_D3CR STM32_REG(PWR_BASE + 0x18u)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_SUPPLY (0x7u)                     /* BYPASS, LDOEN, SCUEN */
#define PWR_CR3_LDOEN (1u << 1)
#define PWR_D3CR_VOSRDY (1u << 13)
#define PWR_D3CR_VOS_MASK (0x3u << 14)
#define PWR_D3CR_VOS_SCALE1 (0x3u << 14)

/* Flash (RM0433 FLASH_ACR): 2 wait states and WRHIGHFREQ = 2 for a 200 MHz AXI clock in VOS1 (RM0433 table
 * "FLASH recommended number of wait states and programming delay"). */
#define FLASH_ACR STM32_REG(0x52002000u)
#define FLASH_ACR_FIELDS 0x3Fu
#define FLASH_ACR_SETTING (2u | (2u << 4))

#define GPIOD_BASE 0x58020C00u
#define USART3_BASE 0x40004800u
#define AF7_USART 7u

static void clock_400mhz(void) {
    /* Supply: the LDO, as the Nucleo boards are wired. PWR_CR3's supply bits are written once after
     * power-on (clearing SCUEN locks them) and must be before VOS or the clock change (RM0433 "Power supply
     * configuration"); then wait until the regulator reports the voltage level ready. */
    PWR_CR3 = (PWR_CR3 & ~PWR_CR3_SUPPLY) | PWR_CR3_LDOEN;
    while (!(PWR_CSR1 & PWR_CSR1_ACTVOSRDY)) {
    }
    /* Voltage scale 1 before any frequency increase (RM0433 "Voltage scaling"). */
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | PWR_D3CR_VOS_SCALE1;
    while (!(PWR_D3CR & PWR_D3CR_VOSRDY)) {
    }

    /* PLL source: HSE in bypass if it comes up, else HSI; either way a 2 MHz reference (DIVM1). */
    uint32_t source_hz = HSI_HZ;
    uint32_t pllsrc = 0u;
    RCC_CR |= RCC_CR_HSEBYP;  /* may only be set while HSEON is 0 */
    RCC_CR |= RCC_CR_HSEON;
    if (stm32_wait(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY, HSE_START_SPINS)) {
        source_hz = HSE_HZ;
        pllsrc = RCC_PLLCKSELR_SRC_HSE;
    } else {
        RCC_CR &= ~(RCC_CR_HSEON | RCC_CR_HSEBYP);
    }

    /* PLL1: ref 2 MHz (input range 2-4 MHz), wide VCO 2 MHz x 400 = 800 MHz, P = 2 -> 400 MHz (sys_ck),
     * Q = 8 -> 100 MHz, R = 2. DIVN/DIVP/DIVQ/DIVR are written as the factor minus 1 (RM0433 RCC_PLL1DIVR). */
    const uint32_t divm1 = source_hz / 2000000u;
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~RCC_PLLCKSELR_PLL1) | pllsrc | (divm1 << 4);
    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_PLL1) | RCC_PLLCFGR_PLL1RGE_2_4MHZ | RCC_PLLCFGR_DIV1EN;
    RCC_PLL1DIVR = (400u - 1u) | ((2u - 1u) << 9) | ((8u - 1u) << 16) | ((2u - 1u) << 24);
    RCC_CR |= RCC_CR_PLL1ON;
    while (!(RCC_CR & RCC_CR_PLL1RDY)) {
    }

    /* Flash wait states for the target frequency first (also valid at the current 64 MHz), read back;
     * then the bus dividers: CPU /1, AXI/AHB (HPRE) /2 = 200 MHz, every APB /2 = 100 MHz (their maxima). */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_FIELDS) | FLASH_ACR_SETTING;
    while ((FLASH_ACR & FLASH_ACR_FIELDS) != FLASH_ACR_SETTING) {
    }
    RCC_D1CFGR = RCC_HPRE_DIV2 | (RCC_DIV2 << 4);      /* D1CPRE /1, HPRE /2, D1PPRE (APB3) /2 */
    RCC_D2CFGR = (RCC_DIV2 << 4) | (RCC_DIV2 << 8);    /* D2PPRE1 (APB1), D2PPRE2 (APB2) /2 */
    RCC_D3CFGR = RCC_DIV2 << 4;                        /* D3PPRE (APB4) /2 */

    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL1;
    while ((RCC_CFGR & RCC_CFGR_SWS_MASK) != RCC_CFGR_SWS_PLL1) {
    }
}

void board_init(void) {
    clock_400mhz();
    cm7_caches_enable();

    RCC_AHB4ENR |= RCC_AHB4ENR_GPIODEN;
    RCC_APB1LENR |= RCC_APB1LENR_USART3EN;
    (void)RCC_APB1LENR;  /* read back: the clock must be running before the peripheral is touched */
    stm32_pin_alternate(GPIOD_BASE, 8u, AF7_USART, 0);
    stm32_pin_alternate(GPIOD_BASE, 9u, AF7_USART, 1);  /* pull-up: idle line when the ST-LINK is unplugged */
    /* USART3's kernel clock is rcc_pclk1 (RCC_D2CCIP2R.USART234578SEL reset value). */
    stm32_console_init(USART3_BASE, STM32_USART_BRR(PCLK1_HZ, STM32_CONSOLE_BAUD));
    stm32_timer_init();
}
