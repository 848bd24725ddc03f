"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32), as TFLite Micro computes them.

- float32 -> int8 (AffineQuantize): q = clamp(TfLiteRound(x / float(scale)) + zero_point); the quotient is a
  float32 division and TfLiteRound rounds half away from zero.
- int8 -> int8 (Requantize): multiplier/shift from QuantizeMultiplier(double(in_scale) / double(out_scale)).
- DEQUANTIZE: (float)(double(scale) * (q - zero_point)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.movement.reshape import operand

HEADER = "quantize.h"


@dataclass(frozen=True)
class QuantizeParams(KernelParams):
    C_TYPE = "quantize_f32_s8_params_t"
    size: int = cfield("int32_t")
    scale: float = cfield("float")
    zero_point: int = cfield("int32_t")


@dataclass(frozen=True)
class RequantizeParams(KernelParams):
    C_TYPE = "requantize_s8_params_t"
    size: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")
    shift: int = cfield("int32_t")
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")


@dataclass(frozen=True)
class DequantizeParams(KernelParams):
    C_TYPE = "dequantize_s8_f32_params_t"
    size: int = cfield("int32_t")
    scale: float = cfield("float")
    zero_point: int = cfield("int32_t")


def _per_tensor(t: Tensor, what: str) -> tuple[float, int]:
    if t.quant is None:
        raise Unsupported(f"{what} tensor {t.index} ({t.name}) has no quantization parameters")
    if t.quant.per_channel:
        raise Unsupported(f"{what} tensor {t.index} ({t.name}) is per-channel quantized (only per-tensor)")
    if not t.scale > 0.0:
        raise Unsupported(f"{what} tensor {t.index} ({t.name}) has scale {t.scale} (must be > 0)")
    return t.scale, t.zero_point


def requantize_params(size: int, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> RequantizeParams:
    # Both scales are float32 values; TFLM widens each to double before dividing.
    mult, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    return RequantizeParams(size, mult, shift, in_zp, out_zp)


def lower_quantize(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("QUANTIZE without an input tensor")
    if y.dtype != "int8" or x.dtype not in ("float32", "int8"):
        raise Unsupported(f"QUANTIZE from {x.dtype} to {y.dtype} (only float32 -> int8 and int8 -> int8)")
    out_scale, out_zp = _per_tensor(y, "QUANTIZE output")
    inputs, consts = operand(x, "data")
    if x.dtype == "float32":
        params: KernelParams = QuantizeParams(y.size, out_scale, out_zp)
        return [KernelCall("quantize_f32_s8", params, inputs, consts, (y.index,), op.index)]
    in_scale, in_zp = _per_tensor(x, "QUANTIZE input")
    params = requantize_params(y.size, in_scale, in_zp, out_scale, out_zp)
    if params.shift > 31:
        # TFLite would shift an int32 by 32 or more: undefined, and no real model needs it.
        raise Unsupported(f"QUANTIZE int8 -> int8 with scale ratio {in_scale / out_scale:.6g} (at most 2^31)")
    # Element i is read before it is written: safe in place.
    return [KernelCall("requantize_s8", params, inputs, consts, (y.index,), op.index, in_place=bool(inputs))]


def lower_dequantize(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("DEQUANTIZE without an input tensor")
    if x.dtype != "int8" or y.dtype != "float32":
        raise Unsupported(f"DEQUANTIZE from {x.dtype} to {y.dtype} (only int8 -> float32)")
    scale, zp = _per_tensor(x, "DEQUANTIZE input")
    inputs, consts = operand(x, "data")
    params = DequantizeParams(x.size, scale, zp)
    return [KernelCall("dequantize_s8_f32", params, inputs, consts, (y.index,), op.index)]


def round_half_away_f32(q: np.ndarray) -> np.ndarray:
    """TfLiteRound of float32 values, computed exactly in float64 (float32 + 0.5 is exact there)."""
    q64 = np.asarray(q, dtype=np.float32).astype(np.float64)
    a = np.abs(q64)
    with np.errstate(invalid="ignore"):
        r = np.where(a >= 2.0**23, a, np.floor(a + 0.5))
    return np.copysign(r, q64)


def quantize_f32_s8_ref(p: QuantizeParams, x: np.ndarray) -> np.ndarray:
    """TFLM's AffineQuantize where it is defined; beyond +-2^31 (and for NaN) TFLM's float -> int32 cast is
    undefined behaviour (x86 and Arm disagree), so there we saturate and send NaN to the zero point."""
    xf = np.asarray(x, dtype=np.float32).reshape(-1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        quotient = xf / np.float32(p.scale)  # float32 / float32, IEEE round to nearest as in C
    rounded = np.nan_to_num(round_half_away_f32(quotient), nan=0.0, posinf=np.inf, neginf=-np.inf)
    return np.clip(rounded + float(p.zero_point), -128.0, 127.0).astype(np.int8)


def requantize_s8_ref(p: RequantizeParams, x: np.ndarray) -> np.ndarray:
    acc = np.asarray(x, dtype=np.int64).reshape(-1) - p.input_zero_point
    scaled = multiply_by_quantized_multiplier(acc, p.multiplier, p.shift) + p.output_zero_point
    wrapped = ((scaled + 2**31) % 2**32) - 2**31  # TFLite's int32 addition wraps
    return np.clip(wrapped, -128, 127).astype(np.int8)


def dequantize_s8_f32_ref(p: DequantizeParams, x: np.ndarray) -> np.ndarray:
    diff = np.asarray(x, dtype=np.int64).reshape(-1) - p.zero_point
    scale = np.float64(np.float32(p.scale))  # the C field is a float, widened to double
    with np.errstate(over="ignore"):  # beyond float32 range the cast gives +-inf, as in C
        return (scale * diff.astype(np.float64)).astype(np.float32)


LOWERINGS = {"QUANTIZE": lower_quantize, "DEQUANTIZE": lower_dequantize}
REFERENCES = {
    "quantize_f32_s8": quantize_f32_s8_ref,
    "requantize_s8": requantize_s8_ref,
    "dequantize_s8_f32": dequantize_s8_f32_ref,
}
