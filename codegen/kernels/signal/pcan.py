"""TFLM's SignalPCAN: per-channel automatic gain control from the noise estimate (signal/src/pcan_argc_fixed.cc).

Per channel: gain = WideDynamicFunction(noise[i], lut) (a piecewise quadratic read from the 125-entry int16
gain table: lut[x] for x <= 2, else the three coefficients at 4 * msb(x) - 6, evaluated at the 10 bits after
the leading one; an int16, widened to uint32 as C converts it); snr = (uint64(x[i]) * gain) >> snr_shift,
kept as a uint32; out[i] = PcanShrink(snr): snr^2 >> 20 below 2 in Q12, else (snr >> 6) - 64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_pcan.h"
NAME = "SignalPCAN"
LUT_SIZE = 125  # WideDynamicFunction reads up to lut[4 * 32 - 6 + 2]
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class PcanParams(KernelParams):
    C_TYPE = "signal_pcan_params_t"
    num_channels: int = cfield("int32_t")
    snr_shift: int = cfield("int32_t")


def lower_pcan(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 3 or len(op.outputs) != 1:
        raise Unsupported(f"{NAME} with {len(ins)} inputs, {len(op.outputs)} outputs (TFLM: 3 and 1)")
    x, noise, lut = ins
    (y,) = graph.op_outputs(op)
    for t, what in ((x, "input"), (noise, "noise estimate"), (y, "output")):
        if t is None or t.dtype != "uint32" or len(t.shape) != 1 or t.is_const:
            raise Unsupported(f"{NAME} {what} that is not a non-constant 1-D uint32 tensor")
    assert x is not None and noise is not None
    if lut is None or lut.dtype != "int16" or not lut.is_const or lut.size < LUT_SIZE:
        raise Unsupported(f"{NAME} gain table that is not a constant int16 table of at least {LUT_SIZE} values")
    if not (x.shape == noise.shape == y.shape):
        raise Unsupported(f"{NAME} input {x.shape}, noise estimate {noise.shape} and output {y.shape} differ")
    shift = int(op.options.get("snr_shift", -1))
    if not 0 <= shift <= 63:
        raise Unsupported(f"{NAME} snr_shift {shift} (a uint64 shift: 0..63)")
    consts = (ConstArray("gain_lut", np.ascontiguousarray(lut.data, dtype=np.int16).reshape(-1)),)
    return [KernelCall("signal_pcan", PcanParams(x.shape[0], shift), (x.index, noise.index), consts, (y.index,),
                       op.index, macs=x.shape[0])]


def wide_dynamic(x: int, lut: np.ndarray) -> int:
    """TFLM's WideDynamicFunction as an int16."""
    if x <= 2:
        return int(lut[x])
    interval = x.bit_length()
    base = 4 * interval - 6
    frac = ((x << (11 - interval)) & _U32 if interval < 11 else x >> (interval - 11)) & 0x3FF
    result = (int(lut[base + 2]) * frac) >> 5
    result += int(lut[base + 1]) * 32
    result *= frac
    result = (result + (1 << 14)) >> 15
    result += int(lut[base])
    return ((result + 0x8000) & 0xFFFF) - 0x8000


def shrink(x: int) -> int:
    if x < (2 << 12):
        return ((x * x) & _U32) >> 20
    return ((x >> 6) - 64) & _U32


def signal_pcan_ref(p: PcanParams, x: np.ndarray, noise: np.ndarray, lut: np.ndarray) -> np.ndarray:
    lut = np.asarray(lut, np.int64).reshape(-1)
    out = np.zeros(p.num_channels, np.uint32)
    for i, (v, n) in enumerate(zip(np.asarray(x, np.uint32).reshape(-1), np.asarray(noise, np.uint32).reshape(-1),
                                   strict=True)):
        gain = wide_dynamic(int(n), lut) & _U32
        snr = ((int(v) * gain) >> p.snr_shift) & _U32
        out[i] = shrink(snr)
    return out


LOWERINGS = {"CUSTOM:SignalPCAN": lower_pcan}
REFERENCES = {"signal_pcan": signal_pcan_ref}
