"""DEPTHWISE_CONV_2D 16x8: int16 NHWC activations (zero points 0), int8 1HW(I*M) filters, any depth multiplier M,
batch 1. Output channel oc = ic * M + m reads input channel ic.

TFLite Micro's reference DepthwiseConvPerChannel for int16 (reference_integer_ops/depthwise_conv.h): an int64
accumulator of filter * input, plus the int64 bias (TFLM reads the bias as int64: int32 biases are refused),
the int64 MultiplyByQuantizedMultiplier per output channel, and the clamp to the fused activation's int16
range. Multipliers and padding as depthwise_conv2d.py; its parameter struct, with both offsets 0.
"""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, Unsupported
from codegen.kernels.conv.conv2d import pad_input_ref, tap_view, window_of
from codegen.kernels.conv.depthwise_conv2d import DepthwiseConv2dParams
from codegen.kernels.conv_s16.conv2d_s16 import check_16x8, per_channel_multipliers
from codegen.kernels.fixedpoint_s16 import activation_range, multiply_by_quantized_multiplier_s64

HEADER = "depthwise_conv2d_s16.h"


def lower_depthwise_conv2d_s16(op: Operator, graph: Graph) -> list[KernelCall]:
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
    one, kh, kw, out_c = w.shape
    in_c = x.shape[3]
    if one != 1 or y.shape[3] != out_c or out_c % in_c:
        raise Unsupported(f"with a {w.shape} filter for {in_c} input and {y.shape[3]} output channels")
    multiplier = out_c // in_c
    if op.options.get("depth_multiplier") != multiplier:
        raise Unsupported(f"with depth_multiplier {op.options.get('depth_multiplier')} but {in_c} -> {out_c} "
                          f"channels (needs {multiplier})")
    if b is not None and (b.data is None or b.dtype != "int64" or b.data.size != out_c):
        raise Unsupported(f"with a {'non-constant' if b.data is None else b.dtype} bias of {b.size} values "
                          f"(16x8: constant int64, one per output channel)")
    win = window_of(op, x, y, kh, kw)
    mult, shift = per_channel_multipliers(x, w, y, out_c, 3, 7)
    try:
        act_min, act_max = activation_range(op.options.get("activation", "NONE"), y.scale, 0, "int16")
    except ValueError as exc:
        raise Unsupported(f"with {exc}") from None
    params = DepthwiseConv2dParams(
        in_h=x.shape[1], in_w=x.shape[2], in_c=in_c, out_h=y.shape[1], out_w=y.shape[2], out_c=out_c,
        depth_multiplier=multiplier, kernel_h=kh, kernel_w=kw, stride_h=win.stride_h, stride_w=win.stride_w,
        dilation_h=win.dilation_h, dilation_w=win.dilation_w, pad_h=win.pad_h, pad_w=win.pad_w,
        input_offset=0, output_offset=0, act_min=act_min, act_max=act_max,
    )
    bias = np.zeros(out_c, dtype=np.int64) if b is None else np.asarray(b.data).reshape(-1).astype(np.int64)
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        ConstArray("bias", bias),
        ConstArray("mult", mult),
        ConstArray("shift", shift),
    )
    macs = params.out_h * params.out_w * out_c * kh * kw
    return [KernelCall("depthwise_conv2d_s16", params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def depthwise_conv2d_s16_ref(p: DepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                             mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    x = np.asarray(x).reshape(p.in_h, p.in_w, p.in_c)
    w = np.asarray(filt, dtype=np.int64).reshape(p.kernel_h, p.kernel_w, p.out_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    xp = np.repeat(pad_input_ref(x, 0, p.pad_h, p.pad_w, need_h, need_w), p.depth_multiplier, axis=2)
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            acc += tap_view(xp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w) \
                * w[ky, kx]
    out = multiply_by_quantized_multiplier_s64(acc + np.asarray(bias, dtype=np.int64), mult, shift)
    return np.clip(out, p.act_min, p.act_max).astype(np.int16).reshape(1, p.out_h, p.out_w, p.out_c)


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"DEPTHWISE_CONV_2D": (_int16_input, lower_depthwise_conv2d_s16)}
REFERENCES = {"depthwise_conv2d_s16": depthwise_conv2d_s16_ref}
