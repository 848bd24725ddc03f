"""DEPTHWISE_CONV_2D for int8 NHWC tensors (1HW(I*M) filters, any depth multiplier M), batch 1.

Output channel oc = ic * M + m reads input channel ic, as in TFLite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.conv.conv2d import (
    bias_const,
    check_activation_tensors,
    pad_input_ref,
    requant_of,
    requantize_ref,
    tap_view,
    window_of,
)

HEADER = "depthwise_conv2d_s8.h"


@dataclass(frozen=True)
class DepthwiseConv2dParams(KernelParams):
    C_TYPE = "depthwise_conv2d_s8_params_t"
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    in_c: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    out_c: int = cfield("int32_t")  # in_c * depth_multiplier
    depth_multiplier: int = cfield("int32_t")
    kernel_h: int = cfield("int32_t")
    kernel_w: int = cfield("int32_t")
    stride_h: int = cfield("int32_t")
    stride_w: int = cfield("int32_t")
    dilation_h: int = cfield("int32_t")
    dilation_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")
    pad_w: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


def lower_depthwise_conv2d(op: Operator, graph: Graph) -> list[KernelCall]:
    x, w, b, y = check_activation_tensors(op, graph)
    one, kh, kw, out_c = w.shape
    in_c = x.shape[3]
    if one != 1:
        raise Unsupported(f"with filter shape {w.shape} (expects 1 x H x W x C)")
    if y.shape[3] != out_c:
        raise Unsupported(f"with {y.shape[3]} output channels but {out_c} filter channels")
    if out_c % in_c:
        raise Unsupported(f"with {out_c} output channels, not a multiple of the {in_c} input channels")
    multiplier = out_c // in_c
    declared = op.options.get("depth_multiplier")
    if declared != multiplier:
        # TFLM's kernel trusts the option; a disagreeing one would index out of the tensors.
        raise Unsupported(f"with depth_multiplier {declared} but {in_c} -> {out_c} channels (needs {multiplier})")
    win = window_of(op, x, y, kh, kw)
    rq = requant_of(op, x, w, y, out_c, axis=3)
    params = DepthwiseConv2dParams(
        in_h=x.shape[1], in_w=x.shape[2], in_c=in_c, out_h=y.shape[1], out_w=y.shape[2], out_c=out_c,
        depth_multiplier=multiplier, kernel_h=kh, kernel_w=kw, stride_h=win.stride_h, stride_w=win.stride_w,
        dilation_h=win.dilation_h, dilation_w=win.dilation_w, pad_h=win.pad_h, pad_w=win.pad_w,
        input_offset=rq.input_offset, output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max,
    )
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        bias_const(b, out_c),
        ConstArray("mult", rq.mult),
        ConstArray("shift", rq.shift),
    )
    macs = params.out_h * params.out_w * out_c * kh * kw
    return [KernelCall("depthwise_conv2d_s8", params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def depthwise_conv2d_s8_ref(p: DepthwiseConv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                            mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    x = np.asarray(x).reshape(p.in_h, p.in_w, p.in_c)
    w = np.asarray(filt, dtype=np.int64).reshape(p.kernel_h, p.kernel_w, p.out_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    xp = pad_input_ref(x, p.input_offset, p.pad_h, p.pad_w, need_h, need_w) + p.input_offset
    # Channel oc = ic * M + m reads input channel ic: repeat each input channel M times, in place.
    xp = np.repeat(xp, p.depth_multiplier, axis=2)
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            acc += tap_view(xp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w) \
                * w[ky, kx]
    out = requantize_ref(acc, bias, mult, shift, p.output_offset, p.act_min, p.act_max)
    return out.reshape(1, p.out_h, p.out_w, p.out_c)


LOWERINGS = {"DEPTHWISE_CONV_2D": lower_depthwise_conv2d}
REFERENCES = {"depthwise_conv2d_s8": depthwise_conv2d_s8_ref}
