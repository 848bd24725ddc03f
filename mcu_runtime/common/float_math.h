/* expf and logf without libm, correctly rounded (round to nearest, ties to even) for every float input.
 *
 * They use only IEEE double additions, subtractions, multiplications, one division and integer bit
 * operations, so every conforming target (x86-64 SSE2, Cortex-M with a single-precision FPU, whose double
 * arithmetic is libgcc's exact software emulation) returns the same bits. Special values follow C99:
 * mcu_expf(-inf) = +0, mcu_expf(+inf) = +inf, overflow gives +inf, underflow gives a subnormal or +0;
 * mcu_logf(+-0) = -inf, mcu_logf(+inf) = +inf, mcu_logf(1) = +0, mcu_logf(x < 0) = NaN (0x7fc00000).
 * A NaN input returns a quiet NaN. Floating-point exception flags are not meaningful. */
#ifndef MCU_RUNTIME_FLOAT_MATH_H
#define MCU_RUNTIME_FLOAT_MATH_H

float mcu_expf(float x);
float mcu_logf(float x);

#endif
