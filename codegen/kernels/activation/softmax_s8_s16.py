"""SOFTMAX from int8 to int16 (keyword-spotting models put it after an int8 classifier), as TFLite Micro's
reference: the int8 softmax's fixed-point exps and reciprocal, with 16 output bits instead of 8. The output
quantization must be zero point -32768 and scale 1/65536 within TFLM's tolerance (0.1%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels import gemmlowp as gf
from codegen.kernels.activation.softmax import (
    ACCUMULATION_INTEGER_BITS,
    MAX_SOFTMAX_DEPTH,
    SCALED_DIFF_INTEGER_BITS,
    _rows_and_exps,
    preprocess_softmax_scaling,
)
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

HEADER = "softmax_s8_s16.h"
OUTPUT_SCALE = 1.0 / 65536
OUTPUT_ZERO_POINT = -32768


@dataclass(frozen=True)
class SoftmaxS8S16Params(KernelParams):
    C_TYPE = "softmax_s8_s16_params_t"
    outer_size: int = cfield("int32_t")
    depth: int = cfield("int32_t")
    input_multiplier: int = cfield("int32_t")
    input_left_shift: int = cfield("int32_t")
    diff_min: int = cfield("int32_t")


def _accepts(op: Operator, graph: Graph) -> bool:
    x, y = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    return x is not None and x.dtype == "int8" and y.dtype == "int16"


def lower_softmax_s8_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    assert x is not None
    if x.quant is None or x.quant.per_channel or y.quant is None or y.quant.per_channel:
        raise Unsupported("SOFTMAX needs per-tensor quantized input and output")
    tolerance = float(np.float32(0.001) * np.float32(OUTPUT_SCALE))
    if y.zero_point != OUTPUT_ZERO_POINT or not abs(float(np.float32(y.scale)) - OUTPUT_SCALE) <= tolerance:
        raise Unsupported(f"SOFTMAX int16 output scale {y.scale:g}, zero point {y.zero_point} (TFLite Micro "
                          f"requires scale 1/65536 within 0.1%, zero point {OUTPUT_ZERO_POINT})")
    if len(x.shape) < 1 or tuple(x.shape) != tuple(y.shape) or int(x.shape[-1]) < 1:
        raise Unsupported(f"SOFTMAX with input shape {x.shape} and output shape {y.shape}")
    depth = int(x.shape[-1])
    if depth > MAX_SOFTMAX_DEPTH:
        raise Unsupported(f"SOFTMAX rows of {depth} values (at most {MAX_SOFTMAX_DEPTH}: the Q12 sum overflows)")
    multiplier, shift = preprocess_softmax_scaling(float(op.options.get("beta", 1.0)), x.scale,
                                                   SCALED_DIFF_INTEGER_BITS)
    diff_min = -gf.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    params = SoftmaxS8S16Params(x.size // depth, depth, multiplier, shift, diff_min)
    return [KernelCall("softmax_s8_s16", params, (x.index,), (), (y.index,), op.index)]


def softmax_s8_s16_ref(p: SoftmaxS8S16Params, x: np.ndarray) -> np.ndarray:
    _, keep, exps, sums = _rows_and_exps(p.outer_size, p.depth, p.input_multiplier, p.input_left_shift,
                                         p.diff_min, x)
    recip, bits_over_unit = gf.get_reciprocal(sums, ACCUMULATION_INTEGER_BITS)
    # 16 fractional output bits; the sum of exps stays below 2^13 for depth <= 8191, so exponent <= 28.
    exponent = bits_over_unit + 31 - 16
    prob = saturating_rounding_doubling_high_mul(recip[:, None], exps)
    out = rounding_divide_by_pot(prob, exponent[:, None]) + OUTPUT_ZERO_POINT
    out = np.where(keep, np.clip(out, -32768, 32767), OUTPUT_ZERO_POINT)
    return out.astype(np.int16).reshape(np.shape(x))


LOWERINGS: dict = {}
VARIANTS = {"SOFTMAX": (_accepts, lower_softmax_s8_s16)}
REFERENCES = {"softmax_s8_s16": softmax_s8_s16_ref}
