"""ADD on cores with the DSP extension: a bit-identical replacement for add_s8 when nothing broadcasts.

TFLite's int8 ADD (add_s8_ref) computes x_i = (a_i + offset_i) * 2^20, s_i = RDBP(SRDHM(x_i, m_i), -shift_i),
y = RDBP(SRDHM(s_1 + s_2, m_o), -shift_o) + output zero point, clamped (SRDHM: gemmlowp's
SaturatingRoundingDoublingHighMul, RDBP: RoundingDivideByPOT). mcu_runtime/arithmetic/add_s8_dsp.c gets the same
values from these identities (tests/codegen/kernels/arithmetic/test_kernel_add_dsp.py checks each against
codegen.kernels.fixedpoint):

- SRDHM(a, b) = floor((a * b + 2^30) / 2^31) unless a = b = INT32_MIN, so for |a| < 2^30 it is
  SMMULR(2a, b) = (2a * b + 2^31) >> 32, and SMMLAR(2a, b, c) is that plus c.
- RDBP(x, e) = (x + 2^(e-1) - (x < 0)) >> e for e >= 1.
- For b > 0, SRDHM(a, b) has the sign of a, or is 0; for 0 the -1 changes nothing ((2^(e-1) - 1) >> e = 0), so
  the kernel takes the sign of its multiplicand, known before the multiply.
- add_params divides both input scales by twice the larger one, so that operand (E) has multiplier 2^30 and
  shift 0, and s_E = (e + offset_E) * 2^19 exactly: no multiply. The other operand (G) has a shift of at least
  1, unless the scales are equal, when G is exact as well (scaled = 0).
- Constants fold in: E's offset goes into G's rounding constant (times 2^(19 + shift_G), a multiple of the
  divisor), the output zero point into the output's (times 2^shift_o).

So with t = (g + offset_G) * 2^21:  2 (s_E + s_G) = e * 2^20 + 2 (SMMLAR(t, m_G, g_round + (t < 0 ? -1 : 0))
>> g_shift), and y = SMMLAR(2 (s_E + s_G), m_o, out_round + (sum < 0 ? -1 : 0)) >> out_shift.

The folds need every intermediate to stay inside int32: the specializer checks them over all 256 x 256 input
pairs and keeps the portable kernel when one does not (a large E offset with input scales over 16 times apart,
a large output zero point with an output shift over ~23), as it does for a broadcast, an output shift of 0 or
multipliers the lowering does not produce.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph
from codegen.kernels.arithmetic.elementwise import ADD_LEFT_SHIFT_S8, AddParams
from codegen.kernels.base import KernelCall, KernelParams, cfield
from codegen.kernels.fixedpoint import INT32_MAX, INT32_MIN
from codegen.targets.core import Target

HEADER = "add_s8_dsp.h"
KERNEL = "add_s8_dsp"
EXACT_MULTIPLIER = 1 << 30  # with shift 0: the multiplier of one half, the larger-scale operand's


@dataclass(frozen=True)
class AddDspParams(KernelParams):
    C_TYPE = "add_s8_dsp_params_t"
    size: int = cfield("int32_t")
    swap: int = cfield("int32_t")  # 0: input1 is E, input2 is G; 1: the other way round
    scaled: int = cfield("int32_t")  # 0: equal scales, both operands exact
    sum_offset: int = cfield("int32_t")  # scaled == 0: (offset1 + offset2) * 2^20
    g_offset: int = cfield("int32_t")  # G's input offset * 2^21
    g_multiplier: int = cfield("int32_t")
    g_round: int = cfield("int32_t")  # 2^(g_shift - 1) + E's input offset * 2^(19 + g_shift)
    g_shift: int = cfield("int32_t")  # >= 1, a right shift
    out_multiplier: int = cfield("int32_t")
    out_round: int = cfield("int32_t")  # 2^(out_shift - 1) + output zero point * 2^out_shift
    out_shift: int = cfield("int32_t")  # >= 1, a right shift
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


def _smmlar(a: np.ndarray, b: int, acc: np.ndarray) -> np.ndarray:
    """acc + ((a * b + 2^31) >> 32) on exact integers (the int64 product of two int32 values cannot overflow)."""
    return acc + ((a * np.int64(b) + (1 << 31)) >> 32)


def _registers(p: AddDspParams, e: np.ndarray, g: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The values the kernel holds in 32-bit registers for operands e and g, computed exactly in int64, and the
    output before saturation."""
    e = np.asarray(e, dtype=np.int64)
    g = np.asarray(g, dtype=np.int64)
    if p.scaled:
        t = g * (1 << 21) + p.g_offset
        acc = p.g_round - (t < 0).astype(np.int64)
        u = _smmlar(t, p.g_multiplier, acc)
        twice_s = 2 * (u >> p.g_shift)
        sum2 = e * (1 << 20) + twice_s
        regs = [t, acc, u, twice_s, sum2]
    else:
        sum2 = (e + g) * (1 << 20) + p.sum_offset
        regs = [sum2]
    acc_out = p.out_round - (sum2 < 0).astype(np.int64)
    v = _smmlar(sum2, p.out_multiplier, acc_out)
    return [*regs, acc_out, v], v >> p.out_shift


def _in_int32(*values) -> bool:
    return all(int(np.min(v)) >= INT32_MIN and int(np.max(v)) <= INT32_MAX for v in values)


def add_s8_dsp_ref(p: AddDspParams, input1: np.ndarray, input2: np.ndarray) -> np.ndarray:
    """TFLite's ADD computed the kernel's way, from the specialized constants."""
    a = np.asarray(input1).reshape(-1)
    b = np.asarray(input2).reshape(-1)
    e, g = (b, a) if p.swap else (a, b)
    _, y = _registers(p, e, g)
    return np.clip(y, p.act_min, p.act_max).astype(np.int8)


def fast_params(p: AddParams) -> AddDspParams | None:
    """The kernel's constants for a non-broadcasting ADD, or None where its arithmetic would not be exact."""
    if p.broadcast or p.left_shift != ADD_LEFT_SHIFT_S8:
        return None
    exact1 = (p.input1_multiplier, p.input1_shift) == (EXACT_MULTIPLIER, 0)
    exact2 = (p.input2_multiplier, p.input2_shift) == (EXACT_MULTIPLIER, 0)
    out_shift = -p.output_shift
    if not (exact1 or exact2) or not 1 <= out_shift <= 31 or p.output_multiplier < 0:
        return None
    common = dict(
        size=p.out_d0 * p.out_d1 * p.out_d2 * p.out_d3,
        out_multiplier=p.output_multiplier,
        out_round=(1 << (out_shift - 1)) + p.output_offset * (1 << out_shift),
        out_shift=out_shift,
        act_min=p.act_min,
        act_max=p.act_max,
    )
    if exact1 and exact2:
        fast = AddDspParams(swap=0, scaled=0, sum_offset=(p.input1_offset + p.input2_offset) * (1 << 20),
                            g_offset=0, g_multiplier=0, g_round=0, g_shift=0, **common)  # fmt: skip
    else:
        swap = int(not exact1)
        e_offset = p.input2_offset if swap else p.input1_offset
        g_offset, g_mult, g_shift = (
            (p.input1_offset, p.input1_multiplier, -p.input1_shift)
            if swap
            else (p.input2_offset, p.input2_multiplier, -p.input2_shift)
        )
        if not 1 <= g_shift <= 31 or g_mult < 0:
            return None
        fast = AddDspParams(swap=swap, scaled=1, sum_offset=0, g_offset=g_offset * (1 << 21), g_multiplier=g_mult,
                            g_round=(1 << (g_shift - 1)) + e_offset * (1 << (19 + g_shift)), g_shift=g_shift,
                            **common)  # fmt: skip
    if not _in_int32(*(getattr(fast, name) for name, _ in AddDspParams.c_fields())):
        return None
    e, g = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    regs, _ = _registers(fast, e, g)
    return fast if _in_int32(*regs) else None


def specialize_add(call: KernelCall, graph: Graph | None, target: Target) -> KernelCall | None:
    """The DSP kernel for an add_s8 call (same operands, output and in-place use), or None to keep add_s8."""
    del graph, target  # the params hold everything
    fast = fast_params(call.params)  # type: ignore[arg-type]
    return None if fast is None else dataclasses.replace(call, kernel=KERNEL, params=fast)


LOWERINGS: dict = {}
REFERENCES = {KERNEL: add_s8_dsp_ref}
SPECIALIZERS = {"add_s8": specialize_add}
