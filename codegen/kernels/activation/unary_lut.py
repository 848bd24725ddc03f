"""Standalone int8 -> int8 element-wise functions: RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, TANH, RSQRT.

Each output element depends on one int8 input value only, so the whole op is a 256-entry table. The
lowering runs TFLite Micro's integer arithmetic for that op (the NumPy functions below, each a line-by-line
re-derivation of TFLM's Prepare and Eval) once per possible input value at compile time, and the C kernel
`lut_s8` only indexes the table: bit-exact by construction, 256 bytes of flash per op, one load per element.

Semantics followed (TFLM's reference kernels; where they differ from TFLite the TFLM choice is taken):
- RELU: requantize with QuantizeMultiplier(in_scale / out_scale), clamp to [max(-128, out_zp), 127].
- RELU6: TFLM clamps the raw input to [in_zp, quantize(6.0) saturated to int8] and never looks at the
  output quantization (TFLite requantizes).
- RELU_N1_TO_1: TFLM has no kernel; TFLite's (ReluX with bounds -1, 1) is followed.
- HARD_SWISH: the int16 fixed-point algorithm of reference_ops::HardSwish with HardSwishPrepare's params.
- TANH: input rescaled to Q4.27 as TFLM's CalculateArithmeticOpData, gemmlowp's fixed-point tanh, output
  scale 1/128 and zero point 0 (the only int8 output quantization TFLite gives TANH).
- RSQRT: TFLM's RsqrtEvalQuantized: GetInvSqrtQuantizedMultiplierExp of (x - in_zp), applied to 1 with 20
  bits of headroom, then the output multiplier 1 / (sqrtf(s_in) * s_out) (float32 product, double
  reciprocal); x == in_zp gives 127. TFLM fails the whole invocation on an input below the zero point
  ("only defined for positive values"); the table gives 127 there (no value is right, and none is read
  by a model TFLM can run).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels import gemmlowp as gf
from codegen.kernels.activation.l2_normalization import inv_sqrt_multiplier_exp
from codegen.kernels.activation.relu_s16 import lower_relu_s16
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
)

HEADER = "lut_s8.h"

RELU_S16_OPS = ("RELU", "RELU6", "RELU_N1_TO_1")  # int16 inputs of these go to relu_s16.py (which refuses the last)

ALL_INT8 = np.arange(-128, 128, dtype=np.int64)
TANH_INPUT_INTEGER_BITS = 4
TANH_OUTPUT_QUANT = (1.0 / 128, 0)
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


@dataclass(frozen=True)
class LutParams(KernelParams):
    C_TYPE = "lut_s8_params_t"
    size: int = cfield("int32_t")  # number of elements


def _f32(x: float) -> np.float32:
    return np.float32(x)


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _wrap16(x) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + 2**15) % 2**16) - 2**15


# ---------------------------------------------------------------- RELU family


def relu_bound(value: float, scale: float, zero_point: int) -> int:
    """zero_point + roundf(value / scale), the division in float32 as TFLite's CalculateReluOpData."""
    return zero_point + _round_half_away(float(_f32(value) / _f32(scale)))


def relu_requantize(x, in_q: tuple[float, int], out_q: tuple[float, int], lo: float, hi: float | None):
    """ReluQuantized / ReluX: out_zp + MultiplyByQuantizedMultiplier(x - in_zp), clamped to the bounds."""
    (s_in, zp_in), (s_out, zp_out) = in_q, out_q
    mult, shift = quantize_multiplier(float(s_in) / float(s_out))  # double division of the float32 scales
    act_min = max(-128, relu_bound(lo, s_out, zp_out))
    act_max = 127 if hi is None else min(127, relu_bound(hi, s_out, zp_out))
    v = multiply_by_quantized_multiplier(np.asarray(x, dtype=np.int64) - zp_in, mult, shift) + zp_out
    return np.clip(v, act_min, act_max)


def relu_table(in_q, out_q) -> np.ndarray:
    return relu_requantize(ALL_INT8, in_q, out_q, 0.0, None)


def relu_n1_to_1_table(in_q, out_q) -> np.ndarray:
    return relu_requantize(ALL_INT8, in_q, out_q, -1.0, 1.0)


def relu6_table(in_q, out_q) -> np.ndarray:
    """TFLM's Relu6Quantized: clamp the raw value to [in_zp, FloatToQuantizedType(6)]; no requantization."""
    s_in, zp_in = in_q
    six = min(127, zp_in + _round_half_away(float(_f32(6.0) / _f32(s_in))))  # FloatToQuantizedType saturates
    return np.clip(ALL_INT8, zp_in, six)


# ---------------------------------------------------------------- HARD_SWISH


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16 values."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    t = ab + nudge
    q = np.where(t >= 0, t // (1 << 15), -((-t) // (1 << 15)))  # C division truncates toward zero
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, _wrap16(q))


def _sdhm16(a, b) -> np.ndarray:
    """SaturatingDoublingHighMul on int16 (rounds toward zero)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    q = np.where(ab >= 0, ab // (1 << 15), -((-ab) // (1 << 15)))
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, _wrap16(q))


def _sat_left_shift16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << amount), INT16_MIN, INT16_MAX)


def downscale_to_int16(multiplier: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier."""
    if multiplier >= 2**31 - 1 - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


@dataclass(frozen=True)
class HardSwishArith:
    """HardSwishPrepare's parameters (computed in float32 as TFLM does, then QuantizeMultiplier)."""

    input_zero_point: int
    output_zero_point: int
    reluish_multiplier: int  # int16
    reluish_exponent: int
    output_multiplier: int  # int16
    output_exponent: int

    @classmethod
    def prepare(cls, in_q: tuple[float, int], out_q: tuple[float, int]) -> HardSwishArith:
        hires = _f32(1.0 / 128.0) * _f32(in_q[0])
        reluish_scale = _f32(3.0) / _f32(32768.0)
        out_m, out_e = quantize_multiplier(float(np.float32(hires / _f32(out_q[0]))))
        if out_e > 0:
            raise Unsupported(f"HARD_SWISH with input/output scale ratio {in_q[0] / out_q[0]:g} >= 128 "
                              "(TFLite Micro refuses it)")
        rel_m, rel_e = quantize_multiplier(float(np.float32(hires / reluish_scale)))
        return cls(in_q[1], out_q[1], downscale_to_int16(rel_m), rel_e, downscale_to_int16(out_m), out_e)


def hard_swish(a: HardSwishArith, x) -> np.ndarray:
    v = _wrap16(np.asarray(x, dtype=np.int64) - a.input_zero_point)
    hires = _wrap16(v * 128)
    preshift_out = _srdhm16(hires, a.output_multiplier)
    reluish = hires
    if a.reluish_exponent > 0:
        reluish = _sat_left_shift16(reluish, a.reluish_exponent - 1)
    reluish = _srdhm16(reluish, a.reluish_multiplier)
    if a.reluish_exponent > 0:
        reluish = _sat_left_shift16(reluish, 1)
    if a.reluish_exponent < 0:
        reluish = rounding_divide_by_pot(reluish, -a.reluish_exponent)
    reluish = (reluish + (1 << 15)) >> 1
    preshift = _sdhm16(reluish, preshift_out)
    out = _wrap16(rounding_divide_by_pot(preshift, -a.output_exponent) + a.output_zero_point)
    return np.clip(out, -128, 127)


def hard_swish_table(in_q, out_q) -> np.ndarray:
    return hard_swish(HardSwishArith.prepare(in_q, out_q), ALL_INT8)


# ---------------------------------------------------------------- TANH


def tanh_fixed(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh: Q0.31 result for a value with `integer_bits` integer bits."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, gf.wrap32(-a))  # -|a|
    # neg_tanh_on_negative_values: (1 - e^(2n)) / (1 + e^(2n)); 2n is the same raw with one more integer bit.
    e = gf.exp_on_negative_values(n, integer_bits + 1)
    half_denominator = gf.rounding_half_sum(e, gf.INT32_MAX)
    x = gf.wrap32(gf.FORTY_EIGHT_OVER_17 + gf.srdhm(half_denominator, gf.MINUS_THIRTY_TWO_OVER_17))
    for _ in range(3):
        one_minus = gf.wrap32((1 << 29) - gf.srdhm(half_denominator, x))
        x = gf.wrap32(x + gf.rescale(gf.srdhm(x, one_minus), 4, 2))
    t = gf.rescale(gf.wrap32(x - (1 << 29)), 2, 0)
    return np.where(a == 0, 0, np.where(negative, gf.wrap32(-t), t))


def tanh_input_scaling(input_scale: float) -> tuple[int, int, int]:
    """(multiplier, left shift, radius): TFLM's CalculateArithmeticOpData for int8 TANH (frexp, no renormalising)."""
    q, shift = math.frexp(float(input_scale) * float(1 << (31 - TANH_INPUT_INTEGER_BITS)))
    multiplier = math.floor(q * (1 << 31) + 0.5)
    if shift < 0:
        raise Unsupported(f"TANH input scale {input_scale:g} is too small (below 2^-28)")
    return multiplier, shift, gf.calculate_input_radius(TANH_INPUT_INTEGER_BITS, shift, 31)


def tanh_table(in_q, out_q) -> np.ndarray:
    if (float(out_q[0]), out_q[1]) != TANH_OUTPUT_QUANT:
        raise Unsupported(f"TANH output quantization scale {out_q[0]:g}, zero point {out_q[1]} "
                          "(TFLite requires scale 1/128, zero point 0)")
    multiplier, shift, radius = tanh_input_scaling(in_q[0])
    v = ALL_INT8 - in_q[1]
    inside = (v > -radius) & (v < radius)
    q4 = multiply_by_quantized_multiplier(np.where(inside, v, 0), multiplier, shift)
    q0 = tanh_fixed(q4, TANH_INPUT_INTEGER_BITS)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 7), -128, 127)
    return np.where(inside, out, np.where(v <= -radius, -128, 127))


# ---------------------------------------------------------------- RSQRT

RSQRT_HEADROOM = 20


def rsqrt_table(in_q, out_q) -> np.ndarray:
    (s_in, zp_in), (s_out, zp_out) = in_q, out_q
    scale = 1.0 / float(np.sqrt(_f32(s_in)) * _f32(s_out))  # SetRsqrtOutputMultiplier
    mult, shift = quantize_multiplier(scale)
    if shift - RSQRT_HEADROOM < -31:
        raise Unsupported(f"RSQRT output multiplier {scale:g} is too small (TFLite's shift leaves its range)")
    value = ALL_INT8 - zp_in
    m, s = inv_sqrt_multiplier_exp(np.maximum(value, 1))
    data = multiply_by_quantized_multiplier(1, m, s + RSQRT_HEADROOM)
    out = multiply_by_quantized_multiplier(data, mult, shift - RSQRT_HEADROOM) + zp_out
    out = np.where(value > 0, out, 127)
    return np.clip(out, -128, 127)


# ---------------------------------------------------------------- lowering

TABLES: dict[str, Callable[[tuple[float, int], tuple[float, int]], np.ndarray]] = {
    "RELU": relu_table,
    "RELU6": relu6_table,
    "RELU_N1_TO_1": relu_n1_to_1_table,
    "HARD_SWISH": hard_swish_table,
    "TANH": tanh_table,
    "RSQRT": rsqrt_table,
}


def _quant(t: Tensor, name: str, role: str) -> tuple[float, int]:
    if t.dtype != "int8":
        raise Unsupported(f"{name} on {t.dtype} ({role}; only int8)")
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"{name} whose {role} is not per-tensor quantized")
    if not t.scale > 0.0:
        raise Unsupported(f"{name} whose {role} has scale {t.scale}")
    return t.scale, t.zero_point


def op_table(op: Operator, graph: Graph) -> np.ndarray:
    """The 256 outputs of `op` for inputs -128..127, by TFLM's arithmetic."""
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported(f"{name} with {len(ins)} inputs and {len(op.outputs)} outputs (needs one of each)")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if x.size != y.size:
        raise Unsupported(f"{name} with input shape {x.shape} and output shape {y.shape}")
    return TABLES[name](_quant(x, name, "input"), _quant(y, name, "output")).astype(np.int8)


def lower_unary(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) == 1 and ins[0] is not None and ins[0].dtype == "int16" and op.op_type in RELU_S16_OPS:
        return lower_relu_s16(op, graph)  # no table for 65536 values: relu_s16.py computes
    table = op_table(op, graph)
    x = graph.op_inputs(op)[0]
    assert x is not None
    return [KernelCall("lut_s8", LutParams(x.size), (x.index,), (ConstArray("table", table),), (op.outputs[0],),
                       op.index, in_place=True)]


def lut_s8_ref(p: LutParams, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.int8).reshape(-1)[: p.size]
    return np.asarray(table, dtype=np.int8)[flat.astype(np.int64) + 128]


LOWERINGS = {name: lower_unary for name in TABLES}
REFERENCES = {"lut_s8": lut_s8_ref}
