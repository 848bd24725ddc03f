"""FULLY_CONNECTED 16x8: int16 activations (zero points 0), int8 weights [out, in] (symmetric, per-tensor or
per-channel), batch = input size / in_features.

TFLite Micro's reference FullyConnected / FullyConnectedPerChannel for int16 (reference_integer_ops/
fully_connected.h): the sum of weight * input, plus the bias, requantized and clamped to the fused activation's
int16 range:
- int64 bias or none: int64 accumulator and the int64 MultiplyByQuantizedMultiplier, fully_connected_s16;
- int32 bias: int32 accumulator (wrapping) and the int32 MultiplyByQuantizedMultiplier, fully_connected_s16_b32.
Multipliers as fully_connected.py (double arithmetic, one per output; a per-tensor model repeats it); negative
and zero per-channel scales give negative and zero multipliers, a negative per-tensor scale is refused (as TFLM). Both
kernels take fully_connected.py's parameter struct with every offset 0 and the multipliers as arrays.
"""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, Unsupported
from codegen.kernels.conv.conv2d import check_finite_scales
from codegen.kernels.conv.fully_connected import FullyConnectedParams, effective_multiplier
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.fixedpoint_s16 import activation_range, multiply_by_quantized_multiplier_s64, wrap_int32

HEADER = "fully_connected_s16.h"


def lower_fully_connected_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) < 2 or ins[0] is None or ins[1] is None or len(op.outputs) != 1:
        raise Unsupported("FULLY_CONNECTED without input or weights")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    (y,) = graph.op_outputs(op)
    if op.options.get("weights_format", 0) != 0:
        raise Unsupported(f"FULLY_CONNECTED with weights_format {op.options['weights_format']} (only DEFAULT)")
    if x.dtype != "int16" or y.dtype != "int16" or w.dtype != "int8":
        raise Unsupported(f"FULLY_CONNECTED with {x.dtype} input, {w.dtype} weights, {y.dtype} output (16x8)")
    for t, role in ((x, "input"), (y, "output")):
        if t.quant is None or t.quant.per_channel or not t.scale > 0.0 or t.zero_point != 0:
            raise Unsupported(f"FULLY_CONNECTED whose int16 {role} is not per-tensor with zero point 0")
    if w.data is None or w.quant is None or len(w.shape) != 2:
        raise Unsupported("FULLY_CONNECTED 16x8 needs constant, quantized, 2-D [out, in] weights")
    if any(z != 0 for z in w.quant.zero_point):
        raise Unsupported("FULLY_CONNECTED 16x8 with a non-zero weight zero point (must be symmetric)")
    out_features, in_features = (int(d) for d in w.shape)
    if in_features == 0 or x.size % in_features:
        raise Unsupported(f"FULLY_CONNECTED input of {x.size} elements is not a multiple of {in_features}")
    batches = x.size // in_features
    if not y.shape or y.shape[-1] != out_features or y.size != batches * out_features:
        raise Unsupported(f"FULLY_CONNECTED output shape {y.shape} does not match {batches}x{out_features}")
    if w.quant.per_channel and (len(w.quant.scale) != out_features or w.quant.axis != 0 or len(y.shape) != 2):
        raise Unsupported(f"per-channel FULLY_CONNECTED with {len(w.quant.scale)} scales on axis {w.quant.axis} "
                          f"and a rank-{len(y.shape)} output (needs one per output on axis 0, 2-D output)")
    if b is not None and (b.data is None or b.dtype not in ("int32", "int64") or b.size != out_features):
        raise Unsupported(f"FULLY_CONNECTED 16x8 with a {'non-constant' if b.data is None else b.dtype} bias of "
                          f"{b.size} values (constant int64 or int32, one per output)")
    check_finite_scales(w, "weights")
    if not w.quant.per_channel and w.scale < 0:
        # Per channel, negative scales give negative multipliers; per tensor, TFLM's GetQuantizedConvolution-
        # Multipler refuses a negative input_scale * filter_scale.
        raise Unsupported(f"FULLY_CONNECTED 16x8 with weights tensor {w.index} ({w.name}) of negative per-tensor "
                          f"scale {w.scale:g} (TFLite Micro refuses it; negative scales need per-channel weights)")
    wide = b is None or b.dtype == "int64"
    scales = w.quant.scale if w.quant.per_channel else w.quant.scale * out_features
    pairs = [quantize_multiplier(effective_multiplier(x.scale, s, y.scale)) for s in scales]
    if wide and any(s > 7 for _, s in pairs):
        raise Unsupported("FULLY_CONNECTED 16x8 with an output multiplier >= 2^7")
    try:
        act_min, act_max = activation_range(op.options.get("activation", "NONE"), y.scale, 0, "int16")
    except ValueError as exc:
        raise Unsupported(f"FULLY_CONNECTED {exc}") from None
    params = FullyConnectedParams(batches=batches, in_features=in_features, out_features=out_features,
                                  input_offset=0, filter_offset=0, output_offset=0, output_multiplier=0,
                                  output_shift=0, act_min=act_min, act_max=act_max)
    bias_type = np.int64 if wide else np.int32
    bias = np.zeros(out_features, dtype=bias_type) if b is None else np.asarray(b.data).reshape(-1).astype(bias_type)
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        ConstArray("bias", bias),
        ConstArray("mult", np.array([m for m, _ in pairs], dtype=np.int32)),
        ConstArray("shift", np.array([s for _, s in pairs], dtype=np.int32)),
    )
    kernel = "fully_connected_s16" if wide else "fully_connected_s16_b32"
    return [KernelCall(kernel, params, (x.index,), consts, (y.index,), op.index,
                       macs=batches * out_features * in_features)]


def _accumulate(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray) -> np.ndarray:
    xs = np.asarray(x).reshape(p.batches, p.in_features).astype(np.int64)
    ws = np.asarray(filt).reshape(p.out_features, p.in_features).astype(np.int64)
    return xs @ ws.T + np.asarray(bias, dtype=np.int64).reshape(1, -1)


def fully_connected_s16_ref(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                            mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    out = multiply_by_quantized_multiplier_s64(_accumulate(p, x, filt, bias), mult.reshape(1, -1),
                                               shift.reshape(1, -1))
    return np.clip(out, p.act_min, p.act_max).astype(np.int16)


def fully_connected_s16_b32_ref(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                                mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = wrap_int32(_accumulate(p, x, filt, bias))
    out = multiply_by_quantized_multiplier(acc, mult.reshape(1, -1), shift.reshape(1, -1))
    return np.clip(out, p.act_min, p.act_max).astype(np.int16)


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"FULLY_CONNECTED": (_int16_input, lower_fully_connected_s16)}
REFERENCES = {"fully_connected_s16": fully_connected_s16_ref, "fully_connected_s16_b32": fully_connected_s16_b32_ref}
