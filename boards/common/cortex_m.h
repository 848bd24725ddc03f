/* Cortex-M core registers used by the board layers (addresses from the ARMv7-M Architecture Reference
 * Manual, ARM DDI 0403: system control block, SysTick, DWT, and the cache maintenance operations). */
#ifndef BOARDS_CORTEX_M_H
#define BOARDS_CORTEX_M_H

#include <stdint.h>

#define CM_REG(addr) (*(volatile uint32_t *)(addr))

/* System control block. */
#define SCB_ICSR CM_REG(0xE000ED04u)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSTCLR (1u << 25)
#define SCB_VTOR CM_REG(0xE000ED08u)
#define SCB_CCR CM_REG(0xE000ED14u)
#define SCB_CCR_DC (1u << 16)  /* data cache enable (Cortex-M7) */
#define SCB_CCR_IC (1u << 17)  /* instruction cache enable (Cortex-M7) */
#define SCB_CPACR CM_REG(0xE000ED88u)
#define SCB_DEMCR CM_REG(0xE000EDFCu)
#define SCB_DEMCR_TRCENA (1u << 24)

/* Cache identification and maintenance registers (ARMv7-M ARM: CCSIDR, CSSELR, ICIALLU, DCISW), Cortex-M7. */
#define SCB_CCSIDR CM_REG(0xE000ED80u)
#define SCB_CSSELR CM_REG(0xE000ED84u)
#define SCB_ICIALLU CM_REG(0xE000EF50u)
#define SCB_DCISW CM_REG(0xE000EF60u)

/* SysTick: 24-bit down-counter. */
#define SYST_CSR CM_REG(0xE000E010u)
#define SYST_RVR CM_REG(0xE000E014u)
#define SYST_CVR CM_REG(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CORE (1u << 2)
#define SYST_MAX_RELOAD 0x00FFFFFFu

/* Data watchpoint and trace unit: the cycle counter. */
#define DWT_CTRL CM_REG(0xE0001000u)
#define DWT_CYCCNT CM_REG(0xE0001004u)
#define DWT_LAR CM_REG(0xE0001FB0u)  /* Cortex-M7: software lock, must be unlocked before DWT writes */
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_LAR_KEY 0xC5ACCE55u

static inline void cm_dsb_isb(void) { __asm__ volatile("dsb\n\tisb" ::: "memory"); }

/* Mask interrupts and return the previous PRIMASK, to be given back to cm_irq_restore(). */
static inline uint32_t cm_irq_save(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static inline void cm_irq_restore(uint32_t primask) { __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory"); }

static inline void cm_irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }

/* Turn on the Cortex-M7 L1 instruction and data caches. Their contents are unpredictable after reset, so each
 * is invalidated before it is enabled (ARMv7-M ARM "Cache maintenance operations"; Cortex-M7 TRM "L1 caches"
 * and its cache initialisation sequence): ICIALLU for the whole I-cache, DCISW for every set and way of the
 * D-cache, sizes read from CCSIDR, barriers around each step. */
static inline void cm7_caches_enable(void) {
    cm_dsb_isb();
    SCB_ICIALLU = 0u;
    cm_dsb_isb();
    SCB_CCR |= SCB_CCR_IC;
    cm_dsb_isb();

    SCB_CSSELR = 0u;  /* select the level 1 data cache for CCSIDR */
    cm_dsb_isb();
    const uint32_t ccsidr = SCB_CCSIDR;
    const uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    const uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    const uint32_t set_shift = (ccsidr & 0x7u) + 4u;  /* log2 of the line length in bytes */
    uint32_t way_bits = 0u;                           /* ceil(log2(ways)): the way sits in the top bits */
    while ((1u << way_bits) < ways) way_bits++;
    const uint32_t way_shift = 32u - way_bits;
    for (uint32_t set = 0u; set < sets; set++) {
        for (uint32_t way = 0u; way < ways; way++) {
            SCB_DCISW = (way_bits ? way << way_shift : 0u) | (set << set_shift);
        }
    }
    cm_dsb_isb();
    SCB_CCR |= SCB_CCR_DC;
    cm_dsb_isb();
}

#endif
