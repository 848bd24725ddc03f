"""to_low_bit: the low-bit twin of an int8 convolution call of the patch stage, so that the integration of the
mixed-precision path is a swap of calls (same window, padding, constants and tensors)."""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.lowbit.codes import CodeFormat, check_format, packed_bytes
from codegen.kernels.lowbit.conv2d_lowbit import LowbitConv2dParams, col_bytes
from codegen.kernels.lowbit.depthwise_conv2d_lowbit import LowbitDepthwiseConv2dParams
from codegen.kernels.lowbit.thresholds import ROW_HEAD, output_thresholds

# int8 kernel -> (low-bit kernel, its DSP variant or None, params class)
_TWINS = {
    "conv2d_s8": ("conv2d_lowbit", "conv2d_lowbit_dsp", LowbitConv2dParams),
    "depthwise_conv2d_s8": ("depthwise_conv2d_lowbit", "depthwise_conv2d_lowbit_dsp", LowbitDepthwiseConv2dParams),
}


def _format_fields(fmt: CodeFormat | None, zero_point: int, side: str) -> dict[str, int]:
    if fmt is None or fmt.bits == 8:
        fields = {"bits": 8, "shift": 0, "m_lo": 0, "m_hi": 0}
    else:
        check_format(fmt, side)
        if fmt.zero_point != zero_point:
            raise ValueError(f"{side} format of zero point {fmt.zero_point}, the call's is {zero_point}")
        fields = {"bits": fmt.bits, "shift": fmt.shift, "m_lo": fmt.m_lo, "m_hi": fmt.m_hi}
    if side == "input":
        del fields["m_hi"]  # codes never exceed the format: the kernel has nothing to clamp
    return {f"{'in' if side == 'input' else 'out'}_{k}": v for k, v in fields.items()}


def to_low_bit(call: KernelCall, fmt_in: CodeFormat | None, fmt_out: CodeFormat | None, dsp: bool = False,
               cache: dict | None = None) -> KernelCall:
    """The call of conv2d_s8 / depthwise_conv2d_s8 reading fmt_in codes and writing fmt_out codes (None or a
    format of 8 bits: int8 on that side). dsp picks the DSP-extension variant where one exists; with a
    low-bit output it takes one more constant, the threshold rows of its output codes (thresholds.py). They
    do not depend on the window, so the patches of one layer can share them: pass one `cache` dict (the
    caller's, per build) to every call to compute them once per layer and formats."""
    if call.kernel not in _TWINS:
        raise ValueError(f"no low-bit twin of {call.kernel} (only {', '.join(_TWINS)})")
    kernel, fast, params_cls = _TWINS[call.kernel]
    p = call.params
    fields = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    fields |= _format_fields(fmt_in, -p.input_offset, "input")
    fields |= _format_fields(fmt_out, p.output_offset, "output")
    params = params_cls(**fields)
    scratch = 0
    if kernel == "conv2d_lowbit":
        scratch = col_bytes(p.kernel_h, p.kernel_w, p.in_c)
    consts = call.consts
    if dsp and fast is not None:
        kernel = fast
        scratch *= 2  # conv: two pixels at a time
        filt, bias, mult, shift = (np.asarray(c.data) for c in call.consts)
        # One row of weights per output channel: OHWI rows, or the HW taps of a depthwise channel.
        per_channel = filt.reshape(p.out_c, -1) if call.kernel == "conv2d_s8" else filt.reshape(-1, p.out_c).T
        key = _thresholds_key(params, call)
        if cache is not None and key in cache:
            rows = cache[key]
        else:
            rows = output_thresholds(params, per_channel, bias, mult, shift)
            if cache is not None:
                cache[key] = rows
        if rows is not None:
            params = dataclasses.replace(params, out_levels=rows.shape[1] - ROW_HEAD)
        else:
            rows = np.zeros((1,), dtype=np.int32)
        consts = (*consts, ConstArray("thresholds", rows))
    return dataclasses.replace(call, kernel=kernel, params=params, consts=consts, scratch_bytes=scratch)


def _thresholds_key(params, call: KernelCall) -> tuple:
    """What threshold rows depend on: the formats, offsets, clamp and constants (not the window)."""
    fields = ("input_offset", "output_offset", "act_min", "act_max", "in_bits", "in_shift", "in_m_lo", "out_bits",
              "out_shift", "out_m_lo", "out_m_hi")
    return (call.kernel, *(getattr(params, f) for f in fields),
            *(np.asarray(c.data).tobytes() for c in call.consts))


def output_bytes(call: KernelCall) -> int:
    """Bytes the low-bit call writes (its output buffer in the memory plan)."""
    p = call.params
    return packed_bytes((p.out_h, p.out_w, p.out_c), p.out_bits)
