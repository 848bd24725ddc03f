"""TRANSPOSE_CONV for int8 and 16x8 (int16 activations, int8 filters), batch 1.

Semantics are TFLite Micro's (transpose_conv.cc and reference_integer_ops/transpose_conv.h):
- input 0 is the output shape (TFLM ignores it and uses the output tensor's shape; here it must agree), the
  filter is [out_c, kernel_h, kernel_w, in_c], the bias optional;
- padding: ComputePaddingHeightWidth with the *output* size as the input size, dilation 1;
- input pixel (iy, ix) adds input * filter(ky, kx) to output (iy * stride - pad + ky, ix * stride - pad + kx)
  when that lies inside the output; TFLM scatters into a scratch buffer, here each output gathers the same
  products: integer sums, so the order does not matter (int8 wraps modulo 2^32 either way);
- int8: int32 accumulator with input offset -zp, int32 bias, TFLite's MultiplyByQuantizedMultiplier, plus the
  output zero point; 16x8 (zero points 0): int64 accumulator, int64 bias (int16 biases are widened, as TFLM
  does), the int64 MultiplyByQuantizedMultiplier; both clamp to the whole output type (TFLM passes no fused
  activation to its parameter set-up, so a fused activation is refused).
Multipliers per output channel: double(input_scale) * double(filter_scale) / double(output_scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.conv.conv2d import compute_out_size, compute_padding, quant_of
from codegen.kernels.conv_s16.conv2d_s16 import check_16x8, per_channel_multipliers
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.kernels.fixedpoint_s16 import multiply_by_quantized_multiplier_s64, wrap_int32

HEADER = "transpose_conv.h"


@dataclass(frozen=True)
class TransposeConvParams(KernelParams):
    C_TYPE = "transpose_conv_params_t"
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")
    kernel_h: int = cfield("int32_t")
    kernel_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")  # -input zero point (0 for 16x8)
    output_offset: int = cfield("int32_t")  # output zero point (0 for 16x8)
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


def lower_transpose_conv(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) not in (3, 4) or any(t is None for t in ins[:3]) or len(op.outputs) != 1:
        raise Unsupported("with inputs other than output_shape, filter, input[, bias] or several outputs")
    shape_t, w, x = ins[0], ins[1], ins[2]
    b = ins[3] if len(ins) == 4 else None
    (y,) = graph.op_outputs(op)
    for t, what in ((x, "input"), (w, "filter"), (y, "output")):
        if len(t.shape) != 4:
            raise Unsupported(f"with a rank-{len(t.shape)} {what} (expects rank 4)")
    if x.shape[0] != 1 or y.shape[0] != 1:
        raise Unsupported(f"with batch {x.shape[0]} (only batch 1)")
    if shape_t.data is not None and tuple(int(v) for v in shape_t.data.reshape(-1)) != tuple(y.shape):
        raise Unsupported(f"with output_shape {shape_t.data.reshape(-1).tolist()} but a {y.shape} output tensor")
    if op.options.get("activation", "NONE") != "NONE":
        raise Unsupported(f"with fused activation {op.options['activation']} (TFLite Micro applies none)")
    out_c, kh, kw, w_in_c = w.shape
    in_c = x.shape[3]
    if w_in_c != in_c or y.shape[3] != out_c:
        raise Unsupported(f"with a {w.shape} filter for {in_c} input and {y.shape[3]} output channels")
    if x.dtype == "int8":
        if w.dtype != "int8" or y.dtype != "int8":
            raise Unsupported(f"with int8 input, {w.dtype} filter and {y.dtype} output (int8 throughout)")
        if w.data is None:
            raise Unsupported("with a non-constant filter")
        in_scale, in_zp = quant_of(x, "input")
        out_scale, out_zp = quant_of(y, "output")
        bias_types, acc_type, kernel, lo, hi = ("int32",), np.int32, "transpose_conv_s8", -128, 127
    elif x.dtype == "int16":
        check_16x8(x, w, y)
        in_zp = out_zp = 0
        bias_types, acc_type, kernel, lo, hi = ("int16", "int64"), np.int64, "transpose_conv_s16", -32768, 32767
    else:
        raise Unsupported(f"with {x.dtype} input (only int8 and int16)")
    if b is not None:
        if b.data is None or b.dtype not in bias_types:
            raise Unsupported(f"with a {'non-constant' if b.data is None else b.dtype} bias (expects "
                              f"{' or '.join(bias_types)})")
        if b.data.size != out_c:
            raise Unsupported(f"with {b.data.size} bias values for {out_c} output channels")
    padding = op.options.get("padding")
    sh, sw = int(op.options.get("stride_h", 0)), int(op.options.get("stride_w", 0))
    if padding not in ("SAME", "VALID") or sh < 1 or sw < 1:
        raise Unsupported(f"with padding {padding!r} and strides {sh}x{sw} (SAME or VALID, strides >= 1)")
    out_h, out_w = y.shape[1], y.shape[2]
    # ComputePaddingHeightWidth(stride, dilation 1, in = output size, filter, padding)
    pad_h = compute_padding(out_h, kh, sh, 1, compute_out_size(padding, out_h, kh, sh, 1))
    pad_w = compute_padding(out_w, kw, sw, 1, compute_out_size(padding, out_w, kw, sw, 1))
    mult, shift = per_channel_multipliers(x, w, y, out_c, 0, 7 if x.dtype == "int16" else 30)
    params = TransposeConvParams(
        in_h=x.shape[1], in_w=x.shape[2], in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, kernel_h=kh,
        kernel_w=kw, stride_h=sh, stride_w=sw, pad_h=pad_h, pad_w=pad_w, input_offset=-in_zp,
        output_offset=out_zp, act_min=lo, act_max=hi,
    )
    bias = np.zeros(out_c, dtype=acc_type) if b is None else np.asarray(b.data).reshape(-1).astype(acc_type)
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        ConstArray("bias", bias),
        ConstArray("mult", mult),
        ConstArray("shift", shift),
    )
    macs = x.shape[1] * x.shape[2] * in_c * kh * kw * out_c
    return [KernelCall(kernel, params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def _accumulate(p: TransposeConvParams, x: np.ndarray, filt: np.ndarray) -> np.ndarray:
    """The scatter of TFLM's reference kernel, in int64: acc[oy, ox, oc]."""
    x = np.asarray(x, dtype=np.int64).reshape(p.in_h, p.in_w, p.in_c) + p.input_offset
    w = np.asarray(filt, dtype=np.int64).reshape(p.out_c, p.kernel_h, p.kernel_w, p.in_c)
    # A frame large enough for every tap of every input pixel; the output is its window at (pad_h, pad_w).
    full_h = (p.in_h - 1) * p.stride_h + p.kernel_h
    full_w = (p.in_w - 1) * p.stride_w + p.kernel_w
    frame_h = max(full_h, p.pad_h + p.out_h)
    frame_w = max(full_w, p.pad_w + p.out_w)
    acc = np.zeros((frame_h, frame_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            contrib = x @ w[:, ky, kx, :].T  # (in_h, in_w, out_c)
            acc[ky:ky + (p.in_h - 1) * p.stride_h + 1:p.stride_h,
                kx:kx + (p.in_w - 1) * p.stride_w + 1:p.stride_w] += contrib
    return acc[p.pad_h:p.pad_h + p.out_h, p.pad_w:p.pad_w + p.out_w]


def transpose_conv_s8_ref(p: TransposeConvParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                          mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = wrap_int32(_accumulate(p, x, filt) + np.asarray(bias, dtype=np.int64))
    out = multiply_by_quantized_multiplier(acc, mult, shift) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(np.int8).reshape(1, p.out_h, p.out_w, p.out_c)


def transpose_conv_s16_ref(p: TransposeConvParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                           mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    acc = _accumulate(p, x, filt) + np.asarray(bias, dtype=np.int64)
    out = multiply_by_quantized_multiplier_s64(acc, mult, shift)
    return np.clip(out, p.act_min, p.act_max).astype(np.int16).reshape(1, p.out_h, p.out_w, p.out_c)


LOWERINGS = {"TRANSPOSE_CONV": lower_transpose_conv}
REFERENCES = {"transpose_conv_s8": transpose_conv_s8_ref, "transpose_conv_s16": transpose_conv_s16_ref}
