/* Cortex-M7 core registers used by the board layers (addresses from the ARMv7-M architecture manual). */
#ifndef BOARDS_CORTEX_M_H
#define BOARDS_CORTEX_M_H

#include <stdint.h>

#define CM_REG(addr) (*(volatile uint32_t *)(addr))

/* System control block. */
#define SCB_ICSR CM_REG(0xE000ED04u)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSTCLR (1u << 25)
#define SCB_VTOR CM_REG(0xE000ED08u)
#define SCB_CPACR CM_REG(0xE000ED88u)
#define SCB_DEMCR CM_REG(0xE000EDFCu)
#define SCB_DEMCR_TRCENA (1u << 24)

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

/* Mask interrupts and return the previous PRIMASK, to be given back to cm_irq_restore(). */
static inline uint32_t cm_irq_save(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static inline void cm_irq_restore(uint32_t primask) { __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory"); }

static inline void cm_irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }

#endif
