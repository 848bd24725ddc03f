"""Standalone RELU and RELU6 on int16 tensors, as TFLite Micro (activations_common.cc).

int16 values are too many for unary_lut.py's table, so the kernel computes:
- RELU: out = clamp(MultiplyByQuantizedMultiplier(x - in_zp, s_in / s_out) + out_zp, [0, 32767]); TFLM
  requires both zero points to be 0.
- RELU6: out = clamp(x, [in_zp, FloatToQuantizedType<int16>(6.0)]) on the raw values; the output
  quantization is not looked at (TFLite's own kernel requantizes: TFLM is followed).
RELU_N1_TO_1 on int16 runs in neither TFLM nor TFLite and stays refused. unary_lut.py's lowering hands the
int16 cases here, so this module registers kernels but no op types of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "relu_s16.h"

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


@dataclass(frozen=True)
class ReluS16Params(KernelParams):
    C_TYPE = "relu_s16_params_t"
    size: int = cfield("int32_t")
    requantize: int = cfield("int32_t")  # 1: RELU's rescaling; 0: RELU6's plain clamp of the raw value
    input_zero_point: int = cfield("int32_t")
    output_zero_point: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")
    shift: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


def _round_half_away(x: float) -> int:
    return int(np.floor(x + 0.5)) if x >= 0 else -int(np.floor(-x + 0.5))


def _quant(t: Tensor, role: str) -> tuple[float, int]:
    if t.quant is None or t.quant.per_channel or not t.scale > 0:
        raise Unsupported(f"whose int16 {role} is not per-tensor quantized")
    return t.scale, t.zero_point


def lower_relu_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    assert x is not None
    if y.dtype != "int16" or x.size != y.size:
        raise Unsupported(f"from int16 {x.shape} to {y.dtype} {y.shape}")
    (s_in, zp_in), (s_out, zp_out) = _quant(x, "input"), _quant(y, "output")
    if op.op_type == "RELU":
        if zp_in != 0 or zp_out != 0:
            raise Unsupported(f"on int16 with zero points {zp_in}, {zp_out} (TFLite Micro requires 0)")
        mult, shift = quantize_multiplier(float(s_in) / float(s_out))
        params = ReluS16Params(x.size, 1, 0, 0, mult, shift, 0, INT16_MAX)
    elif op.op_type == "RELU6":
        six = zp_in + _round_half_away(float(np.float32(6.0) / np.float32(s_in)))
        params = ReluS16Params(x.size, 0, zp_in, zp_in, 0, 0, max(zp_in, INT16_MIN), min(six, INT16_MAX))
    else:
        raise Unsupported("on int16 (neither TFLite Micro nor TFLite runs it)")
    return [KernelCall("relu_s16", params, (x.index,), (), (y.index,), op.index, in_place=True)]


def relu_s16_ref(p: ReluS16Params, x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.int64).reshape(-1)
    if p.requantize:
        v = multiply_by_quantized_multiplier(v - p.input_zero_point, p.multiplier, p.shift) + p.output_zero_point
    return np.clip(v, p.act_min, p.act_max).astype(np.int16)


LOWERINGS: dict = {}  # reached through unary_lut.py's RELU / RELU6 lowering
REFERENCES = {"relu_s16": relu_s16_ref}
