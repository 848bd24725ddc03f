"""TFLM's SignalFilterBankSpectralSubtraction (signal/src/filter_bank_spectral_subtraction.cc): stateful.

Per channel i (even channels use smoothing / one_minus_smoothing, odd ones the alternate pair), in uint32 with
uint64 products:
  s = x[i] << smoothing_bits
  noise[i] = (s * smoothing + noise[i] * one_minus_smoothing) >> spectral_subtraction_bits
  e = min(noise[i], s)            (and, with clamping, noise[i] = e)
  floor = (x[i] * min_signal_remaining) >> spectral_subtraction_bits
  out[i] = max((s - e) >> smoothing_bits, floor)
The noise estimate is TFLM's persistent buffer of the op (zeroed at Prepare and by Reset), not a model tensor;
here it is a variable tensor of the op (base.persistent_state): the call reads and writes it, and also copies
it to the op's second output, as TFLM does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield, persistent_state

HEADER = "signal_spectral_subtraction.h"
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
NAME = "SignalFilterBankSpectralSubtraction"


@dataclass(frozen=True)
class SpectralSubtractionParams(KernelParams):
    C_TYPE = "signal_spectral_subtraction_params_t"
    num_channels: int = cfield("int32_t")
    smoothing: int = cfield("uint32_t")
    one_minus_smoothing: int = cfield("uint32_t")
    alternate_smoothing: int = cfield("uint32_t")
    alternate_one_minus_smoothing: int = cfield("uint32_t")
    min_signal_remaining: int = cfield("uint32_t")
    smoothing_bits: int = cfield("int32_t")
    spectral_subtraction_bits: int = cfield("int32_t")
    clamping: int = cfield("int32_t")


def lower_spectral_subtraction(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or len(op.outputs) != 2:
        raise Unsupported(f"{NAME} with {len(ins)} inputs, {len(op.outputs)} outputs (TFLM: 1 and 2)")
    (x,) = ins
    y, noise = graph.op_outputs(op)
    for t, what in ((x, "input"), (y, "output"), (noise, "noise estimate output")):
        if t is None or t.dtype != "uint32" or len(t.shape) != 1:
            raise Unsupported(f"{NAME} {what} that is not a 1-D uint32 tensor")
    assert x is not None
    if x.is_const:
        raise Unsupported(f"{NAME} of a constant input")
    o = op.options
    n = int(o.get("num_channels", -1))
    if not (n >= 1 and x.shape[0] >= n and y.shape[0] == n and noise.shape[0] == n):
        raise Unsupported(f"{NAME} num_channels {n} with input {x.shape}, outputs {y.shape} and {noise.shape}")
    coefficients = [int(o.get(k, -1)) for k in ("smoothing", "one_minus_smoothing", "alternate_smoothing",
                                                  "alternate_one_minus_smoothing", "min_signal_remaining")]
    if any(not 0 <= c <= _U32 for c in coefficients):
        raise Unsupported(f"{NAME} with a smoothing coefficient or min_signal_remaining outside 0..2^32-1")
    sb, ssb = int(o.get("smoothing_bits", -1)), int(o.get("spectral_subtraction_bits", -1))
    if not (0 <= sb <= 31 and 0 <= ssb <= 63):
        raise Unsupported(f"{NAME} smoothing_bits {sb} or spectral_subtraction_bits {ssb} (shifts: 0..31, 0..63)")
    params = SpectralSubtractionParams(n, *coefficients, sb, ssb, int(bool(o.get("clamping", False))))
    state = persistent_state(graph, op, "noise_estimate", (n,), "uint32")
    return [KernelCall("signal_spectral_subtraction", params, (x.index, state), (), (y.index, noise.index, state),
                       op.index, macs=3 * n)]


def signal_spectral_subtraction_ref(p: SpectralSubtractionParams, x: np.ndarray, state: np.ndarray,
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One invoke: (output, noise estimate output, new state); `state` is not modified."""
    xs = [int(v) for v in np.asarray(x, np.uint32).reshape(-1)]
    noise = [int(v) for v in np.asarray(state, np.uint32).reshape(-1)]
    out = np.zeros(p.num_channels, np.uint32)
    for i in range(p.num_channels):
        if i & 1:
            smoothing, one_minus = p.alternate_smoothing, p.alternate_one_minus_smoothing
        else:
            smoothing, one_minus = p.smoothing, p.one_minus_smoothing
        s = (xs[i] << p.smoothing_bits) & _U32
        noise[i] = (((s * smoothing + noise[i] * one_minus) & _U64) >> p.spectral_subtraction_bits) & _U32
        e = noise[i]
        if e > s:
            e = s
            if p.clamping:
                noise[i] = e
        floor = (((xs[i] * p.min_signal_remaining) & _U64) >> p.spectral_subtraction_bits) & _U32
        sub = (s - e) >> p.smoothing_bits
        out[i] = max(sub, floor)
    new = np.array(noise, np.uint32)
    return out, new.copy(), new


LOWERINGS = {"CUSTOM:SignalFilterBankSpectralSubtraction": lower_spectral_subtraction}
REFERENCES = {"signal_spectral_subtraction": signal_spectral_subtraction_ref}
