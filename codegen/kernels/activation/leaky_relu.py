"""LEAKY_RELU for int8 and int16 tensors, as TFLite Micro's reference QuantizeLeakyRelu computes it.

Prepare (leaky_relu_common.cc) derives two multipliers in float32 arithmetic, widened to double:
identity = in_scale / out_scale for inputs at or above the zero point, alpha = in_scale * alpha / out_scale
below it (negative when alpha is). That is what TFLM's SEANet golden outputs (4 of the 23 LEAKY_RELU models
differ by 1 otherwise) and tflite-runtime 2.14 follow; the pre-release tflite-micro Python build the tests
also run computes in double, and disagrees on the rare values where the two roundings part (see
test_kernel_leaky_relu.py). Each element: (x - in_zp) times the chosen multiplier (TFLite's
double-rounding MultiplyByQuantizedMultiplier, which accepts a negative multiplier), plus out_zp, clamped to
the output type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.fixedpoint_s16 import INT_RANGES

HEADER = "leaky_relu.h"


@dataclass(frozen=True)
class LeakyReluParams(KernelParams):
    C_TYPE = "leaky_relu_params_t"
    size: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    identity_multiplier: int = cfield("int32_t")
    identity_shift: int = cfield("int32_t")
    alpha_multiplier: int = cfield("int32_t")  # may be negative
    alpha_shift: int = cfield("int32_t")


def leaky_relu_params(size: int, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                      alpha: float) -> LeakyReluParams:
    fi, fo, fa = np.float32(in_scale), np.float32(out_scale), np.float32(alpha)
    am, ash = quantize_multiplier(float(fi * fa / fo))
    im, ish = quantize_multiplier(float(fi / fo))
    return LeakyReluParams(size, in_zp, out_zp, im, ish, am, ash)


def lower_leaky_relu(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported("LEAKY_RELU needs one input and one output")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if x.dtype != y.dtype or x.dtype not in ("int8", "int16"):
        raise Unsupported(f"LEAKY_RELU of {x.dtype} -> {y.dtype} (only int8 or int16 on both sides)")
    for t, role in ((x, "input"), (y, "output")):
        if t.quant is None or t.quant.per_channel or not t.scale > 0.0:
            raise Unsupported(f"LEAKY_RELU whose {role} is not per-tensor quantized with a positive scale")
    if x.is_const:
        raise Unsupported("LEAKY_RELU of a constant tensor")
    alpha = float(op.options.get("alpha", 0.0))
    if not np.isfinite(alpha):
        raise Unsupported(f"LEAKY_RELU with alpha {alpha}")
    params = leaky_relu_params(x.size, x.scale, x.zero_point, y.scale, y.zero_point, alpha)
    for mult, shift, what in ((params.identity_multiplier, params.identity_shift, "identity"),
                              (params.alpha_multiplier, params.alpha_shift, "alpha")):
        if shift > 30 and mult != 0:
            raise Unsupported(f"LEAKY_RELU whose {what} multiplier is >= 2^30")
    kernel = "leaky_relu_s8" if x.dtype == "int8" else "leaky_relu_s16"
    # Element i is read before it is written: safe in place.
    return [KernelCall(kernel, params, (x.index,), (), (y.index,), op.index, in_place=True)]


def _leaky_relu_ref(p: LeakyReluParams, x: np.ndarray, dtype: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.int64).reshape(-1) - p.input_zero_point
    identity = multiply_by_quantized_multiplier(v, p.identity_multiplier, p.identity_shift)
    alpha = multiply_by_quantized_multiplier(v, p.alpha_multiplier, p.alpha_shift)
    out = np.where(v >= 0, identity, alpha) + p.output_zero_point
    lo, hi = INT_RANGES[dtype]
    return np.clip(out, lo, hi).astype(dtype)


def leaky_relu_s8_ref(p: LeakyReluParams, x: np.ndarray) -> np.ndarray:
    return _leaky_relu_ref(p, x, "int8")


def leaky_relu_s16_ref(p: LeakyReluParams, x: np.ndarray) -> np.ndarray:
    return _leaky_relu_ref(p, x, "int16")


LOWERINGS = {"LEAKY_RELU": lower_leaky_relu}
REFERENCES = {"leaky_relu_s8": leaky_relu_s8_ref, "leaky_relu_s16": leaky_relu_s16_ref}
