"""SOFTMAX and LOG_SOFTMAX over the last axis of int8 tensors, as TFLite Micro's reference kernels.

Prepare (here) turns beta * input_scale into a Q0.31 multiplier and left shift that map a difference from
the row maximum to Q5.26, plus diff_min, the difference below which exp() is negligible. The kernels
(mcu_runtime/src/softmax_s8.c) then run gemmlowp's fixed-point exp / reciprocal / log.

LOG_SOFTMAX also has a float32 kernel, because models with float outputs (lenet-300-100) dequantize the
logits first; it follows TFLM's float reference with the C library's expf/logf.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from codegen import gemmlowp_fixedpoint as gf
from codegen.fixedpoint import (
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield

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


def _libm() -> tuple[np.ufunc, np.ufunc]:
    """The C library's expf and logf: TFLM's float kernels call exactly these (std::exp/std::log on float),
    and NumPy's own float32 exp/log differ from them by several ulp."""
    lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    funcs = []
    for name in ("expf", "logf"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_float]
        funcs.append(np.frompyfunc(fn, 1, 1))
    return funcs[0], funcs[1]


def log_softmax_f32_ref(p: LogSoftmaxF32Params, x: np.ndarray) -> np.ndarray:
    expf, logf = _libm()
    rows = np.asarray(x, dtype=np.float32).reshape(p.outer_size, p.depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    exps = expf(diff).astype(np.float32)
    total = np.zeros(p.outer_size, dtype=np.float32)
    for c in range(p.depth):  # sequential float32 accumulation, as the C loop
        total = total + exps[:, c]
    log_sum = logf(total).astype(np.float32)
    return (diff - log_sum[:, None]).astype(np.float32).reshape(np.shape(x))


LOWERINGS = {"SOFTMAX": lower_softmax, "LOG_SOFTMAX": lower_log_softmax}
REFERENCES = {"softmax_s8": softmax_s8_ref, "log_softmax_s8": log_softmax_s8_ref,
              "log_softmax_f32": log_softmax_f32_ref}

