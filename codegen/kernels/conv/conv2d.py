"""CONV_2D for int8 NHWC tensors (OHWI filters, per-channel or per-tensor scales), batch 1.

Also home of the window geometry and requantization set-up that DEPTHWISE_CONV_2D shares: both follow
TFLite Micro's Prepare (ComputePaddingHeightWidth, PopulateConvolutionQuantizationParams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import activation_range_s8, multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "conv2d_s8.h"

# The C kernels shift left through uint32 by at most 31; real layers sit far below this.
_MAX_LEFT_SHIFT = 30
# The kernels index input rows and columns as oy * stride - pad + ky * dilation in int32.
_MAX_SPAN = 2**31 - 1


@dataclass(frozen=True)
class Conv2dParams(KernelParams):
    C_TYPE = "conv2d_s8_params_t"
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
    dilation_h: int = cfield("int32_t")
    dilation_w: int = cfield("int32_t")
    pad_h: int = cfield("int32_t")  # rows of (virtual) padding above the input
    pad_w: int = cfield("int32_t")  # columns of (virtual) padding left of the input
    input_offset: int = cfield("int32_t")  # -input zero point
    output_offset: int = cfield("int32_t")  # output zero point
    act_min: int = cfield("int32_t")
    act_max: int = cfield("int32_t")


# ---------------------------------------------------------------------------------------------------------
# Shared by CONV_2D and DEPTHWISE_CONV_2D


@dataclass(frozen=True)
class Window:
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_h: int
    pad_w: int


@dataclass(frozen=True)
class Requant:
    mult: np.ndarray  # int32 per output channel
    shift: np.ndarray  # int32 per output channel, > 0 shifts left
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int


def compute_out_size(padding: str, in_size: int, kernel: int, stride: int, dilation: int) -> int:
    """TFLite's ComputeOutSize (GetWindowedOutputSize); C-style truncating division."""
    effective = (kernel - 1) * dilation + 1
    num = in_size + stride - 1 if padding == "SAME" else in_size + stride - effective
    return int(num / stride) if num < 0 else num // stride


def compute_padding(in_size: int, kernel: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingWithOffset: the leading padding (the odd extra row/column goes at the end)."""
    effective = (kernel - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def quant_of(t: Tensor, what: str) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor int8 activation tensor, or Unsupported."""
    if t.quant is None or not t.quant.scale:
        raise Unsupported(f"with {what} tensor {t.index} ({t.name}) having no quantization parameters")
    if t.quant.per_channel:
        raise Unsupported(f"with {what} tensor {t.index} ({t.name}) quantized per channel (only per-tensor)")
    scale, zp = t.quant.scale[0], t.quant.zero_point[0]
    if not (np.isfinite(scale) and scale > 0):
        raise Unsupported(f"with {what} tensor {t.index} ({t.name}) of scale {scale} (must be positive)")
    if not -128 <= zp <= 127:
        raise Unsupported(f"with {what} tensor {t.index} ({t.name}) of zero point {zp} (outside int8)")
    return scale, zp


def check_finite_scales(t: Tensor, what: str) -> None:
    """Refuses NaN or infinite scales, naming the tensor and channel. Negative and zero scales are accepted, as
    TFLite Micro accepts them: QuantizeMultiplier turns them into negative and zero multipliers, which the
    fixed-point requantization handles (trained models such as MCUNet's have negative filter scales)."""
    assert t.quant is not None
    for c, s in enumerate(t.quant.scale):
        if not np.isfinite(s):
            where = f" in channel {c}" if len(t.quant.scale) > 1 else ""
            raise Unsupported(f"with {what} tensor {t.index} ({t.name}) of scale {s}{where} (must be finite)")


def check_activation_tensors(op: Operator, graph: Graph) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    """The (input, filter, bias or None, output) of a conv-like op, checked for what the kernels accept."""
    ins = graph.op_inputs(op)
    if len(ins) not in (2, 3) or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(op.inputs)} inputs (expects input, filter[, bias])")
    if len(op.outputs) != 1:
        raise Unsupported(f"with {len(op.outputs)} outputs (expects 1)")
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) == 3 else None
    (y,) = graph.op_outputs(op)
    for t, what in ((x, "input"), (w, "filter"), (y, "output")):
        if t.dtype != "int8":
            raise Unsupported(f"with {what} of type {t.dtype} (only int8)")
        if len(t.shape) != 4:
            raise Unsupported(f"with a rank-{len(t.shape)} {what} (expects rank 4)")
    if x.shape[0] != 1 or y.shape[0] != 1:
        raise Unsupported(f"with batch {x.shape[0]} (only batch 1)")
    for t, what in ((x, "input"), (w, "filter"), (y, "output")):
        if 0 in t.shape:
            raise Unsupported(f"with an empty {what} of shape {t.shape}")
    if w.data is None:
        raise Unsupported("with a non-constant filter")
    if b is not None:
        if b.dtype != "int32":
            raise Unsupported(f"with a bias of type {b.dtype} (only int32)")
        if b.data is None:
            raise Unsupported("with a non-constant bias")
    return x, w, b, y


def window_of(op: Operator, x: Tensor, y: Tensor, kernel_h: int, kernel_w: int) -> Window:
    """Strides, dilations and TFLite's padding; checks the output tensor's spatial size agrees."""
    o = op.options
    padding = o.get("padding")
    if padding not in ("SAME", "VALID", "EXPLICIT"):
        raise Unsupported(f"with padding {padding!r} (only SAME or VALID)")
    sh, sw = int(o.get("stride_h", 0)), int(o.get("stride_w", 0))
    dh, dw = int(o.get("dilation_h", 1)), int(o.get("dilation_w", 1))
    if sh < 1 or sw < 1 or dh < 1 or dw < 1:
        raise Unsupported(f"with strides {sh}x{sw} and dilations {dh}x{dw} (all must be >= 1)")
    in_h, in_w = x.shape[1], x.shape[2]
    if padding == "EXPLICIT":
        # Set by codegen.passes.fuse_pad when a PAD was folded into this convolution: its amounts, then VALID.
        top, bottom, left, right = o["explicit_padding"]
        out_h = compute_out_size("VALID", in_h + top + bottom, kernel_h, sh, dh)
        out_w = compute_out_size("VALID", in_w + left + right, kernel_w, sw, dw)
        if (out_h, out_w) != (y.shape[1], y.shape[2]):
            raise Unsupported(f"with explicit padding {o['explicit_padding']} that gives {out_h}x{out_w}, "
                              f"not the {y.shape[1]}x{y.shape[2]} output")
        _check_span(out_h, out_w, kernel_h, kernel_w, sh, sw, dh, dw)
        return Window(kernel_h, kernel_w, sh, sw, dh, dw, top, left)
    out_h = compute_out_size(padding, in_h, kernel_h, sh, dh)
    out_w = compute_out_size(padding, in_w, kernel_w, sw, dw)
    if out_h < 1 or out_w < 1:
        raise Unsupported(f"with a {padding} window that leaves no output ({in_h}x{in_w} input, "
                          f"{kernel_h}x{kernel_w} kernel, dilation {dh}x{dw})")
    if (out_h, out_w) != (y.shape[1], y.shape[2]):
        raise Unsupported(f"with a {y.shape[1]}x{y.shape[2]} output, but {padding} padding with these "
                          f"strides gives {out_h}x{out_w}")
    _check_span(out_h, out_w, kernel_h, kernel_w, sh, sw, dh, dw)
    return Window(kernel_h, kernel_w, sh, sw, dh, dw,
                  compute_padding(in_h, kernel_h, sh, dh, out_h), compute_padding(in_w, kernel_w, sw, dw, out_w))


def _check_span(out_h: int, out_w: int, kernel_h: int, kernel_w: int, sh: int, sw: int, dh: int, dw: int) -> None:
    """Refuse strides and dilations whose input rows or columns a kernel could not index in int32."""
    span_h = (out_h - 1) * sh + (kernel_h - 1) * dh + 1
    span_w = (out_w - 1) * sw + (kernel_w - 1) * dw + 1
    if max(span_h, span_w) > _MAX_SPAN:
        raise Unsupported(f"with strides {sh}x{sw} and dilations {dh}x{dw} whose window spans {span_h}x{span_w} "
                          f"input positions (more than int32 indices reach)")


def requant_of(op: Operator, x: Tensor, w: Tensor, y: Tensor, out_c: int, axis: int) -> Requant:
    """Per-output-channel multipliers exactly as PopulateConvolutionQuantizationParams derives them."""
    in_scale, in_zp = quant_of(x, "input")
    out_scale, out_zp = quant_of(y, "output")
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
        # double(input_scale) * double(filter_scale) / double(output_scale), evaluated left to right.
        effective = float(in_scale) * float(scales[c if len(scales) > 1 else 0]) / float(out_scale)
        m, s = quantize_multiplier(effective)
        if s > _MAX_LEFT_SHIFT:
            raise Unsupported(f"with an effective output multiplier {effective:g} >= 2^{_MAX_LEFT_SHIFT}")
        mult[c], shift[c] = m, s
    activation = op.options.get("activation", "NONE")
    try:
        act_min, act_max = activation_range_s8(activation, out_scale, out_zp)
    except ValueError:
        raise Unsupported(f"with fused activation {activation}") from None
    return Requant(mult, shift, -in_zp, out_zp, act_min, act_max)


def bias_const(b: Tensor | None, out_c: int) -> ConstArray:
    """The int32 bias (zeros when omitted); its quantization parameters are ignored, as TFLM does."""
    if b is None:
        return ConstArray("bias", np.zeros(out_c, dtype=np.int32))
    data = np.asarray(b.data).reshape(-1)
    if data.size != out_c:
        raise Unsupported(f"with {data.size} bias values for {out_c} output channels")
    return ConstArray("bias", data.astype(np.int32))


def pad_input_ref(x: np.ndarray, input_offset: int, pad_h: int, pad_w: int, need_h: int, need_w: int) -> np.ndarray:
    """The HWC input inside a frame of its zero point, cropped or extended to need_h x need_w.

    TFLite skips out-of-bounds taps; a tap on the zero point contributes (zp + input_offset) * w = 0.
    Negative padding (a patch computed from a window that starts inside a larger buffer) drops the
    leading rows or columns instead.
    """
    x = x[max(-pad_h, 0):, max(-pad_w, 0):]
    pad_h, pad_w = max(pad_h, 0), max(pad_w, 0)
    need_h, need_w = max(need_h, 0), max(need_w, 0)  # an empty patch (no output rows) needs nothing
    h, w, c = x.shape
    out = np.full((need_h, need_w, c), -input_offset, dtype=np.int64)
    rows = max(min(h, need_h - pad_h), 0)
    cols = max(min(w, need_w - pad_w), 0)
    out[pad_h:pad_h + rows, pad_w:pad_w + cols] = x[:rows, :cols]
    return out


def tap_view(xp: np.ndarray, ky: int, kx: int, dh: int, dw: int, sh: int, sw: int,
             out_h: int, out_w: int) -> np.ndarray:
    """Input values seen by filter tap (ky, kx) at every output pixel: (out_h, out_w, C)."""
    if out_h <= 0 or out_w <= 0:  # an empty patch: a slice end of (0 - 1) * stride + 1 would wrap around
        return np.zeros((max(out_h, 0), max(out_w, 0), xp.shape[2]), dtype=xp.dtype)
    y0, x0 = ky * dh, kx * dw
    return xp[y0:y0 + (out_h - 1) * sh + 1:sh, x0:x0 + (out_w - 1) * sw + 1:sw]


def requantize_ref(acc: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                   output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """acc (..., C) int64 -> int8 as the kernels' epilogue: bias, multiplier, offset, clamp."""
    scaled = multiply_by_quantized_multiplier(acc + bias.astype(np.int64), mult, shift)
    return np.clip(scaled + output_offset, act_min, act_max).astype(np.int8)


# ---------------------------------------------------------------------------------------------------------
# CONV_2D


def lower_conv2d(op: Operator, graph: Graph) -> list[KernelCall]:
    x, w, b, y = check_activation_tensors(op, graph)
    out_c, kh, kw, w_in_c = w.shape
    in_c = x.shape[3]
    if w_in_c != in_c:
        raise Unsupported(f"grouped convolution (filter depth {w_in_c}, input depth {in_c})")
    if y.shape[3] != out_c:
        raise Unsupported(f"with {y.shape[3]} output channels but {out_c} filters")
    win = window_of(op, x, y, kh, kw)
    rq = requant_of(op, x, w, y, out_c, axis=0)
    params = Conv2dParams(
        in_h=x.shape[1], in_w=x.shape[2], in_c=in_c, out_h=y.shape[1], out_w=y.shape[2], out_c=out_c,
        kernel_h=kh, kernel_w=kw, stride_h=win.stride_h, stride_w=win.stride_w,
        dilation_h=win.dilation_h, dilation_w=win.dilation_w, pad_h=win.pad_h, pad_w=win.pad_w,
        input_offset=rq.input_offset, output_offset=rq.output_offset, act_min=rq.act_min, act_max=rq.act_max,
    )
    consts = (
        ConstArray("filter", np.ascontiguousarray(w.data, dtype=np.int8)),
        bias_const(b, out_c),
        ConstArray("mult", rq.mult),
        ConstArray("shift", rq.shift),
    )
    macs = params.out_h * params.out_w * out_c * kh * kw * in_c
    return [KernelCall("conv2d_s8", params, (x.index,), consts, (y.index,), op.index, macs=macs)]


def conv2d_s8_ref(p: Conv2dParams, x: np.ndarray, filt: np.ndarray, bias: np.ndarray,
                  mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    x = np.asarray(x).reshape(p.in_h, p.in_w, p.in_c)
    w = np.asarray(filt, dtype=np.int64).reshape(p.out_c, p.kernel_h, p.kernel_w, p.in_c)
    need_h = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1
    need_w = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1
    xp = pad_input_ref(x, p.input_offset, p.pad_h, p.pad_w, need_h, need_w) + p.input_offset
    acc = np.zeros((p.out_h, p.out_w, p.out_c), dtype=np.int64)
    for ky in range(p.kernel_h):
        for kx in range(p.kernel_w):
            taps = tap_view(xp, ky, kx, p.dilation_h, p.dilation_w, p.stride_h, p.stride_w, p.out_h, p.out_w)
            acc += taps @ w[:, ky, kx, :].T
    out = requantize_ref(acc, bias, mult, shift, p.output_offset, p.act_min, p.act_max)
    return out.reshape(1, p.out_h, p.out_w, p.out_c)


LOWERINGS = {"CONV_2D": lower_conv2d}
REFERENCES = {"conv2d_s8": conv2d_s8_ref}
