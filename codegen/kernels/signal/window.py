"""SignalWindow: int16 samples times an int16 window, shifted right and saturated to int16 (TFLM's arithmetic).

For every row of `size` samples (the window's length; the input's element count is a multiple of it):
  out[i] = clamp16((int32(x[i]) * w[i]) >> shift)     (arithmetic shift: rounds toward minus infinity)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_window.h"


@dataclass(frozen=True)
class SignalWindowParams(KernelParams):
    C_TYPE = "signal_window_params_t"
    rows: int = cfield("int32_t")
    size: int = cfield("int32_t")  # the window's length: samples per row
    shift: int = cfield("int32_t")


def lower_window(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or len(op.outputs) != 1 or ins[0] is None or ins[1] is None:
        raise Unsupported("SignalWindow needs an input and a window, and has one output")
    x, w = ins
    (y,) = graph.op_outputs(op)
    if (x.dtype, w.dtype, y.dtype) != ("int16", "int16", "int16"):
        raise Unsupported(f"SignalWindow of {x.dtype} by a {w.dtype} window into {y.dtype} (int16 only)")
    if len(w.shape) != 1 or w.size < 1 or len(x.shape) < 1 or len(x.shape) != len(y.shape):
        raise Unsupported(f"SignalWindow of {x.shape} by a window of shape {w.shape} into {y.shape} "
                          "(a 1-D window, input and output of equal rank)")
    if x.size % w.size or y.size != x.size:
        raise Unsupported(f"SignalWindow input of {x.size} elements is not a whole number of {w.size}-sample "
                          f"windows, or the output has {y.size}")
    shift = int(op.options.get("shift", 0))
    if not 0 <= shift <= 31:
        raise Unsupported(f"SignalWindow shift {shift} (0 to 31)")
    params = SignalWindowParams(x.size // w.size, w.size, shift)
    if w.is_const:
        assert w.data is not None
        inputs, consts = (x.index,), (ConstArray("window", np.ascontiguousarray(w.data, np.int16).reshape(-1)),)
    else:
        inputs, consts = (x.index, w.index), ()
    return [KernelCall("signal_window_s16", params, inputs, consts, (y.index,), op.index, macs=x.size,
                       in_place=True)]


def signal_window_s16_ref(p: SignalWindowParams, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = np.asarray(x, np.int64).reshape(p.rows, p.size)
    raw = (rows * np.asarray(w, np.int64).reshape(1, p.size)) >> p.shift
    return np.clip(raw, -32768, 32767).astype(np.int16).reshape(-1)


LOWERINGS = {"CUSTOM:SignalWindow": lower_window}
REFERENCES = {"signal_window_s16": signal_window_s16_ref}
