"""TFLM's SignalFilterBank, SignalFilterBankSquareRoot and SignalFilterBankLog (signal/src/filter_bank*.cc).

- FilterBank: each of num_channels + 1 triangular filters spans channel_widths[i] bins from
  channel_frequency_starts[i]; bin j adds weights[k] * x to filter i and unweights[k] * x to filter i + 1
  (k = channel_weight_starts[i] + j), in uint64 arithmetic (an int16 weight is sign-extended, wrapping modulo
  2^64). Filter 0 is scratch: the output is filters 1..num_channels (uint64).
- FilterBankSquareRoot: the rounded integer square root (TFLM's bitwise Sqrt64, whose values below 2^32 take
  the 32-bit routine) of each uint64, then >> scale_bits (an int32 scalar operand, e.g. SignalFftAutoScale's).
- FilterBankLog: x << input_correction_bits (uint32, wrapping); 0 for values <= 1, else TFLM's Log32: a log2
  from the leading bit plus a 128-segment interpolation table, times ln 2 in Q16 (45426), times output_scale,
  each rounded; saturated to 32767 (int16 output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_filter_bank.h"

# TFLM's log interpolation table: 129 values of the log2 fraction correction in Q16 (+ one pad).
LOG_LUT = np.array([
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224,
    3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001,
    5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631,
    5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332,
    5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264,
    4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549,
    2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0,
    0], dtype=np.int64)
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _vector(t: Tensor | None, what: str, op_type: str, dtype: str, const: bool | None = None) -> Tensor:
    if t is None:
        raise Unsupported(f"{op_type} without its {what}")
    if t.dtype != dtype or len(t.shape) != 1:
        raise Unsupported(f"{op_type} {what} of {t.dtype} {t.shape} (TFLM requires a 1-D {dtype} tensor)")
    if const is not None and t.is_const != const:
        raise Unsupported(f"{op_type} with a {'non-' if const else ''}constant {what}")
    return t


# ---- SignalFilterBank -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterBankParams(KernelParams):
    C_TYPE = "signal_filter_bank_params_t"
    num_channels: int = cfield("int32_t")


def lower_filter_bank(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 6 or len(op.outputs) != 1:
        raise Unsupported(f"SignalFilterBank with {len(ins)} inputs, {len(op.outputs)} outputs (TFLM: 6 and 1)")
    name = "SignalFilterBank"
    x = _vector(ins[0], "input", name, "uint32", const=False)
    w, uw, fs, ws, widths = (_vector(t, what, name, "int16", const=True) for t, what in zip(
        ins[1:], ("weights", "unweights", "channel frequency starts", "channel weight starts", "channel widths"),
        strict=True))
    (y,) = graph.op_outputs(op)
    _vector(y, "output", name, "uint64")
    n = int(op.options.get("num_channels", -1))
    if n < 1 or y.shape[0] != n:
        raise Unsupported(f"SignalFilterBank num_channels {n} with a {y.shape} output")
    if any(t.shape[0] < n + 1 for t in (fs, ws, widths)) or w.shape != uw.shape:
        raise Unsupported(f"SignalFilterBank channel tables shorter than num_channels + 1 = {n + 1}, or weights "
                          f"{w.shape} and unweights {uw.shape} of different sizes")
    f0, w0, wd = (t.data.astype(np.int64)[: n + 1] for t in (fs, ws, widths))
    # TFLM reads whatever lies there: refuse tables that would reach outside the input or the weights.
    if (f0 < 0).any() or (w0 < 0).any() or (wd < 0).any() or ((f0 + wd) > x.shape[0]).any() or (
            (w0 + wd) > w.shape[0]).any():
        raise Unsupported("SignalFilterBank channel tables that reach outside the input or the weights")
    consts = tuple(ConstArray(role, np.ascontiguousarray(t.data, dtype=np.int16).reshape(-1)) for role, t in zip(
        ("weights", "unweights", "freq_starts", "weight_starts", "widths"), (w, uw, fs, ws, widths), strict=True))
    macs = 2 * int(wd.sum())
    return [KernelCall("signal_filter_bank", FilterBankParams(n), (x.index,), consts, (y.index,), op.index,
                       macs=macs)]


def signal_filter_bank_ref(p: FilterBankParams, x: np.ndarray, weights: np.ndarray, unweights: np.ndarray,
                           freq_starts: np.ndarray, weight_starts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    xs = np.asarray(x, np.uint64).reshape(-1)
    # int16 -> uint64 as C converts it (sign extension, then modulo 2^64); products and sums wrap modulo 2^64.
    w = np.asarray(weights, np.int16).astype(np.int64).astype(np.uint64)
    uw = np.asarray(unweights, np.int16).astype(np.int64).astype(np.uint64)
    out = np.zeros(p.num_channels, np.uint64)
    carry = np.uint64(0)
    with np.errstate(over="ignore"):
        for i in range(p.num_channels + 1):
            f, k, n = int(freq_starts[i]), int(weight_starts[i]), int(widths[i])
            seg = xs[f : f + n]
            acc = carry + np.sum(w[k : k + n] * seg, dtype=np.uint64)
            carry = np.sum(uw[k : k + n] * seg, dtype=np.uint64)
            if i > 0:
                out[i - 1] = acc
    return out


# ---- SignalFilterBankSquareRoot -------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterBankSqrtParams(KernelParams):
    C_TYPE = "signal_filter_bank_sqrt_params_t"
    num_channels: int = cfield("int32_t")


def lower_filter_bank_sqrt(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    name = "SignalFilterBankSquareRoot"
    if len(ins) != 2 or len(op.outputs) != 1:
        raise Unsupported(f"{name} with {len(ins)} inputs, {len(op.outputs)} outputs (TFLM: 2 and 1)")
    x = _vector(ins[0], "input", name, "uint64", const=False)
    bits = ins[1]
    if bits is None or bits.dtype != "int32" or bits.size != 1:
        raise Unsupported(f"{name} whose scale bits are not one int32")
    (y,) = graph.op_outputs(op)
    _vector(y, "output", name, "uint32")
    if y.shape != x.shape:
        raise Unsupported(f"{name} output {y.shape} for input {x.shape}")
    params = FilterBankSqrtParams(x.shape[0])
    if bits.is_const:
        consts = (ConstArray("scale_bits", np.asarray(bits.data, np.int32).reshape(1)),)
        return [KernelCall("signal_filter_bank_sqrt", params, (x.index,), consts, (y.index,), op.index)]
    return [KernelCall("signal_filter_bank_sqrt", params, (x.index, bits.index), (), (y.index,), op.index)]


def _msb(v: int) -> int:
    return v.bit_length()


def sqrt32(num: int) -> int:
    """TFLM's Sqrt32: bitwise integer square root, rounded up when the remainder exceeds the root."""
    if num == 0:
        return 0
    res = 0
    max_bit = (32 - _msb(num)) | 1
    bit = 1 << (31 - max_bit)
    for _ in range((31 - max_bit) // 2 + 1):
        if num >= res + bit:
            num -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    if num > res and res != 0xFFFF:
        res += 1
    return res


def sqrt64(num: int) -> int:
    """TFLM's Sqrt64 (values below 2^32 through Sqrt32), as a uint32."""
    if num >> 32 == 0:
        return sqrt32(num)
    res = 0
    max_bit = (64 - _msb(num)) | 1
    bit = 1 << (63 - max_bit)
    for _ in range((63 - max_bit) // 2 + 1):
        if num >= res + bit:
            num -= res + bit
            res = (res >> 1) + bit
        else:
            res >>= 1
        bit >>= 2
    if num > res and res != 0xFFFFFFFF:
        res += 1
    return res & _U32


def signal_filter_bank_sqrt_ref(p: FilterBankSqrtParams, x: np.ndarray, scale_bits: np.ndarray) -> np.ndarray:
    # C leaves shifts by 32 or more undefined; TFLM on x86 (its Python runtime) takes the count modulo 32, and
    # so do the kernels on every target (SignalFftAutoScale gives 0..15).
    shift = int(np.asarray(scale_bits).reshape(-1)[0]) & 31
    return np.array([sqrt64(int(v)) >> shift for v in np.asarray(x, np.uint64).reshape(-1)], np.uint32)


# ---- SignalFilterBankLog --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterBankLogParams(KernelParams):
    C_TYPE = "signal_filter_bank_log_params_t"
    num_channels: int = cfield("int32_t")
    output_scale: int = cfield("uint32_t")
    correction_bits: int = cfield("int32_t")


def lower_filter_bank_log(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    name = "SignalFilterBankLog"
    if len(ins) != 1 or len(op.outputs) != 1:
        raise Unsupported(f"{name} with {len(ins)} inputs, {len(op.outputs)} outputs (TFLM: 1 and 1)")
    x = _vector(ins[0], "input", name, "uint32", const=False)
    (y,) = graph.op_outputs(op)
    _vector(y, "output", name, "int16")
    if y.shape != x.shape:
        raise Unsupported(f"{name} output {y.shape} for input {x.shape}")
    scale = int(op.options.get("output_scale", 0))
    bits = int(op.options.get("input_correction_bits", 0))
    if not 0 <= bits <= 31:
        raise Unsupported(f"{name} input_correction_bits {bits} (a uint32 shift: 0 to 31)")
    params = FilterBankLogParams(x.shape[0], scale & _U32, bits)
    return [KernelCall("signal_filter_bank_log", params, (x.index,), (), (y.index,), op.index)]


def log32(x: int, out_scale: int) -> int:
    """TFLM's Log32(x, out_scale) for x >= 2, in its uint32 / int32 arithmetic."""
    integer = _msb(x) - 1
    frac = x - (1 << integer)  # < 2^31: an int32
    frac = frac << (16 - integer) if integer < 16 else frac >> (integer - 16)
    base_seg = frac >> 9
    c0, c1 = int(LOG_LUT[base_seg]), int(LOG_LUT[base_seg + 1])
    rel_pos = ((c1 - c0) * (frac - 512 * base_seg)) >> 16  # int32, arithmetic shift
    fraction = (frac + c0 + rel_pos) & _U32
    log2 = ((integer << 16) + fraction) & _U32
    loge = ((45426 * log2 + 32768) >> 16) & _U32
    return (((out_scale * loge) & _U32) + 32768 & _U32) >> 16


def signal_filter_bank_log_ref(p: FilterBankLogParams, x: np.ndarray) -> np.ndarray:
    out = np.zeros(p.num_channels, np.int16)
    for i, v in enumerate(np.asarray(x, np.uint32).reshape(-1)):
        scaled = (int(v) << p.correction_bits) & _U32
        if scaled > 1:
            out[i] = min(log32(scaled, p.output_scale), 32767)
    return out


LOWERINGS = {
    "CUSTOM:SignalFilterBank": lower_filter_bank,
    "CUSTOM:SignalFilterBankSquareRoot": lower_filter_bank_sqrt,
    "CUSTOM:SignalFilterBankLog": lower_filter_bank_log,
}
REFERENCES = {
    "signal_filter_bank": signal_filter_bank_ref,
    "signal_filter_bank_sqrt": signal_filter_bank_sqrt_ref,
    "signal_filter_bank_log": signal_filter_bank_log_ref,
}
