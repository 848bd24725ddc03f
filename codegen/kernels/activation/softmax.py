"""SOFTMAX and LOG_SOFTMAX over the last axis of int8 tensors, as TFLite Micro's reference kernels.

Prepare (here) turns beta * input_scale into a Q0.31 multiplier and left shift that map a difference from
the row maximum to Q5.26, plus diff_min, the difference below which exp() is negligible. The kernels
(mcu_runtime/activation/softmax_s8.c) then run gemmlowp's fixed-point exp / reciprocal / log.

LOG_SOFTMAX also has a float32 kernel, because models with float outputs (lenet-300-100) dequantize the
logits first; it follows TFLM's float reference, but with correctly rounded expf/logf of our own
(mcu_runtime/common/float_math.c, ported below operation by operation) instead of the C library's, so the host
and the device give the same bits without libm.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels import gemmlowp as gf
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import (
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

HEADER = "softmax_s8.h"

SCALED_DIFF_INTEGER_BITS = 5  # exp() input format Q5.26
ACCUMULATION_INTEGER_BITS = 12  # sum of exps format Q12.19
LOG_OUTPUT_INTEGER_BITS = 4
SOFTMAX_OUTPUT_SCALE = 1.0 / 256  # exactly representable in float32, compared exactly as TFLM does
SOFTMAX_OUTPUT_ZERO_POINT = -128
LOG_SOFTMAX_OUTPUT_SCALE = 16.0 / 256
LOG_SOFTMAX_OUTPUT_ZERO_POINT = 127
# One exp(0) adds 2^19 to the Q12.19 sum: from 4096 entries on, TFLite's int32 sum can overflow.
MAX_LOG_SOFTMAX_DEPTH = 4095
# The softmax kernel keeps the sum in uint32 (same bits as TFLite's int32) and is exact until 2^32.
MAX_SOFTMAX_DEPTH = 8191


@dataclass(frozen=True)
class SoftmaxParams(KernelParams):
    C_TYPE = "softmax_s8_params_t"
    outer_size: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    diff_min: int = cfield("int32_t")


@dataclass(frozen=True)
class LogSoftmaxParams(KernelParams):
    C_TYPE = "log_softmax_s8_params_t"
    outer_size: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    reverse_scaling_divisor: int = cfield("int32_t")
    reverse_scaling_right_shift: int = cfield("int32_t")
    diff_min: int = cfield("int32_t")


@dataclass(frozen=True)
class LogSoftmaxF32Params(KernelParams):
    C_TYPE = "log_softmax_f32_params_t"
    outer_size: int = cfield("int32_t")
    depth: int = cfield("int32_t")


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """TFLite's PreprocessSoftmaxScaling (double-rounding build): beta * scale * 2^(31 - bits), capped at
    2^31 - 1, as a multiplier greater than one. Raises Unsupported where TFLite's Prepare would abort.
    """
    # Same double operations, in the same order, as the C++ (the power of two is exact).
    real = min(beta * input_scale * float(1 << (31 - input_integer_bits)), float((1 << 31) - 1))
    if not real > 1.0:
        raise Unsupported(f"beta * input scale = {beta * input_scale:g} is too small (TFLite requires "
                          f"beta * scale * 2^{31 - input_integer_bits} > 1)")
    multiplier, shift = quantize_multiplier(real)
    return multiplier, shift


def preprocess_log_softmax_scaling_exp(input_scale: float) -> tuple[int, int, int, int]:
    """TFLite's PreprocessLogSoftmaxScalingExp with beta = 1: (multiplier, left shift, reverse divisor,
    reverse right shift)."""
    multiplier, left_shift = preprocess_softmax_scaling(1.0, input_scale, SCALED_DIFF_INTEGER_BITS)
    real_reverse = float(1 << (31 - left_shift)) / float(multiplier)
    if not 0.0 < real_reverse < 1.0:
        raise Unsupported(f"LOG_SOFTMAX input scale {input_scale:g} gives a reverse scaling of "
                          f"{real_reverse:g} (TFLite requires it in (0, 1))")
    divisor, shift = quantize_multiplier(real_reverse)
    if shift > 0:
        raise Unsupported(f"LOG_SOFTMAX input scale {input_scale:g}: reverse scaling shift {shift} > 0")
    return multiplier, left_shift, divisor, -shift


def _check_int8_io(op: Operator, x: Tensor, y: Tensor, scale: float, zero_point: int) -> tuple[int, int]:
    name = op.op_type
    if x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported(f"{name} from {x.dtype} to {y.dtype} (only int8 to int8)")
    if x.quant is None or x.quant.per_channel or y.quant is None or y.quant.per_channel:
        raise Unsupported(f"{name} needs per-tensor quantized input and output")
    if (y.scale, y.zero_point) != (scale, zero_point):
        raise Unsupported(f"{name} output quantization scale {y.scale:g}, zero point {y.zero_point} "
                          f"(TFLite requires scale {scale:g}, zero point {zero_point})")
    if len(x.shape) < 1 or tuple(x.shape) != tuple(y.shape):
        raise Unsupported(f"{name} with input shape {x.shape} and output shape {y.shape}")
    depth = int(x.shape[-1])
    if depth < 1:
        raise Unsupported(f"{name} over an empty axis")
    return x.size // depth, depth


def lower_softmax(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    outer, depth = _check_int8_io(op, x, y, SOFTMAX_OUTPUT_SCALE, SOFTMAX_OUTPUT_ZERO_POINT)
    if depth > MAX_SOFTMAX_DEPTH:
        raise Unsupported(f"SOFTMAX rows of {depth} values (at most {MAX_SOFTMAX_DEPTH}: "
                          "the Q12 sum overflows)")
    beta = float(op.options.get("beta", 1.0))
    multiplier, shift = preprocess_softmax_scaling(beta, x.scale, SCALED_DIFF_INTEGER_BITS)
    diff_min = -gf.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    params = SoftmaxParams(outer, depth, multiplier, shift, diff_min)
    return [KernelCall("softmax_s8", params, (x.index,), (), (y.index,), op.index, in_place=True)]


def lower_log_softmax(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x.dtype == "float32" and y.dtype == "float32":
        if len(x.shape) < 1 or tuple(x.shape) != tuple(y.shape) or x.shape[-1] < 1:
            raise Unsupported(f"LOG_SOFTMAX with input shape {x.shape} and output shape {y.shape}")
        params_f32 = LogSoftmaxF32Params(x.size // int(x.shape[-1]), int(x.shape[-1]))
        return [KernelCall("log_softmax_f32", params_f32, (x.index,), (), (y.index,), op.index,
                           in_place=True)]
    outer, depth = _check_int8_io(op, x, y, LOG_SOFTMAX_OUTPUT_SCALE, LOG_SOFTMAX_OUTPUT_ZERO_POINT)
    if depth > MAX_LOG_SOFTMAX_DEPTH:
        raise Unsupported(f"LOG_SOFTMAX rows of {depth} values (at most {MAX_LOG_SOFTMAX_DEPTH}: "
                          "TFLite's Q12 sum overflows)")
    multiplier, shift, divisor, right_shift = preprocess_log_softmax_scaling_exp(x.scale)
    diff_min = -gf.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    params = LogSoftmaxParams(outer, depth, multiplier, shift, divisor, right_shift, diff_min)
    return [KernelCall("log_softmax_s8", params, (x.index,), (), (y.index,), op.index, in_place=True)]


def _rows_and_exps(outer: int, depth: int, multiplier: int, shift: int, diff_min: int,
                   x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the differences from the max, which pass diff_min, their exps (Q0.31), and the Q12.19 sum."""
    rows = np.asarray(x, dtype=np.int64).reshape(outer, depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    keep = diff >= diff_min
    # Differences that fail diff_min are never rescaled by TFLite (they could overflow): zero them first.
    safe_diff = np.where(keep, diff, 0)
    scaled = multiply_by_quantized_multiplier(safe_diff, multiplier, shift)
    exps = gf.exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    contrib = np.where(keep, gf.rescale(exps, 0, ACCUMULATION_INTEGER_BITS), 0)
    # depth <= 8191 keeps the sum below 2^32, so int64 holds TFLite's int32 sum's bit pattern exactly.
    sums = contrib.sum(axis=1) & 0xFFFFFFFF
    return diff, keep, exps, sums


def softmax_s8_ref(p: SoftmaxParams, x: np.ndarray) -> np.ndarray:
    diff, keep, exps, sums = _rows_and_exps(p.outer_size, p.depth, p.input_multiplier, p.input_left_shift,
                                            p.diff_min, x)
    recip, bits_over_unit = gf.get_reciprocal(sums, ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    # exponent > 31 (sum >= 512): TFLM aborts; every probability is <= 1/512 and the kernel outputs -128.
    valid_row = exponent <= 31
    prob = saturating_rounding_doubling_high_mul(recip[:, None], exps)
    out = rounding_divide_by_pot(prob, np.minimum(exponent, 31)[:, None]) - 128
    out = np.where(keep & valid_row[:, None], np.clip(out, -128, 127), -128)
    return out.astype(np.int8).reshape(np.shape(x))


def log_softmax_s8_ref(p: LogSoftmaxParams, x: np.ndarray) -> np.ndarray:
    diff, _, _, sums = _rows_and_exps(p.outer_size, p.depth, p.input_multiplier, p.input_left_shift,
                                      p.diff_min, x)
    log_sum = gf.log_x_for_x_greater_than_or_equal_to_1(gf.wrap32(sums), ACCUMULATION_INTEGER_BITS,
                                                         SCALED_DIFF_INTEGER_BITS)
    bound = multiply_by_quantized_multiplier(gf.wrap32(log_sum + INT32_MIN), p.reverse_scaling_divisor,
                                             -p.reverse_scaling_right_shift)
    adjusted_diff_min = np.maximum(p.diff_min - 1, bound)[:, None]
    keep = diff > adjusted_diff_min
    scaled = multiply_by_quantized_multiplier(np.where(keep, diff, 0), p.input_multiplier, p.input_left_shift)
    shift = 31 - SCALED_DIFF_INTEGER_BITS - LOG_OUTPUT_INTEGER_BITS
    out = rounding_divide_by_pot(gf.wrap32(scaled - log_sum[:, None]), shift) + 127
    out = np.where(keep, np.clip(out, -128, 127), -128)
    return out.astype(np.int8).reshape(np.shape(x))


def softmax_rows_beyond_tflm(p: SoftmaxParams, x: np.ndarray) -> np.ndarray:
    """Per row: True where the sum of exps reaches 512. TFLM aborts there (TFLITE_CHECK on the output
    shift); softmax_s8 outputs -128 throughout, the value every probability <= 1/512 rounds to."""
    _, _, _, sums = _rows_and_exps(p.outer_size, p.depth, p.input_multiplier, p.input_left_shift,
                                   p.diff_min, x)
    _, bits_over_unit = gf.get_reciprocal(sums, ACCUMULATION_INTEGER_BITS)
    return bits_over_unit + 31 - 8 > 31


# ---------------------------------------------------------------------------------------------------------
# mcu_expf / mcu_logf: a port of mcu_runtime/common/float_math.c to Python floats (IEEE doubles, round to
# nearest, no FMA), so every operation below rounds exactly as its C counterpart and the results are the same
# bits. The comments and the error analysis are in the C file; keep the two in step.

_LN2_HI = float.fromhex("0x1.62e42fefa3a00p-1")
_LN2_MID = float.fromhex("-0x1.0ca86c3898d00p-49")
_LN2_LO = float.fromhex("0x1.f97b57a079a19p-103")
_INV_LN2 = float.fromhex("0x1.71547652b82fep+0")
_SQRT2 = float.fromhex("0x1.6a09e667f3bcdp+0")
_ZIV_MARGIN = float.fromhex("0x1p-46")
_EXP_FAST_DEGREE = 13
_LOG_FAST_DEGREE = 10


def _dd_table(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[float, float], ...]:
    return tuple((float.fromhex(hi), float.fromhex(lo)) for hi, lo in pairs)


# 1/k!, k = 0..22, as (nearest double, nearest double to the rest).
_EXP_COEFFS = _dd_table((
    ("0x1.0000000000000p+0", "0x0.0p+0"), ("0x1.0000000000000p+0", "0x0.0p+0"),
    ("0x1.0000000000000p-1", "0x0.0p+0"), ("0x1.5555555555555p-3", "0x1.5555555555555p-57"),
    ("0x1.5555555555555p-5", "0x1.5555555555555p-59"), ("0x1.1111111111111p-7", "0x1.1111111111111p-63"),
    ("0x1.6c16c16c16c17p-10", "-0x1.f49f49f49f49fp-65"), ("0x1.a01a01a01a01ap-13", "0x1.a01a01a01a01ap-73"),
    ("0x1.a01a01a01a01ap-16", "0x1.a01a01a01a01ap-76"), ("0x1.71de3a556c734p-19", "-0x1.c154f8ddc6c00p-73"),
    ("0x1.27e4fb7789f5cp-22", "0x1.cbbc05b4fa99ap-76"), ("0x1.ae64567f544e4p-26", "-0x1.c062e06d1f209p-80"),
    ("0x1.1eed8eff8d898p-29", "-0x1.2aec959e14c06p-83"), ("0x1.6124613a86d09p-33", "0x1.f28e0cc748ebep-87"),
    ("0x1.93974a8c07c9dp-37", "0x1.05d6f8a2efd1fp-92"), ("0x1.ae7f3e733b81fp-41", "0x1.1d8656b0ee8cbp-97"),
    ("0x1.ae7f3e733b81fp-45", "0x1.1d8656b0ee8cbp-101"), ("0x1.952c77030ad4ap-49", "0x1.ac981465ddc6cp-103"),
    ("0x1.6827863b97d97p-53", "0x1.eec01221a8b0bp-107"), ("0x1.2f49b46814157p-57", "0x1.2650f61dbdcb4p-112"),
    ("0x1.e542ba4020225p-62", "0x1.ea72b4afe3c2fp-120"), ("0x1.71b8ef6dcf572p-66", "-0x1.d043ae40c4647p-120"),
    ("0x1.0ce396db7f853p-70", "-0x1.aebcdbd20331cp-124"),
))
# 1/(2n+1), n = 0..20.
_ATANH_COEFFS = _dd_table((
    ("0x1.0000000000000p+0", "0x0.0p+0"), ("0x1.5555555555555p-2", "0x1.5555555555555p-56"),
    ("0x1.999999999999ap-3", "-0x1.999999999999ap-57"), ("0x1.2492492492492p-3", "0x1.2492492492492p-57"),
    ("0x1.c71c71c71c71cp-4", "0x1.c71c71c71c71cp-58"), ("0x1.745d1745d1746p-4", "-0x1.745d1745d1746p-59"),
    ("0x1.3b13b13b13b14p-4", "-0x1.3b13b13b13b14p-58"), ("0x1.1111111111111p-4", "0x1.1111111111111p-60"),
    ("0x1.e1e1e1e1e1e1ep-5", "0x1.e1e1e1e1e1e1ep-61"), ("0x1.af286bca1af28p-5", "0x1.af286bca1af28p-59"),
    ("0x1.8618618618618p-5", "0x1.8618618618618p-59"), ("0x1.642c8590b2164p-5", "0x1.642c8590b2164p-60"),
    ("0x1.47ae147ae147bp-5", "-0x1.eb851eb851eb8p-61"), ("0x1.2f684bda12f68p-5", "0x1.2f684bda12f68p-59"),
    ("0x1.1a7b9611a7b96p-5", "0x1.1a7b9611a7b96p-61"), ("0x1.0842108421084p-5", "0x1.0842108421084p-60"),
    ("0x1.f07c1f07c1f08p-6", "-0x1.f07c1f07c1f08p-61"), ("0x1.d41d41d41d41dp-6", "0x1.0750750750750p-60"),
    ("0x1.bacf914c1bad0p-6", "-0x1.bacf914c1bad0p-60"), ("0x1.a41a41a41a41ap-6", "0x1.0690690690690p-60"),
    ("0x1.8f9c18f9c18fap-6", "-0x1.f3831f3831f38p-61"),
))
# Every hex constant of float_math.c, in the order the file spells them (tests compare the two).
FLOAT_MATH_CONSTANTS = (_LN2_HI, _LN2_MID, _LN2_LO, _INV_LN2, _SQRT2,
                        *(v for pair in _EXP_COEFFS for v in pair),
                        *(v for pair in _ATANH_COEFFS for v in pair), _ZIV_MARGIN)

DD = tuple[float, float]


def _round_f32(v: float) -> float:
    """v rounded to float32 (nearest, ties to even; +-inf past the overflow threshold), as a Python float.
    struct's C cast is far cheaper than a NumPy scalar."""
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:  # raised exactly where the cast rounds a finite double to infinity
        return math.copysign(math.inf, v)


def _bits(d: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", d))[0]


def _from_bits(u: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", u))[0]


def _two_sum(a: float, b: float) -> DD:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a: float, b: float) -> DD:
    s = a + b
    return s, b - (s - a)


def _split(a: float) -> DD:
    c = 134217729.0 * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a: float, b: float) -> DD:
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_add(a: DD, b: DD) -> DD:
    s = _two_sum(a[0], b[0])
    t = _two_sum(a[1], b[1])
    r = _fast_two_sum(s[0], s[1] + t[0])
    return _fast_two_sum(r[0], r[1] + t[1])


def _dd_mul(a: DD, b: DD) -> DD:
    p = _two_prod(a[0], b[0])
    return _fast_two_sum(p[0], p[1] + (a[0] * b[1] + a[1] * b[0]))


def _dd_horner(coeffs: tuple[DD, ...], degree: int, x: DD) -> DD:
    acc = coeffs[degree]
    for i in range(degree - 1, -1, -1):
        acc = _dd_add(_dd_mul(acc, x), coeffs[i])
    return acc


def _dd_to_float(v: DD, k: int) -> np.float32:
    u = _bits(v[0])
    if v[1] != 0.0 and u & 1 == 0:
        u = u + 1 if (v[1] > 0.0) == (v[0] > 0.0) else u - 1
    return np.float32(_round_f32(_from_bits(u) * math.ldexp(1.0, k)))


def _ziv(y: float) -> np.float32 | None:
    margin = y * _ZIV_MARGIN
    a, b = _round_f32(y - margin), _round_f32(y + margin)
    return np.float32(a) if a == b else None


def _exp_reduce(xd: float) -> tuple[int, float, float, float]:
    """x = k ln2 + r_hi + r_mid (+ k LN2_LO), for -104 <= x <= 89."""
    t = xd * _INV_LN2
    k = int(t + 0.5) if t >= 0.0 else int(t - 0.5)  # int() truncates like the C cast
    kd = float(k)
    return k, kd, xd - kd * _LN2_HI, -(kd * _LN2_MID)


def exp_fast_path(xd: float) -> np.float32 | None:
    """mcu_expf's double evaluation for -104 <= x <= 89; None where Ziv's test sends x to exp_slow_path."""
    k, _, r_hi, r_mid = _exp_reduce(xd)
    r = r_hi + r_mid
    p = _EXP_COEFFS[_EXP_FAST_DEGREE][0]
    for i in range(_EXP_FAST_DEGREE - 1, 0, -1):
        p = p * r + _EXP_COEFFS[i][0]
    return _ziv((1.0 + r * p) * math.ldexp(1.0, k))


def exp_slow_path(xd: float) -> np.float32:
    """mcu_expf's double-double evaluation for -104 <= x <= 89."""
    k, kd, r_hi, r_mid = _exp_reduce(xd)
    r = _two_sum(r_hi, r_mid)
    r = _two_sum(r[0], r[1] - kd * _LN2_LO)
    return _dd_to_float(_dd_horner(_EXP_COEFFS, len(_EXP_COEFFS) - 1, r), k)


def _log_reduce(xd: float) -> tuple[float, float, float]:
    """x = 2^e m, m in [sqrt(2)/2, sqrt(2)]: (m - 1, m + 1, e), for finite x > 0."""
    u = _bits(xd)
    e = (u >> 52) - 1023
    m = _from_bits((u & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    if m > _SQRT2:
        m *= 0.5
        e += 1
    return m - 1.0, m + 1.0, float(e)


def log_fast_path(xd: float) -> np.float32 | None:
    """mcu_logf's double evaluation for finite x > 0, or None where Ziv's test sends it to log_slow_path."""
    num, den, ed = _log_reduce(xd)
    s = num / den
    z = s * s
    p = _ATANH_COEFFS[_LOG_FAST_DEGREE][0]
    for i in range(_LOG_FAST_DEGREE - 1, -1, -1):
        p = p * z + _ATANH_COEFFS[i][0]
    log_m = (s + s) * p
    return _ziv(ed * _LN2_HI + (ed * _LN2_MID + log_m))


def log_slow_path(xd: float) -> np.float32:
    """mcu_logf's double-double evaluation for finite x > 0."""
    num, den, ed = _log_reduce(xd)
    q = num / den
    qd = _two_prod(q, den)
    s = _two_sum(q, ((num - qd[0]) - qd[1]) / den)
    p = _dd_horner(_ATANH_COEFFS, len(_ATANH_COEFFS) - 1, _dd_mul(s, s))
    log_m = _dd_mul(s, p)
    e_ln2 = _two_sum(ed * _LN2_HI, ed * _LN2_MID)
    e_ln2 = (e_ln2[0], e_ln2[1] + ed * _LN2_LO)
    return _dd_to_float(_dd_add(e_ln2, (log_m[0] * 2.0, log_m[1] * 2.0)), 0)


def mcu_expf(x: float) -> np.float32:
    """float_math.c's mcu_expf: exp of a float32, correctly rounded to float32."""
    xd = float(np.float32(x))
    if xd != xd:
        return np.float32(xd)
    if xd > 89.0:
        return np.float32(np.inf)
    if xd < -104.0:
        return np.float32(0.0)
    fast = exp_fast_path(xd)
    return exp_slow_path(xd) if fast is None else fast


def mcu_logf(x: float) -> np.float32:
    """float_math.c's mcu_logf: natural log of a float32, correctly rounded to float32."""
    xd = float(np.float32(x))
    if xd != xd:
        return np.float32(xd)
    if xd < 0.0:
        return np.float32(np.nan)
    if xd == 0.0:
        return np.float32(-np.inf)
    if xd == math.inf:
        return np.float32(np.inf)
    fast = log_fast_path(xd)
    return log_slow_path(xd) if fast is None else fast


def log_softmax_f32_ref(p: LogSoftmaxF32Params, x: np.ndarray) -> np.ndarray:
    """TFLM's float LogSoftmax (same float32 operations in the same order), with mcu_expf / mcu_logf."""
    rows = np.asarray(x, dtype=np.float32).reshape(p.outer_size, p.depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    exps = np.frompyfunc(mcu_expf, 1, 1)(diff).astype(np.float32)
    total = np.zeros(p.outer_size, dtype=np.float32)
    for c in range(p.depth):  # sequential float32 accumulation, as the C loop
        total = total + exps[:, c]
    log_sum = np.array([mcu_logf(v) for v in total], dtype=np.float32)
    return (diff - log_sum[:, None]).astype(np.float32).reshape(np.shape(x))


LOWERINGS = {"SOFTMAX": lower_softmax, "LOG_SOFTMAX": lower_log_softmax}
REFERENCES = {"softmax_s8": softmax_s8_ref, "log_softmax_s8": log_softmax_s8_ref,
              "log_softmax_f32": log_softmax_f32_ref}

