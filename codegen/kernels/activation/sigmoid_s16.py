"""LOGISTIC and TANH on int16 tensors (16x8), as TFLite Micro's reference integer kernels.

Both read one table: sigmoid at x = i/24 for i = 0..255, in Q0.16, and interpolate linearly between its
entries; tanh comes from the same table through tanh(x) = 2 sigmoid(2x) - 1, and negative inputs from the
symmetry sigmoid(-x) = 1 - sigmoid(x).

The table is computed here: each sample of 65536 sigmoid(i/24) is raised by half the mean of the chord errors
(curve minus chord at the interval's midpoint) of its two intervals, so that the interpolated curve straddles
the true one, then rounded half up and capped at 65535; the last entry is the value the kernels saturate to
beyond the table (65535), so the curve has no step where saturation starts. That reproduces TFLM's literal
table: the tests run TFLM's kernels over every int16 input at several input scales and compare all outputs.

Prepare (TFLM's logistic_common.cc / tanh.cc): zero points must be 0 and the output scale 2^-15. An input
scale that is a power of two within 1e-3 in log2 (CheckedLog2) and puts the input in Q3.12 (Q3.12 or Q2.13
for TANH) uses the fixed multiplier 3 << shift; any other scale gets a 16-bit multiplier and a right shift
that map it to 1/(3 * 4096).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "sigmoid_s16.h"

TABLE_SIZE = 256
TABLE_STEP = 1.0 / 24
INPUT_INTEGER_BITS = 3
OUTPUT_FRACTIONAL_BITS = 15


@dataclass(frozen=True)
class SigmoidS16Params(KernelParams):
    C_TYPE = "sigmoid_s16_params_t"
    size: int = cfield("int32_t")
    tanh: int = cfield("int32_t")  # 0: LOGISTIC, 1: TANH
    input_multiplier: int = cfield("int32_t")
    input_right_shift: int = cfield("int32_t")  # the product is rounded half up, then shifted


@functools.cache
def sigmoid_table() -> np.ndarray:
    """The 256-entry Q0.16 sigmoid table, chord-error balanced (see the module docstring)."""
    knots = 65536.0 / (1.0 + np.exp(-np.arange(TABLE_SIZE + 1) * TABLE_STEP))
    mids = 65536.0 / (1.0 + np.exp(-(np.arange(TABLE_SIZE) + 0.5) * TABLE_STEP))
    chord_error = mids - (knots[:-1] + knots[1:]) / 2  # of interval [i, i + 1]
    raise_by = np.zeros(TABLE_SIZE)
    raise_by[0] = chord_error[0] / 4  # the interval left of 0 mirrors the one right of it
    raise_by[1:-1] = (chord_error[:-2] + chord_error[1:-1]) / 4
    table = np.minimum(np.floor(knots[:TABLE_SIZE] + raise_by + 0.5), 65535).astype(np.uint16)
    table[-1] = 65535  # continuous with the saturated output the kernels give past the last entry
    table.flags.writeable = False
    return table


def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2: (is x a power of two within 1e-3 in log2, that power rounded)."""
    log2 = math.log(x) / math.log(2.0)
    rounded = int(math.floor(log2 + 0.5)) if log2 >= 0 else -int(math.floor(-log2 + 0.5))
    return abs(log2 - rounded) < 1e-3, rounded


def input_scaling(op_type: str, input_scale: float) -> tuple[int, int]:
    """(multiplier, right shift) that map the int16 input onto the table's grid, as TFLM's Prepare and the
    kernel's power-of-two branch together compute them."""
    pot, log2 = _checked_log2(input_scale)
    shift = (15 - INPUT_INTEGER_BITS) + log2
    if pot and (shift == 0 or (op_type == "TANH" and shift == 1)):
        return 3 << shift, 0
    multiplier = input_scale * 4096.0 * 3.0
    shift = 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    if multiplier >= 65536.0:
        raise Unsupported(f"{op_type} int16 input scale {input_scale:g} is too large (the rescaled input overflows)")
    return int(multiplier), shift


def _quant(t: Tensor, op_type: str, role: str) -> tuple[float, int]:
    if t.quant is None or t.quant.per_channel or not t.scale > 0:
        raise Unsupported(f"{op_type} needs a per-tensor quantized int16 {role}")
    return float(t.scale), t.zero_point


def lower_sigmoid_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    assert x is not None
    if y.dtype != "int16":
        raise Unsupported(f"{op.op_type} from int16 to {y.dtype} (only int16 to int16)")
    if x.size != y.size:
        raise Unsupported(f"{op.op_type} with input shape {x.shape} and output shape {y.shape}")
    s_in, zp_in = _quant(x, op.op_type, "input")
    s_out, zp_out = _quant(y, op.op_type, "output")
    if zp_in != 0 or zp_out != 0:
        raise Unsupported(f"{op.op_type} int16 with zero points {zp_in}, {zp_out} (TFLite Micro requires 0)")
    pot, log2 = _checked_log2(s_out)
    if not pot or log2 != -OUTPUT_FRACTIONAL_BITS:
        raise Unsupported(f"{op.op_type} int16 output scale {s_out:g} (TFLite Micro requires 2^-15)")
    multiplier, shift = input_scaling(op.op_type, s_in)
    params = SigmoidS16Params(x.size, int(op.op_type == "TANH"), multiplier, shift)
    table = ConstArray("sigmoid_table", sigmoid_table().copy())
    return [KernelCall("sigmoid_s16", params, (x.index,), (table,), (y.index,), op.index, in_place=True)]


def sigmoid_s16_ref(p: SigmoidS16Params, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    t = np.asarray(table, dtype=np.int64)
    rnd = (1 << (p.input_right_shift - 1)) if p.input_right_shift > 0 else 0
    v = (np.asarray(x, dtype=np.int64) * p.input_multiplier + rnd) >> p.input_right_shift
    a = np.abs(v)
    frac_bits = 8 if p.tanh else 9  # tanh reads the table at twice the argument
    index = a >> frac_bits
    saturated = index >= TABLE_SIZE - 1
    safe = np.minimum(index, TABLE_SIZE - 2)
    lo, hi = t[safe], t[safe + 1]
    frac = a & ((1 << frac_bits) - 1)
    interp = (lo << frac_bits) + frac * (hi - lo)
    if p.tanh:
        r = np.where(saturated, 0xFFFF << 8, interp)
        r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1) >> 8
    else:
        r = np.where(saturated, 0x7FFF << 10, interp)
        r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1) >> 10
    return r.astype(np.int16).reshape(np.shape(x))


def _accepts(op: Operator, graph: Graph) -> bool:
    x = graph.op_inputs(op)[0]
    return x is not None and x.dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"LOGISTIC": (_accepts, lower_sigmoid_s16), "TANH": (_accepts, lower_sigmoid_s16)}
REFERENCES = {"sigmoid_s16": sigmoid_s16_ref}
