"""LOGISTIC (sigmoid) for int8 tensors, as TFLite Micro's reference integer kernel.

Prepare (here) maps the input scale to a Q4.27 multiplier/shift and an input radius beyond which the
output saturates; the kernel (mcu_runtime/activation/logistic_s8.c) evaluates gemmlowp's fixed-point logistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels import gemmlowp as gf
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, rounding_divide_by_pot

HEADER = "logistic_s8.h"

INPUT_INTEGER_BITS = 4  # the kernel evaluates logistic on Q4.27 inputs
OUTPUT_SCALE = 1.0 / 256
OUTPUT_ZERO_POINT = -128


@dataclass(frozen=True)
class LogisticParams(KernelParams):
    C_TYPE = "logistic_s8_params_t"
    size: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    input_range_radius: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")


def logistic_input_scaling(input_scale: float) -> tuple[int, int, int]:
    """(multiplier, left shift, input radius) exactly as TFLM's CalculateArithmeticOpDataLogistic.

    Unlike QuantizeMultiplier there is no renormalisation after rounding: for a float32 scale the
    mantissa has 24 bits, so round(q * 2^31) never reaches 2^31.
    """
    real = input_scale * float(1 << (31 - INPUT_INTEGER_BITS))
    if not real > 0.0:
        raise Unsupported(f"LOGISTIC input scale {input_scale:g} is not positive")
    q, shift = math.frexp(real)
    multiplier = math.floor(q * (1 << 31) + 0.5)  # TfLiteRound of a positive value
    if multiplier >= 1 << 31:
        raise Unsupported(f"LOGISTIC input scale {input_scale!r} overflows TFLite's multiplier")
    if shift < 0:
        raise Unsupported(f"LOGISTIC input scale {input_scale:g} is too small (below 2^-28)")
    radius = gf.calculate_input_radius(INPUT_INTEGER_BITS, shift, 31)
    return multiplier, shift, radius


def lower_logistic(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported(f"LOGISTIC from {x.dtype} to {y.dtype} (only int8 to int8)")
    if x.quant is None or x.quant.per_channel or y.quant is None or y.quant.per_channel:
        raise Unsupported("LOGISTIC needs per-tensor quantized input and output")
    if (y.scale, y.zero_point) != (OUTPUT_SCALE, OUTPUT_ZERO_POINT):
        raise Unsupported(f"LOGISTIC output quantization scale {y.scale:g}, zero point {y.zero_point} "
                          f"(TFLite requires scale {OUTPUT_SCALE:g}, zero point {OUTPUT_ZERO_POINT})")
    if x.size != y.size:
        raise Unsupported(f"LOGISTIC with input shape {x.shape} and output shape {y.shape}")
    multiplier, shift, radius = logistic_input_scaling(x.scale)
    params = LogisticParams(x.size, x.zero_point, radius, multiplier, shift)
    return [KernelCall("logistic_s8", params, (x.index,), (), (y.index,), op.index, in_place=True)]


def logistic_s8_ref(p: LogisticParams, x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.int64) - p.input_zero_point
    inside = (v > -p.input_range_radius) & (v < p.input_range_radius)
    # Outside the radius TFLite never rescales (the shift could overflow): zero those first.
    q4 = multiply_by_quantized_multiplier(np.where(inside, v, 0), p.input_multiplier, p.input_left_shift)
    q0 = gf.logistic(q4, INPUT_INTEGER_BITS)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 8) + OUTPUT_ZERO_POINT, -128, 127)
    out = np.where(inside, out, np.where(v <= -p.input_range_radius, -128, 127))
    return out.astype(np.int8)


LOWERINGS = {"LOGISTIC": lower_logistic}
REFERENCES = {"logistic_s8": logistic_s8_ref}
