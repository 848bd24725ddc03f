"""QUANTIZE between integer types involving int16 or int32, and float32 -> int16, as TFLite Micro computes them.

quantize_common.cc allows, besides what quantize.py lowers (float32 -> int8, int8 -> int8):
- float32 -> int16 (AffineQuantize): q = clamp(TfLiteRound(x / float(scale)) + zero_point) to int16;
- int8 -> int16 / int32, int16 -> int8 / int16 / int32, int32 -> int8 / int16 (Requantize): multiplier and
  shift from QuantizeMultiplier(double(in_scale) / double(out_scale)); each element (x - in_zp) in int32
  (wrapping, as TFLite's int32 subtraction does), times the multiplier (double rounding), plus out_zp
  (wrapping), clamped to the output type.
- DEQUANTIZE int16 -> float32: (float)(double(scale) * (q - zero_point)), like int8 (quantize.py).
uint8 is not an element type the rest of the compiler handles, so its directions are refused.
"""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.arithmetic.quantize import (
    DequantizeParams,
    QuantizeParams,
    RequantizeParams,
    _per_tensor,
    dequantize_s8_f32_ref,
    requantize_params,
    round_half_away_f32,
)
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.kernels.fixedpoint_s16 import INT_RANGES, wrap_int32
from codegen.kernels.movement.reshape import operand

HEADER = "quantize_s16.h"

_SHORT = {"int8": "s8", "int16": "s16", "int32": "s32"}
# (input, output) integer pairs TFLM requantizes, without int8 -> int8 (quantize.py's requantize_s8).
REQUANTIZE_PAIRS = (
    ("int8", "int16"), ("int8", "int32"),
    ("int16", "int8"), ("int16", "int16"), ("int16", "int32"),
    ("int32", "int8"), ("int32", "int16"),
)


def lower_quantize_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported("QUANTIZE needs one input and one output")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if (x.dtype, y.dtype) not in (*REQUANTIZE_PAIRS, ("float32", "int16")):
        raise Unsupported(f"QUANTIZE from {x.dtype} to {y.dtype} (TFLite Micro's integer directions among "
                          "int8, int16 and int32, and float32 -> int8 / int16)")
    out_scale, out_zp = _per_tensor(y, "QUANTIZE output")
    lo, hi = INT_RANGES[y.dtype]
    if not lo <= out_zp <= hi:
        raise Unsupported(f"QUANTIZE output zero point {out_zp} outside {y.dtype}")
    inputs, consts = operand(x, "data")
    if x.dtype == "float32":
        params = QuantizeParams(y.size, out_scale, out_zp)
        return [KernelCall("quantize_f32_s16", params, inputs, consts, (y.index,), op.index)]
    in_scale, in_zp = _per_tensor(x, "QUANTIZE input")
    params = requantize_params(y.size, in_scale, in_zp, out_scale, out_zp)
    if params.shift > 31:
        raise Unsupported(f"QUANTIZE {x.dtype} -> {y.dtype} with scale ratio {in_scale / out_scale:.6g} "
                          "(at most 2^31)")
    kernel = f"requantize_{_SHORT[x.dtype]}_{_SHORT[y.dtype]}"
    same_size = np.dtype(x.dtype).itemsize == np.dtype(y.dtype).itemsize
    return [KernelCall(kernel, params, inputs, consts, (y.index,), op.index, in_place=bool(inputs) and same_size)]


def lower_dequantize_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported("DEQUANTIZE needs one input and one output")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if x.dtype != "int16" or y.dtype != "float32":
        raise Unsupported(f"DEQUANTIZE from {x.dtype} to {y.dtype} (this variant: int16 -> float32)")
    scale, zp = _per_tensor(x, "DEQUANTIZE input")
    inputs, consts = operand(x, "data")
    return [KernelCall("dequantize_s16_f32", DequantizeParams(x.size, scale, zp), inputs, consts, (y.index,),
                       op.index)]


def quantize_f32_s16_ref(p: QuantizeParams, x: np.ndarray) -> np.ndarray:
    """AffineQuantize where defined; beyond int32 (and for NaN) saturating, as quantize_f32_s8_ref explains."""
    xf = np.asarray(x, dtype=np.float32).reshape(-1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        quotient = xf / np.float32(p.scale)
    rounded = np.nan_to_num(round_half_away_f32(quotient), nan=0.0, posinf=np.inf, neginf=-np.inf)
    return np.clip(rounded + float(p.zero_point), -32768.0, 32767.0).astype(np.int16)


def _requantize_ref(p: RequantizeParams, x: np.ndarray, out_dtype: str) -> np.ndarray:
    v = wrap_int32(np.asarray(x, dtype=np.int64).reshape(-1) - p.input_zero_point)
    scaled = wrap_int32(multiply_by_quantized_multiplier(v, p.multiplier, p.shift) + p.output_zero_point)
    lo, hi = INT_RANGES[out_dtype]
    return np.clip(scaled, lo, hi).astype(out_dtype)


def _requantize_ref_for(out_dtype: str):
    def ref(p: RequantizeParams, x: np.ndarray) -> np.ndarray:
        return _requantize_ref(p, x, out_dtype)

    return ref


def _claims(op: Operator, graph: Graph) -> bool:
    """This family lowers every QUANTIZE with an int16 or int32 operand, and float32 -> int16."""
    if len(op.inputs) != 1 or op.inputs[0] < 0 or len(op.outputs) != 1:
        return False
    dtypes = {graph.tensor(op.inputs[0]).dtype, graph.tensor(op.outputs[0]).dtype}
    return bool(dtypes & {"int16", "int32"})


def _int16_input(op: Operator, graph: Graph) -> bool:
    return len(op.inputs) == 1 and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"QUANTIZE": (_claims, lower_quantize_s16), "DEQUANTIZE": (_int16_input, lower_dequantize_s16)}
REFERENCES = {"quantize_f32_s16": quantize_f32_s16_ref, "dequantize_s16_f32": dequantize_s8_f32_ref} | {
    f"requantize_{_SHORT[i]}_{_SHORT[o]}": _requantize_ref_for(o) for i, o in REQUANTIZE_PAIRS
}
