"""CONV_2D 16x8: int16 NHWC activations, int8 OHWI filters (per-channel or per-tensor), batch 1.

TFLite Micro's reference ConvPerChannel for int16 (reference_integer_ops/conv.h): no input or output offset
(16x8 requires zero points 0), the sum of filter * input plus the bias, requantized per output channel and
clamped to the fused activation's int16 range:
- int64 bias (what the converter emits) or none: int64 accumulator, the int64 MultiplyByQuantizedMultiplier
  (multiplier reduced to 16 bits, one rounding), kernel conv2d_s16;
- int32 bias: int32 accumulator (wrapping), the int32 MultiplyByQuantizedMultiplier (double rounding), kernel
  conv2d_s16_b32.
Some conv.cc revisions send a missing bias down the int32 path; the TFLite Micro the tests run takes the int64
one (the two round differently; test_kernel_conv16x8.py checks both cases against it). Multipliers, padding
and output size follow conv2d.py (PopulateConvolutionQuantizationParams, ComputePaddingHeightWidth); the
parameter struct is conv2d.py's, with both offsets 0.
"""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, Unsupported
from codegen.kernels.conv.conv2d import Conv2dParams, check_finite_scales, pad_input_ref, tap_view, window_of
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.fixedpoint_s16 import activation_range, multiply_by_quantized_multiplier_s64, wrap_int32

HEADER = "conv2d_s16.h"

_MAX_LEFT_SHIFT = 7  # the int64 MultiplyByQuantizedMultiplier requires shift < 8


def per_channel_multipliers(x: Tensor, w: Tensor, y: Tensor, out_c: int, axis: int,
                            max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """double(input_scale) * double(filter_scale[c]) / double(output_scale), quantized per channel.

    Negative and zero filter scales, per channel or per tensor, give negative and zero multipliers, as TFLite
    Micro's PopulateConvolutionQuantizationParams does for int8 and int16 inputs; NaN and infinity are refused."""
    if w.quant is None or not w.quant.scale:
        raise Unsupported(f"with filter tensor {w.index} ({w.name}) having no quantization parameters")
    scales = w.quant.scale
    if w.quant.per_channel and (w.quant.axis != axis or len(scales) != out_c):
        raise Unsupported(f"with {len(scales)} filter scales along axis {w.quant.axis} "
                          f"(expects {out_c} along axis {axis}, or one)")
    if any(z != 0 for z in w.quant.zero_point):
        raise Unsupported("with a non-zero filter zero point (int8 filters must be symmetric)")
    check_finite_scales(w, "filter")
    mult = np.zeros(out_c, dtype=np.int32)
    shift = np.zeros(out_c, dtype=np.int32)
    for c in range(out_c):
        effective = float(x.scale) * float(scales[c if len(scales) > 1 else 0]) / float(y.scale)
        m, s = quantize_multiplier(effective)
        if s > max_shift:
            raise Unsupported(f"with an effective output multiplier {effective:g} >= 2^{max_shift}")
        mult[c], shift[c] = m, s
    return mult, shift


def check_16x8(x: Tensor, w: Tensor, y: Tensor) -> None:
    """int16 activations with zero points 0 and an int8 filter, as TFLite Micro's 16x8 kernels require."""
    if x.dtype != "int16" or y.dtype != "int16" or w.dtype != "int8":
        raise Unsupported(f"with {x.dtype} input, {w.dtype} filter and {y.dtype} output (16x8: int16, int8, int16)")
    for t, what in ((x, "input"), (y, "output")):
        if t.quant is None or t.quant.per_channel or not t.scale > 0.0:
            raise Unsupported(f"with a {what} that is not per-tensor quantized with a positive scale")
        if t.zero_point != 0:
            raise Unsupported(f"with {what} zero point {t.zero_point} (16x8 requires 0)")
    if w.data is None:
        raise Unsupported("with a non-constant filter")


def lower_conv2d_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) not in (2, 3) or ins[0] is None or ins[1] is None or len(op.outputs) != 1:
        raise Unsupported("with inputs other than input, filter[, bias] or several outputs")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    (y,) = graph.op_outputs(op)
    check_16x8(x, w, y)
    for t, what in ((x, "input"), (w, "filter"), (y, "output")):
        if len(t.shape) != 4:
            raise Unsupported(f"with a rank-{len(t.shape)} {what} (expects rank 4)")
    if x.shape[0] != 1:
        raise Unsupported(f"with batch {x.shape[0]} (only batch 1)")
    out_c, kh, kw, w_in_c = w.shape
    in_c = x.shape[3]
    if w_in_c != in_c:
        raise Unsupported(f"grouped convolution (filter depth {w_in_c}, input depth {in_c})")
    if y.shape[3] != out_c:
        raise Unsupported(f"with {y.shape[3]} output channels but {out_c} filters")
    if b is not None and (b.data is None or b.dtype not in ("int32", "int64")):
        raise Unsupported(f"with a {'non-constant' if b.data is None else b.dtype} bias (16x8: constant int64 "
                          "or int32)")
    if b is not None and b.data.size != out_c:
        raise Unsupported(f"with {b.data.size} bias values for {out_c} output channels")
    wide = b is None or b.dtype == "int64"
    win = window_of(op, x, y, kh, kw)
    mult, shift = per_channel_multipliers(x, w, y, out_c, 0, _MAX_LEFT_SHIFT if wide else 30)
    try:
        act_min, act_max = activation_range(op.options.get("activation", "NONE"), y.scale, 0, "int16")
    except ValueError as exc:
        raise Unsupported(f"with {exc}") from None
    params = Conv2dParams(
        in_h=x.shape[1], in_w=x.shape[2], in_c=in_c, out_h=y.shape[1], out_w=y.shape[2], out_c=out_c,
        kernel_h=kh, kernel_w=kw, stride_h=win.stride_h, stride_w=win.stride_w,
        dilation_h=win.dilation_h, dilation_w=win.dilation_w, pad_h=win.pad_h, pad_w=win.pad_w,
        input_offset=0, output_offset=0, act_min=act_min, act_max=act_max,
    )
    bias_type = np.int64 if wide else np.int32
    bias = np.zeros(out_c, dtype=bias_type) if b is None else np.asarray(b.data).reshape(-1).astype(bias_type)
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        ConstArray("bias", bias),
        ConstArray("mult", mult),
        ConstArray("shift", shift),
    )
    macs = params.out_h * params.out_w * out_c * kh * kw * in_c
    kernel = "conv2d_s16" if wide else "conv2d_s16_b32"
    return [KernelCall(kernel, params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def _accumulate(p: Conv2dParams, x: np.ndarray, filt: np.ndarray) -> np.ndarray:
    x = np.asarray(x).reshape(p.in_h, p.in_w, p.in_c)
    w = np.asarray(filt, dtype=np.int64).reshape(p.out_c, p.kernel_h, p.kernel_w, p.in_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    xp = pad_input_ref(x, 0, p.pad_h, p.pad_w, need_h, need_w)  # zero point 0: padding taps add nothing
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            taps = tap_view(xp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w)
            acc += taps @ w[:, ky, kx, :].T
    return acc


def conv2d_s16_ref(p: Conv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                   mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = _accumulate(p, x, filt) + np.asarray(bias, dtype=np.int64)
    out = multiply_by_quantized_multiplier_s64(acc, mult, shift)
    return np.clip(out, p.act_min, p.act_max).astype(np.int16).reshape(1, p.out_h, p.out_w, p.out_c)


def conv2d_s16_b32_ref(p: Conv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                       mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = wrap_int32(_accumulate(p, x, filt) + np.asarray(bias, dtype=np.int64))
    out = multiply_by_quantized_multiplier(acc, mult, shift)
    return np.clip(out, p.act_min, p.act_max).astype(np.int16).reshape(1, p.out_h, p.out_w, p.out_c)


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"CONV_2D": (_int16_input, lower_conv2d_s16)}
REFERENCES = {"conv2d_s16": conv2d_s16_ref, "conv2d_s16_b32": conv2d_s16_b32_ref}
