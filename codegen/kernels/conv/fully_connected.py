"""FULLY_CONNECTED for int8 activations and int8 weights, per-tensor or per-channel weight scales.

Semantics are TFLite Micro's reference kernels: the input is flattened to [batches, in_features], the
filter is [out_features, in_features] (row-major, read as is), and the int32 accumulator
sum((w - w_zp) * (x - x_zp)) + bias is requantized with MultiplyByQuantizedMultiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.conv.conv2d import check_finite_scales
from codegen.kernels.fixedpoint import activation_range_s8, multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "fully_connected_s8.h"

# TFLM refuses a model whose bias scale strays this far from input_scale * filter_scale (in output LSBs).
_BIAS_SCALE_TOLERANCE = 0.02


@dataclass(frozen=True)
class FullyConnectedParams(KernelParams):
    """Shared by both kernels; the per-channel kernel takes its multipliers from const arrays instead."""

    C_TYPE = "fully_connected_s8_params_t"
    batches: int = cfield("int32_t")
    in_features: int = cfield("int32_t")
    out_features: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")  # -input zero point
    filter_offset: int = cfield("int32_t")  # -filter zero point (per-tensor kernel only)
    output_offset: int = cfield("int32_t")  # +output zero point
    output_multiplier: int = cfield("int32_t")  # per-tensor kernel only
    output_shift: int = cfield("int32_t")  # per-tensor kernel only; > 0 means left shift
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


def _require_int8_activation(t: Tensor, role: str) -> None:
    if t.dtype != "int8":
        raise Unsupported(f"FULLY_CONNECTED with a {t.dtype} {role} (only int8)")
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"FULLY_CONNECTED whose {role} is not per-tensor quantized")


def effective_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> float:
    """double(input) * double(filter) / double(output), per tensor and per channel alike.

    This is what TFLite Micro computes (checked in the shipped tflite-micro build: GetQuantizedConvolution-
    Multipler widens both scales before multiplying). TFLite 2.14's kernel_util.cc multiplies the two
    float32 scales in float instead, which changes the multiplier's low bits and, rarely, an output LSB.
    """
    return input_scale * filter_scale / output_scale


def lower_fully_connected(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        raise Unsupported("FULLY_CONNECTED without input or weights")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    (y,) = graph.op_outputs(op)
    if op.options.get("weights_format", 0) != 0:
        raise Unsupported(f"FULLY_CONNECTED with weights_format {op.options['weights_format']} (only DEFAULT)")
    _require_int8_activation(x, "input")
    _require_int8_activation(y, "output")
    if w.dtype != "int8":
        raise Unsupported(f"FULLY_CONNECTED with {w.dtype} weights (only int8)")
    if w.data is None:
        raise Unsupported("FULLY_CONNECTED with non-constant weights")
    if w.quant is None or not w.quant.scale:
        raise Unsupported("FULLY_CONNECTED with unquantized weights")
    check_finite_scales(w, "weights")
    if len(w.shape) != 2:
        raise Unsupported(f"FULLY_CONNECTED with rank-{len(w.shape)} weights (only 2-D [out, in])")
    out_features, in_features = (int(d) for d in w.shape)
    if in_features == 0 or x.size % in_features:
        raise Unsupported(f"FULLY_CONNECTED input of {x.size} elements is not a multiple of {in_features}")
    batches = x.size // in_features
    if not y.shape or y.shape[-1] != out_features or y.size != batches * out_features:
        raise Unsupported(f"FULLY_CONNECTED output shape {y.shape} does not match {batches}x{out_features}")

    if b is None:
        bias = np.zeros(out_features, dtype=np.int32)
    else:
        if b.dtype != "int32":
            raise Unsupported(f"FULLY_CONNECTED with a {b.dtype} bias (only int32)")
        if b.data is None:
            raise Unsupported("FULLY_CONNECTED with a non-constant bias")
        if b.size != out_features:
            raise Unsupported(f"FULLY_CONNECTED bias of {b.size} values for {out_features} outputs")
        bias = np.ascontiguousarray(b.data.reshape(-1), dtype=np.int32)

    try:
        act_min, act_max = activation_range_s8(op.options.get("activation", "NONE"), y.scale, y.zero_point)
    except ValueError as exc:
        raise Unsupported(f"FULLY_CONNECTED {exc}") from None

    filt = np.ascontiguousarray(w.data, dtype=np.int8)
    common = dict(
        batches=batches,
        in_features=in_features,
        out_features=out_features,
        input_offset=-x.zero_point,
        output_offset=y.zero_point,
        act_min=act_min,
        act_max=act_max,
    )
    macs = batches * out_features * in_features
    if w.quant.per_channel:
        if len(w.quant.scale) != out_features or w.quant.axis != 0:
            raise Unsupported(
                f"FULLY_CONNECTED with {len(w.quant.scale)} weight scales on axis {w.quant.axis} "
                f"(per-channel needs one per output on axis 0)"
            )
        if len(y.shape) != 2:
            # TFLM's per-channel reference reads batches/depth from output dims 0/1.
            raise Unsupported(f"per-channel FULLY_CONNECTED with a rank-{len(y.shape)} output (only 2-D)")
        pairs = [quantize_multiplier(effective_multiplier(x.scale, s, y.scale)) for s in w.quant.scale]
        mult = np.array([m for m, _ in pairs], dtype=np.int32)
        shift = np.array([s for _, s in pairs], dtype=np.int32)
        # Per-channel weights are symmetric by definition: TFLM ignores their zero points.
        params = FullyConnectedParams(**common, filter_offset=0, output_multiplier=0, output_shift=0)
        consts = (
            ConstArray("filter", filt),
            ConstArray("bias", bias),
            ConstArray("mult", mult),
            ConstArray("shift", shift),
        )
        return [
            KernelCall("fully_connected_per_channel_s8", params, (x.index,), consts, (y.index,), op.index, macs=macs)
        ]

    if w.scale < 0:
        # Per-channel weights may have negative scales; per tensor, TFLM's GetQuantizedConvolutionMultipler
        # (and tflite-runtime's) refuses a negative input_scale * filter_scale.
        raise Unsupported(
            f"FULLY_CONNECTED with weights tensor {w.index} ({w.name}) of negative per-tensor scale {w.scale:g} "
            "(TFLite Micro refuses it; negative scales need per-channel weights)"
        )
    if b is not None:
        # TFLM's Prepare check: the bias scale must match input_scale * filter_scale closely.
        bias_scale = b.quant.scale[0] if b.quant is not None else 0.0
        if not abs(x.scale * w.scale - bias_scale) / y.scale <= _BIAS_SCALE_TOLERANCE:  # NaN refused too
            raise Unsupported(
                f"FULLY_CONNECTED bias scale {bias_scale:g} inconsistent with input*filter scale "
                f"{x.scale * w.scale:g} (TFLite Micro refuses it)"
            )
    mult, shift = quantize_multiplier(effective_multiplier(x.scale, w.scale, y.scale))
    params = FullyConnectedParams(**common, filter_offset=-w.zero_point, output_multiplier=mult, output_shift=shift)
    consts = (ConstArray("filter", filt), ConstArray("bias", bias))
    return [KernelCall("fully_connected_s8", params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def _accumulate(
    p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray, filter_offset: int
) -> np.ndarray:
    xs = x.reshape(p.batches, p.in_features).astype(np.int64) + p.input_offset
    ws = filt.reshape(p.out_features, p.in_features).astype(np.int64) + filter_offset
    return xs @ ws.T + bias.reshape(1, p.out_features).astype(np.int64)


def _finish(p: FullyConnectedParams, scaled: np.ndarray) -> np.ndarray:
    return np.clip(scaled + p.output_offset, p.act_min, p.act_max).astype(np.int8)


def fully_connected_s8_ref(p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray) -> np.ndarray:
    acc = _accumulate(p, x, filt, bias, p.filter_offset)
    return _finish(p, multiply_by_quantized_multiplier(acc, p.output_multiplier, p.output_shift))


def fully_connected_per_channel_s8_ref(
    p: FullyConnectedParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    acc = _accumulate(p, x, filt, bias, 0)
    return _finish(p, multiply_by_quantized_multiplier(acc, mult.reshape(1, -1), shift.reshape(1, -1)))


LOWERINGS = {"FULLY_CONNECTED": lower_fully_connected}
REFERENCES = {
    "fully_connected_s8": fully_connected_s8_ref,
    "fully_connected_per_channel_s8": fully_connected_per_channel_s8_ref,
}
