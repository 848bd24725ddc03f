"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations with an int16 cell state: TFLite Micro's integer kernel; and
its 16x8 variant (int16 activations and hidden state with zero point 0, int64 biases and accumulators).

Inputs as TFLite numbers them: 0 input, 1-4 input-to-{input, forget, cell, output} weights, 5-8 the recurrent
weights in the same order, 9-11 peephole weights, 12-15 gate biases, 16-17 projection weights and bias,
18 the hidden state (int8, variable), 19 the cell state (int16, variable), 20-23 layer-norm coefficients.
TFLM's current kernel runs the plain LSTM only (no CIFG, peephole, projection or layer norm: it refuses them),
and so does this family. It ignores the operator's `intermediates` (the converter's gate scales): every gate
pre-activation is Q3.12 (scale 2^-12) and every gate output Q0.15 (2^-15), whatever the model says.

Per time step and batch row, with x the input row and h the hidden state before the step:
  gate_g = act_g(sat16(fc16(x; W_g, bias_g) + fc16(h; R_g))) for g in forget, input, cell (act: sigmoid; the
           cell gate uses the fused activation, which must be TANH: TFLM's other choice, sigmoid, has no
           value in the flatbuffer schema); fc16 requantizes to int16 at 2^-12;
  c      = sat16(mul(forget, c) + mul(input, cell gate)), clipped to +-cell_clip when it is set;
  output = sigmoid(sat16(fc16(x; W_o, bias_o) + fc16(h; R_o)));
  h      = clamp8(h_zp + mul(tanh(c), output)), written to the output tensor at this step too.
The int16 sigmoid and tanh interpolate a 256-entry table of sigmoid(k/24) in 0.16 fixed point, the one the
16x8 LOGISTIC/TANH family computes (codegen/kernels/activation/sigmoid_s16.py), placed in flash with the
weights.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.activation.sigmoid_s16 import sigmoid_table
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.conv.fully_connected import effective_multiplier
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from codegen.kernels.fixedpoint_s16 import multiply_by_quantized_multiplier_s64

HEADER = "lstm_s8.h"

GATES = ("input", "forget", "cell", "output")  # TFLite's order of the weight and bias inputs
_INPUT_WEIGHTS = (1, 2, 3, 4)
_RECURRENT_WEIGHTS = (5, 6, 7, 8)
_BIASES = (12, 13, 14, 15)
_HIDDEN, _CELL = 18, 19
_VARIANTS = {
    "peephole": (9, 10, 11),
    "projection": (16, 17),
    "layer normalisation": (20, 21, 22, 23),
}
_GATE_INPUT_SCALE = 2.0**-12  # Q3.12, the input of every gate's nonlinearity
_GATE_OUTPUT_SCALE = 2.0**-15  # Q0.15, its output


@dataclass(frozen=True)
class LstmParams(KernelParams):
    """Both element types' parameters (the 16x8 kernel's struct is the same one under another name)."""

    C_TYPE = "lstm_s8_params_t"
    batches: int = cfield("int32_t")
    time_steps: int = cfield("int32_t")
    input_size: int = cfield("int32_t")
    units: int = cfield("int32_t")
    time_major: int = cfield("int32_t")
    hidden_zero_point: int = cfield("int32_t")  # the new hidden state's zero point
    forget_cell_multiplier: int = cfield("int32_t")  # forget gate x cell state -> cell state
    forget_cell_shift: int = cfield("int32_t")
    input_cell_multiplier: int = cfield("int32_t")  # input gate x cell gate -> cell state
    input_cell_shift: int = cfield("int32_t")
    hidden_multiplier: int = cfield("int32_t")  # tanh(cell) x output gate -> hidden state
    hidden_shift: int = cfield("int32_t")
    tanh_multiplier: int = cfield("int32_t")  # tanh(cell) input: (c * multiplier + round) >> shift
    tanh_shift: int = cfield("int32_t")
    cell_clip: int = cfield("int32_t")  # quantized cell clip; 0: none


@dataclass(frozen=True)
class LstmS16Params(LstmParams):
    C_TYPE = "lstm_s16_params_t"


def _weights(t: Tensor | None, name: str, shape: tuple[int, int]) -> np.ndarray:
    if t is None or t.data is None:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM without constant {name} weights")
    if t.dtype != "int8":
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {t.dtype} {name} weights (int8 only)")
    if tuple(t.shape) != shape:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {name} weights of shape {t.shape}, not {shape}")
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {name} weights need a per-tensor quantization")
    if t.zero_point != 0:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {name} weights with zero point {t.zero_point} (only 0)")
    if not (math.isfinite(t.scale) and t.scale > 0):
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {name} weights of scale {t.scale:g} (positive only)")
    return np.ascontiguousarray(t.data, dtype=np.int8)


def _per_tensor(t: Tensor, what: str) -> tuple[float, int]:
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {what} needs a per-tensor quantization")
    if not (math.isfinite(t.scale) and t.scale > 0):
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {what} of scale {t.scale:g} (positive only)")
    return t.scale, t.zero_point


def _multiplier(real: float) -> tuple[int, int]:
    return quantize_multiplier(real) if real > 0 else (0, 0)


def pack_gate_rows(w: np.ndarray) -> np.ndarray:
    """[4 gates][units][n] int8 weights as the int8 kernel streams them: per unit, the four gates' rows four
    columns at a time (gate 0 columns 4k..4k+3, gate 1 the same columns, ...), then each gate's n % 4 last
    columns. One pointer then walks every gate's weights, in the order the kernel multiplies them."""
    g, u, n = w.shape
    body = n // 4 * 4
    blocks = w[:, :, :body].reshape(g, u, n // 4, 4).transpose(1, 2, 0, 3).reshape(u, -1)
    tail = w[:, :, body:].transpose(1, 0, 2).reshape(u, -1)
    return np.concatenate([blocks, tail], axis=1).reshape(-1)


def unpack_gate_rows(packed: np.ndarray, units: int, n: int) -> np.ndarray:
    """The inverse of pack_gate_rows: [4][units][n]."""
    body = n // 4 * 4
    rows = np.asarray(packed).reshape(units, 4 * n)
    blocks = rows[:, : 4 * body].reshape(units, n // 4, 4, 4).transpose(2, 0, 1, 3).reshape(4, units, body)
    tail = rows[:, 4 * body :].reshape(units, 4, n - body).transpose(1, 0, 2)
    return np.concatenate([blocks, tail], axis=2)


def tanh_input_scaling(cell_scale_power: int) -> tuple[int, int]:
    """TFLM's tanh input rescaling for a cell state of scale 2^power: (multiplier, right shift)."""
    left = 15 + cell_scale_power - 3
    if left >= 0:
        return 3 << left, 0
    return 3, -left


def lower_lstm(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 24:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {len(ins)} inputs (TFLite Micro's has 24)")
    x, hidden, cell = ins[0], ins[_HIDDEN], ins[_CELL]
    (y,) = graph.op_outputs(op)
    if ins[1] is None:
        raise Unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM with CIFG (no input gate; TFLite Micro refuses it too)")
    for what, positions in _VARIANTS.items():
        if any(ins[i] is not None for i in positions):
            raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {what} (TFLite Micro refuses it too)")
    if x is None or hidden is None or cell is None:
        raise Unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM without its input, hidden state or cell state")
    act = x.dtype
    if act not in ("int8", "int16") or y.dtype != act or hidden.dtype != act:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with {x.dtype} input, {hidden.dtype} hidden state and "
                          f"{y.dtype} output (all int8, or all int16)")
    if cell.dtype != "int16":
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with a {cell.dtype} cell state (int16 only)")
    for t, what in ((hidden, "hidden"), (cell, "cell")):
        if not t.is_variable:
            raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM whose {what} state is not a variable tensor")
        if t.index in graph.inputs or t.index in graph.outputs:
            raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM whose {what} state is a graph input or output")
    if op.options.get("asymmetric_quantize_inputs"):
        raise Unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM with asymmetric_quantize_inputs (hybrid; int8 only)")
    if op.options.get("diagonal_recurrent_tensors"):
        raise Unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM with diagonal recurrent weights (TFLite Micro has none)")
    activation = op.options.get("activation", "TANH")
    if activation != "TANH":
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM with fused activation {activation} (TANH only, as "
                          "TFLite Micro)")
    if len(x.shape) != 3:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM input of shape {x.shape} (rank 3 only)")
    time_major = bool(op.options.get("time_major", False))
    steps, batches = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    input_size = x.shape[2]
    w_forget = ins[2]
    if w_forget is None or len(w_forget.shape) != 2:
        raise Unsupported("UNIDIRECTIONAL_SEQUENCE_LSTM without rank-2 input-to-forget weights")
    units = w_forget.shape[0]
    if hidden.size != batches * units or cell.size != batches * units:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM states of {hidden.size} and {cell.size} elements for "
                          f"{batches} batches of {units} units")
    if tuple(y.shape) != (x.shape[0], x.shape[1], units):
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM output of shape {y.shape}, not "
                          f"{(x.shape[0], x.shape[1], units)}")
    s_x, z_x = _per_tensor(x, "input")
    s_h, z_h = _per_tensor(hidden, "hidden state")
    s_c, z_c = _per_tensor(cell, "cell state")
    s_y, z_y = _per_tensor(y, "output")
    if z_c != 0:
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM cell state zero point {z_c} (only 0)")
    power = math.frexp(s_c)[1] - 1
    if s_c != 2.0**power:
        # TFLM rounds log2 of any cell scale to an integer for its tanh (a different scale would be misread)
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM cell state scale {s_c:g} is not a power of two")
    if (s_y, z_y) != (s_h, z_h):
        # TFLM copies the hidden state's bytes to the output: a different quantization would be misread.
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM output quantization ({s_y:g}, {z_y}) differs from the "
                          f"hidden state's ({s_h:g}, {z_h})")
    w_in = np.stack([_weights(ins[i], f"input-to-{g}", (units, input_size))
                     for i, g in zip(_INPUT_WEIGHTS, GATES, strict=True)])
    w_rec = np.stack([_weights(ins[i], f"recurrent-to-{g}", (units, units))
                      for i, g in zip(_RECURRENT_WEIGHTS, GATES, strict=True)])
    bias_type = "int32" if act == "int8" else "int64"
    if act == "int16" and (z_x, z_h) != (0, 0):
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM 16x8 with input and hidden zero points {z_x}, {z_h} "
                          "(only 0)")
    biases = []
    for i, g in zip(_BIASES, GATES, strict=True):
        b = ins[i]
        if b is None or b.data is None or b.dtype != bias_type or tuple(b.shape) != (units,):
            raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM {g} gate bias must be constant {bias_type} of "
                              f"{units} elements")
        biases.append(b.data.astype(np.int64))
    mults, shifts = [], []
    for i, j in zip(_INPUT_WEIGHTS, _RECURRENT_WEIGHTS, strict=True):
        for m, s in (_multiplier(effective_multiplier(s_x, ins[i].scale, _GATE_INPUT_SCALE)),
                       _multiplier(effective_multiplier(s_h, ins[j].scale, _GATE_INPUT_SCALE))):
            mults.append(m)
            shifts.append(s)
    cell_clip = float(op.options.get("cell_clip", 0.0))
    if not (math.isfinite(cell_clip) and cell_clip >= 0):
        raise Unsupported(f"UNIDIRECTIONAL_SEQUENCE_LSTM cell_clip {cell_clip:g} (TFLite Micro needs >= 0)")
    # TFLM: the clip over the cell scale in double, held in [-32768, 32767], then truncated to int16.
    q_clip = int(min(max(cell_clip / s_c, -32768.0), 32767.0)) if cell_clip > 0 else 0
    fc_m, fc_s = quantize_multiplier(_GATE_OUTPUT_SCALE * s_c / s_c)
    ic_m, ic_s = quantize_multiplier(_GATE_OUTPUT_SCALE * _GATE_OUTPUT_SCALE / s_c)
    h_m, h_s = quantize_multiplier(_GATE_OUTPUT_SCALE * _GATE_OUTPUT_SCALE / s_h)
    t_m, t_s = tanh_input_scaling(power)
    params = LstmParams(batches, steps, input_size, units, int(time_major), z_h,
                        fc_m, fc_s, ic_m, ic_s, h_m, h_s, t_m, t_s, q_clip)
    macs = batches * steps * 4 * units * (input_size + units)
    table = ConstArray("sigmoid", (sigmoid_table().astype(np.int32) - 32768).astype(np.int16))
    if act == "int16":
        consts16 = (
            ConstArray("w_input", w_in.reshape(-1)),
            ConstArray("w_recurrent", w_rec.reshape(-1)),
            ConstArray("bias", np.stack(biases).reshape(-1).astype(np.int64)),
            ConstArray("gate_mult", np.array(mults, np.int32)),
            ConstArray("gate_shift", np.array(shifts, np.int32)),
            table,
        )
        return [KernelCall("lstm_s16", LstmS16Params(**dataclasses.asdict(params)), (x.index, hidden.index,
                           cell.index), consts16, (y.index, hidden.index, cell.index), op.index, macs=macs,
                           scratch_bytes=4 * units * 2)]
    consts = (
        ConstArray("w_input", pack_gate_rows(w_in)),
        ConstArray("w_recurrent", pack_gate_rows(w_rec)),
        # TFLM sums w * (x - zp) + bias; w * x + (bias - zp * sum(w)) is the same modulo 2^32, a MAC cheaper
        ConstArray("bias", _wrap32(np.stack(biases).astype(np.int64) - z_x * w_in.astype(np.int64).sum(axis=2))
                   .reshape(-1).astype(np.int32)),
        ConstArray("rec_bias", _wrap32(-z_h * w_rec.astype(np.int64).sum(axis=2)).reshape(-1).astype(np.int32)),
        ConstArray("gate_mult", np.array(mults, np.int32)),
        ConstArray("gate_shift", np.array(shifts, np.int32)),
        table,
    )
    return [KernelCall("lstm_s8", params, (x.index, hidden.index, cell.index), consts,
                       (y.index, hidden.index, cell.index), op.index, macs=macs, scratch_bytes=4 * units * 2)]


# --- NumPy reference -------------------------------------------------------------------------------------------

def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + 2**31) % 2**32) - 2**31


def _clamp(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(v, lo, hi)


def sigmoid_s16(v: np.ndarray, table: np.ndarray) -> np.ndarray:
    """TFLite's int16 sigmoid of a Q3.12 input, Q0.15 output."""
    data = np.asarray(v, np.int64) * 3
    mag = np.abs(data)
    hi = mag >> 9
    idx = np.minimum(hi, 254)
    ua, ub = table[idx], table[idx + 1]
    res = np.where(hi >= 255, 0x7FFF << 10, (ua << 9) + (mag & 0x1FF) * (ub - ua))
    res = np.where(data >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return (res >> 10).astype(np.int64)


def tanh_s16(v: np.ndarray, table: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's int16 tanh: input (v * multiplier + round) >> shift in Q3.12 scaled by 3/4, output Q0.15."""
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    data = (np.asarray(v, np.int64) * multiplier + rnd) >> shift
    mag = np.abs(data)
    hi = mag >> 8
    idx = np.minimum(hi, 254)
    ua, ub = table[idx], table[idx + 1]
    res = np.where(hi >= 255, 0xFFFF << 8, (ua << 8) + (mag & 0xFF) * (ub - ua))
    res = np.where(data >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return (res >> 8).astype(np.int64)


def _sequence(p: LstmParams, x: np.ndarray, hidden: np.ndarray, cell: np.ndarray, pre: object,
              sigmoid: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps every batch row through the sequence; pre(g, x_t, h) gives gate g's int16 pre-activations."""
    n, u = p.input_size, p.units
    table = np.asarray(sigmoid, np.int64) + 32768
    xs = np.asarray(x, np.int64).reshape(-1)
    if p.time_major:
        xs = xs.reshape(p.time_steps, p.batches, n)
    else:
        xs = xs.reshape(p.batches, p.time_steps, n).transpose(1, 0, 2)
    h = np.asarray(hidden, np.int64).reshape(p.batches, u).copy()
    c = np.asarray(cell, np.int64).reshape(p.batches, u).copy()
    out = np.zeros((p.time_steps, p.batches, u), np.int64)
    for t in range(p.time_steps):
        xt = xs[t]
        f = sigmoid_s16(pre(1, xt, h), table)  # type: ignore[operator]
        i = sigmoid_s16(pre(0, xt, h), table)  # type: ignore[operator]
        g = tanh_s16(pre(2, xt, h), table, 3, 0)  # type: ignore[operator]
        fc = _clamp(multiply_by_quantized_multiplier(f * c, p.forget_cell_multiplier, p.forget_cell_shift),
                    -32768, 32767)
        ic = _clamp(multiply_by_quantized_multiplier(i * g, p.input_cell_multiplier, p.input_cell_shift),
                    -32768, 32767)
        c = _clamp(fc + ic, -32768, 32767)
        if p.cell_clip > 0:
            c = _clamp(c, -p.cell_clip, p.cell_clip)
        o = sigmoid_s16(pre(3, xt, h), table)  # type: ignore[operator]
        th = tanh_s16(c, table, p.tanh_multiplier, p.tanh_shift)
        h = _clamp(multiply_by_quantized_multiplier(th * o, p.hidden_multiplier, p.hidden_shift)
                   + p.hidden_zero_point, lo, hi)
        out[t] = h
    y = out if p.time_major else out.transpose(1, 0, 2)
    dtype = np.int8 if hi == 127 else np.int16
    return (y.astype(dtype), h.reshape(np.shape(hidden)).astype(dtype),
            c.reshape(np.shape(cell)).astype(np.int16))


def lstm_s8_ref(p: LstmParams, x: np.ndarray, hidden: np.ndarray, cell: np.ndarray, w_in: np.ndarray,
                w_rec: np.ndarray, bias: np.ndarray, rec_bias: np.ndarray, gate_mult: np.ndarray,
                gate_shift: np.ndarray, sigmoid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole sequence: returns (output, new hidden state, new cell state); the inputs are not modified.
    Both weight arrays come packed (pack_gate_rows)."""
    n, u = p.input_size, p.units
    w_in = unpack_gate_rows(w_in, u, n).astype(np.int64)
    w_rec = unpack_gate_rows(w_rec, u, u).astype(np.int64)
    bias = np.asarray(bias, np.int64).reshape(4, u)
    rec_bias = np.asarray(rec_bias, np.int64).reshape(4, u)

    def pre(g: int, xt: np.ndarray, h: np.ndarray) -> np.ndarray:
        a = _wrap32(xt @ w_in[g].T + bias[g][None])
        a = _clamp(multiply_by_quantized_multiplier(a, int(gate_mult[2 * g]), int(gate_shift[2 * g])), -32768, 32767)
        r = _wrap32(h @ w_rec[g].T + rec_bias[g][None])
        r = _clamp(multiply_by_quantized_multiplier(r, int(gate_mult[2 * g + 1]), int(gate_shift[2 * g + 1])),
                   -32768, 32767)
        return _clamp(a + r, -32768, 32767)

    return _sequence(p, x, hidden, cell, pre, sigmoid, -128, 127)


def lstm_s16_ref(p: LstmParams, x: np.ndarray, hidden: np.ndarray, cell: np.ndarray, w_in: np.ndarray,
                 w_rec: np.ndarray, bias: np.ndarray, gate_mult: np.ndarray, gate_shift: np.ndarray,
                 sigmoid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16x8: int16 activations and hidden state, int64 accumulators and biases (zero points 0)."""
    n, u = p.input_size, p.units
    w_in = np.asarray(w_in, np.int64).reshape(4, u, n)
    w_rec = np.asarray(w_rec, np.int64).reshape(4, u, u)
    bias = np.asarray(bias, np.int64).reshape(4, u)

    def pre(g: int, xt: np.ndarray, h: np.ndarray) -> np.ndarray:
        a = multiply_by_quantized_multiplier_s64(xt @ w_in[g].T + bias[g][None], int(gate_mult[2 * g]),
                                                 int(gate_shift[2 * g]))
        r = multiply_by_quantized_multiplier_s64(h @ w_rec[g].T, int(gate_mult[2 * g + 1]),
                                                 int(gate_shift[2 * g + 1]))
        return _clamp(_clamp(a, -32768, 32767) + _clamp(r, -32768, 32767), -32768, 32767)

    return _sequence(p, x, hidden, cell, pre, sigmoid, -32768, 32767)


LOWERINGS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": lower_lstm}
REFERENCES = {"lstm_s8": lstm_s8_ref, "lstm_s16": lstm_s16_ref}
