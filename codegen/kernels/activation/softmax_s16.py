"""SOFTMAX with int16 output (16x8): int16 -> int16 and int8 -> int16, as TFLite Micro's reference kernels.

int16 -> int16 (reference_ops::SoftmaxInt16): input zero point 0, output scale 1/32768 and zero point 0.
  Prepare maps beta * input_scale to a multiplier that scales a difference from the row maximum so that
  [-65535, 0] covers [-10, 0] (double arithmetic, QuantizeMultiplier). The kernel recentres the scaled
  difference to int16, looks exp() up in a 513-entry table with linear interpolation between entries (the
  top 9 bits index, the low 7 interpolate), sums the Q0.15 exps, normalises the sum to [1, 2) and looks
  1/(1 + x) up in a second table, then multiplies and shifts back.
  TFLM builds both tables at Prepare time (LUTPopulate<int16_t> in float32 from std::exp and
  1 / (1 + x)); `int16_lut` computes the same float32 operations here, at compile time, with the
  project's correctly rounded expf (mcu_expf). A test checks the tables against ones built with the host
  libm's expf, which TFLM calls.
int8 -> int16 (reference_ops::Softmax<int8_t, int16_t>): the int8 algorithm of softmax.py (Q5.26
  differences, Q12.19 sum of exps, gemmlowp reciprocal) with 16 output bits: output scale 1/65536 and zero
  point -32768.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels import gemmlowp as gf
from codegen.kernels.activation.softmax import (
    ACCUMULATION_INTEGER_BITS,
    MAX_SOFTMAX_DEPTH,
    SCALED_DIFF_INTEGER_BITS,
    SoftmaxParams,
    _rows_and_exps,
    mcu_expf,
    preprocess_softmax_scaling,
)
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

HEADER = "softmax_s16.h"

LUT_SIZE = 513  # 512 interpolation intervals and their end point
_RANGE = 65535  # int16 max - int16 min
# Each exp in Q0.15 is at most 32767: the int32 sum holds rows this long.
MAX_SOFTMAX_S16_DEPTH = 65536


@dataclass(frozen=True)
class SoftmaxS16Params(KernelParams):
    C_TYPE = "softmax_s16_params_t"
    outer_size: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")  # beta * input_scale * 65535 / 10
    input_left_shift: int = cfield("int32_t")


@dataclass(frozen=True)
class SoftmaxS8S16Params(SoftmaxParams):
    C_TYPE = "softmax_s8_s16_params_t"


def _round_half_away(v: np.float32) -> np.float32:
    """std::round on a float: exact, since the double holds a float32 and 0.5 without rounding."""
    x = float(v)
    return np.float32(math.copysign(math.floor(abs(x) + 0.5), x))


def int16_lut(func: Callable[[np.float32], np.float32], input_scale: np.float32, input_zero_point: int,
              output_scale: np.float32, output_zero_point: int) -> np.ndarray:
    """TFLite's LUTPopulate<int16_t> arithmetic, every operation in float32: samples of func at 512 steps over
    the input range and its end point, each sample biased by half the error of linear interpolation at the
    step's midpoint."""
    f32 = np.float32
    input_min = input_scale * f32(-32768 - input_zero_point)
    input_max = input_scale * f32(32767 - input_zero_point)
    output_min = output_scale * f32(-32768 - output_zero_point)
    output_max = output_scale * f32(32767 - output_zero_point)
    steps = LUT_SIZE - 1
    step = (input_max - input_min) / f32(steps)
    half_step = step / f32(2)
    scaling_inv = f32(_RANGE + 1) / (output_max - output_min)
    lut = np.empty(LUT_SIZE, dtype=np.int16)
    for i in range(steps):
        at = input_min + f32(i) * step
        val = func(at)
        val_mid = func(at + half_step)
        val_next = func(input_min + f32(i + 1) * step)
        sample = _round_half_away(val * scaling_inv)
        interp_mid = _round_half_away((val_next * scaling_inv + _round_half_away(val * scaling_inv)) / f32(2))
        mid = _round_half_away(val_mid * scaling_inv)
        bias = _round_half_away((interp_mid - mid) / f32(2))
        lut[i] = int(min(max(sample - bias, f32(-32768)), f32(32767)))
    lut[steps] = int(min(max(_round_half_away(func(input_max) * scaling_inv), f32(-32768)), f32(32767)))
    return lut


def _exp(v: np.float32) -> np.float32:
    return mcu_expf(float(v))


def _one_over_one_plus_x(v: np.float32) -> np.float32:
    return np.float32(1) / (np.float32(1) + v)


@functools.cache
def softmax_luts(expf: Callable[[np.float32], np.float32] = _exp) -> tuple[np.ndarray, np.ndarray]:
    """(exp table over [-10, 0], 1/(1+x) table over [0, 1]), both to [-1, 1) in Q0.15, as TFLM's Prepare."""
    f32 = np.float32
    exp_lut = int16_lut(expf, f32(10.0) / f32(_RANGE), 32767, f32(2.0) / f32(_RANGE), 0)
    recip_lut = int16_lut(_one_over_one_plus_x, f32(1.0) / f32(_RANGE), -32768, f32(2.0) / f32(_RANGE), 0)
    exp_lut.flags.writeable = False
    recip_lut.flags.writeable = False
    return exp_lut, recip_lut


def _per_tensor(name: str, t: Tensor, what: str) -> None:
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"{name} needs a per-tensor quantized {what}")


def _near(value: float, target: float) -> bool:
    """TF_LITE_ENSURE_NEAR(value, target, 0.001 * target), in float32 as TFLM evaluates it."""
    f32 = np.float32
    return bool(abs(f32(value) - f32(target)) <= f32(0.001) * f32(target))


def lower_softmax_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("SOFTMAX without an input tensor")
    if y.dtype != "int16" or x.dtype not in ("int8", "int16"):
        raise Unsupported(f"SOFTMAX from {x.dtype} to {y.dtype} (int16 output takes int8 or int16 input)")
    _per_tensor("SOFTMAX", x, "input")
    _per_tensor("SOFTMAX", y, "output")
    if len(x.shape) < 1 or tuple(x.shape) != tuple(y.shape) or x.shape[-1] < 1:
        raise Unsupported(f"SOFTMAX with input shape {x.shape} and output shape {y.shape}")
    depth = int(x.shape[-1])
    outer = x.size // depth
    beta = float(np.float32(op.options.get("beta", 1.0)))
    if x.dtype == "int8":
        if y.zero_point != -32768 or not _near(y.scale, 1.0 / 65536):
            raise Unsupported(f"SOFTMAX int8 -> int16 output scale {y.scale:g}, zero point {y.zero_point} "
                              "(TFLite requires scale 1/65536, zero point -32768)")
        if depth > MAX_SOFTMAX_DEPTH:
            raise Unsupported(f"SOFTMAX rows of {depth} values (at most {MAX_SOFTMAX_DEPTH}: the Q12 sum overflows)")
        multiplier, shift = preprocess_softmax_scaling(beta, x.scale, SCALED_DIFF_INTEGER_BITS)
        diff_min = -gf.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
        p8 = SoftmaxS8S16Params(outer, depth, multiplier, shift, diff_min)
        return [KernelCall("softmax_s8_s16", p8, (x.index,), (), (y.index,), op.index)]
    if x.zero_point != 0 or y.zero_point != 0 or not _near(y.scale, 1.0 / 32768):
        raise Unsupported(f"SOFTMAX int16 with input zero point {x.zero_point}, output scale {y.scale:g} and zero "
                          f"point {y.zero_point} (TFLite requires 0, 1/32768 and 0)")
    if depth > MAX_SOFTMAX_S16_DEPTH:
        raise Unsupported(f"SOFTMAX rows of {depth} values (at most {MAX_SOFTMAX_S16_DEPTH}: the int32 sum overflows)")
    real = float(x.scale) * beta / (10.0 / 65535.0)
    if not real > 0.0:
        raise Unsupported(f"SOFTMAX int16 with beta * input scale = {real:g}")
    multiplier, shift = quantize_multiplier(real)
    exp_lut, recip_lut = softmax_luts()
    params = SoftmaxS16Params(outer, depth, multiplier, shift)
    consts = (ConstArray("exp_lut", exp_lut.copy()), ConstArray("recip_lut", recip_lut.copy()))
    return [KernelCall("softmax_s16", params, (x.index,), consts, (y.index,), op.index, in_place=True)]


def lut_lookup_s16(value: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite's LUTLookup for int16: the top 9 bits pick an interval, the low 7 interpolate in it."""
    v = np.asarray(value, dtype=np.int64)
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = lut[index].astype(np.int64)
    slope = (lut[index + 1].astype(np.int64) - base).astype(np.int16).astype(np.int64)
    delta = (slope * offset + 64) >> 7
    return (base + delta).astype(np.int16)


def softmax_s16_ref(p: SoftmaxS16Params, x: np.ndarray, exp_lut: np.ndarray, recip_lut: np.ndarray) -> np.ndarray:
    rows = np.asarray(x, dtype=np.int64).reshape(p.outer_size, p.depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    scaled = multiply_by_quantized_multiplier(diff, p.input_multiplier, p.input_left_shift)
    exps = lut_lookup_s16(np.clip(scaled + 32767, -32768, 32767), exp_lut).astype(np.int64)
    sums = exps.sum(axis=1)
    out = np.empty_like(exps)
    for i, total in enumerate(sums):
        headroom_plus_one = 32 - int(total).bit_length()  # CountLeadingZeros of a positive int32
        shifted = ((int(total) << (headroom_plus_one - 1)) + (1 << 13)) >> 14
        sym = min(max(shifted - ((1 << 15) + (1 << 16)), -32768), 32767)
        recip = int(lut_lookup_s16(np.array([sym]), recip_lut)[0])
        right_shift = 31 - headroom_plus_one
        out[i] = (exps[i] * recip + (1 << (right_shift - 1))) >> right_shift
    return np.clip(out, 0, 32767).astype(np.int16).reshape(np.shape(x))


def softmax_s8_s16_ref(p: SoftmaxS8S16Params, x: np.ndarray) -> np.ndarray:
    _, keep, exps, sums = _rows_and_exps(p.outer_size, p.depth, p.input_multiplier, p.input_left_shift,
                                         p.diff_min, x)
    recip, bits_over_unit = gf.get_reciprocal(sums, ACCUMULATION_INTEGER_BITS)
    exponent = (bits_over_unit + 31 - 16)[:, None]  # 16 output bits: at most 27, TFLM's check always holds
    prob = saturating_rounding_doubling_high_mul(recip[:, None], exps)
    out = np.clip(rounding_divide_by_pot(prob, exponent) - 32768, -32768, 32767)
    return np.where(keep, out, -32768).astype(np.int16).reshape(np.shape(x))


def _int16_output(op: Operator, graph: Graph) -> bool:
    return len(op.outputs) == 1 and graph.tensor(op.outputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"SOFTMAX": (_int16_output, lower_softmax_s16)}
REFERENCES = {"softmax_s16": softmax_s16_ref, "softmax_s8_s16": softmax_s8_s16_ref}
