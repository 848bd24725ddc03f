"""L2_NORMALIZATION of an int8 tensor along its last dimension, as TFLite Micro (l2norm.cc and
reference_integer_ops::L2Normalization).

Per row: acc = sum (x - zp)^2 in int32; TFLite's GetInvSqrtQuantizedMultiplierExp turns acc into a Q0.31
multiplier and shift for 1/sqrt(acc) (normalise acc to [2^27, 2^29) by pairs of bits, five Newton-Raphson
steps in Q3.28, times sqrt(2)/2); each output is MultiplyByQuantizedMultiplier(x - zp, multiplier,
shift + 7) saturated to int8, the output scale being 1/128 and its zero point 0 (TFLM checks both). The
inverse square root runs on the device (acc depends on the data); `inv_sqrt_multiplier_exp` below is its
NumPy twin, also used by RSQRT's table (unary_lut.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels import gemmlowp as gf
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import INT32_MAX, multiply_by_quantized_multiplier, rounding_divide_by_pot

HEADER = "l2_normalization_s8.h"

OUTPUT_QUANT = (1.0 / 128, 0)
OUTPUT_SCALE_BITS = 7
HALF_SQRT_2 = 1518500250  # sqrt(2) / 2 in Q0.31
# (255^2) * depth must fit the int32 accumulator.
MAX_DEPTH = (2**31 - 1) // (255 * 255)


@dataclass(frozen=True)
class L2NormParams(KernelParams):
    C_TYPE = "l2_normalization_s8_params_t"
    outer: int = cfield("int32_t")  # rows
    depth: int = cfield("int32_t")  # the last dimension
    input_zero_point: int = cfield("int32_t")


def inv_sqrt_multiplier_exp(value) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetInvSqrtQuantizedMultiplierExp(value, kReverseShift), element-wise on int32 values >= 0:
    1/sqrt(value) as (Q0.31 multiplier, left shift <= 0); values 0 and 1 give (INT32_MAX, 0)."""
    v = np.asarray(value, dtype=np.int64)
    small = v <= 1
    v = np.where(small, 2, v)  # any valid value: overwritten below
    shift = np.full(v.shape, 11, dtype=np.int64)
    for _ in range(2):  # int32 values need at most two divisions by 4 to drop below 2^29
        big = v >= 1 << 29
        v = np.where(big, v // 4, v)
        shift = shift + big
    pairs = (gf.clz32(v) - 1) // 2 - 1
    shift = shift - pairs
    v = v << (2 * pairs)
    half_input = rounding_divide_by_pot(v >> 1, 1)  # Q3.28 input, halved
    half_three = (1 << 28) + (1 << 27)  # 1.5 in Q3.28
    x = np.full(v.shape, 1 << 28, dtype=np.int64)  # 1.0
    for _ in range(5):
        x3 = gf.rescale(gf.srdhm(gf.srdhm(x, x), x), 9, 3)
        x = gf.rescale(gf.wrap32(gf.srdhm(half_three, x) - gf.srdhm(half_input, x3)), 6, 3)
    multiplier = gf.srdhm(x, HALF_SQRT_2)
    negative = shift < 0
    multiplier = np.where(negative, gf.wrap32(multiplier << np.where(negative, -shift, 0)), multiplier)
    shift = np.where(negative, 0, shift)
    return np.where(small, INT32_MAX, multiplier), np.where(small, 0, -shift)


def lower_l2_normalization(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None or x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported("on non-int8 tensors (only int8)")
    if x.quant is None or x.quant.per_channel or y.quant is None or y.quant.per_channel:
        raise Unsupported("needs per-tensor quantized input and output")
    if (y.scale, y.zero_point) != OUTPUT_QUANT:
        raise Unsupported(f"output quantization scale {y.scale:g}, zero point {y.zero_point} "
                          "(TFLite requires scale 1/128, zero point 0)")
    if op.options.get("activation", "NONE") != "NONE":
        raise Unsupported(f"with fused {op.options['activation']} (TFLite Micro accepts none)")
    if not x.shape or tuple(x.shape) != tuple(y.shape):
        raise Unsupported(f"with input shape {x.shape} and output shape {y.shape}")
    depth = int(x.shape[-1])
    if depth > MAX_DEPTH:
        raise Unsupported(f"over {depth} elements (at most {MAX_DEPTH}: the int32 accumulator)")
    params = L2NormParams(x.size // depth, depth, x.zero_point)
    return [KernelCall("l2_normalization_s8", params, (x.index,), (), (y.index,), op.index, in_place=True)]


def l2_normalization_s8_ref(p: L2NormParams, x: np.ndarray) -> np.ndarray:
    rows = np.asarray(x, dtype=np.int64).reshape(p.outer, p.depth) - p.input_zero_point
    multiplier, shift = inv_sqrt_multiplier_exp((rows * rows).sum(axis=1, keepdims=True))
    out = multiply_by_quantized_multiplier(rows, multiplier, shift + OUTPUT_SCALE_BITS)
    return np.clip(out, -128, 127).astype(np.int8).reshape(-1)


LOWERINGS = {"L2_NORMALIZATION": lower_l2_normalization}
REFERENCES = {"l2_normalization_s8": l2_normalization_s8_ref}
