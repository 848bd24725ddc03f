"""SignalFftAutoScale, SignalRfft and SignalIrfft (int16): TFLM's block scaling and fixed-point real FFTs.

FftAutoScale: m = the largest |x| (as TFLM's int16 arithmetic finds it), bits = max(0, 15 - msb(m)) with
msb(0) = 32 (GCC's count of leading zeros, as TFLM builds it) and a -32768 read as 0xFFFF8000 (msb 32);
the output is x * 2^bits (wrapping to int16) and the second output the int32 `bits`.

Rfft int16: TFLM wraps kissfft (v1.3.0) built with FIXED_POINT=16. Each row of `input_length` samples,
zero-padded to N = fft_length, is read as N/2 complex values, transformed by the complex FFT of size
N/2 (decimation in time over the radices kf_factor picks: 4s first, then 2, 3, 5, ...), then split into
the N/2 + 1 bins of the real spectrum. The fixed-point arithmetic, every intermediate stored to int16:
  sround(v) = (v + 2^14) >> 15;  c * w = (sround(cr*wr - ci*wi), sround(cr*wi + ci*wr))
  a radix-p butterfly first divides its p inputs by p: x = sround(x * (32767 / p))
  twiddles: (floor(0.5 + 32767 cos t), floor(0.5 + 32767 sin t)), t = -2 pi k / (N/2) (in double)
  split: f = X[k] / 2, g = conj(X[N/2-k]) / 2, s = f + g, t = (f - g) * u_k with
  u_k = cexp(-pi ((k / (N/2)) + 1/2)) (k = 1...N/4, fixed point as the twiddles),
  Y[k] = ((s + t) >> 1 as int), Y[N/2-k] = ((s.r - t.r) >> 1, (t.i - s.i) >> 1); Y[0] and Y[N/2] from X[0]/2.
Irfft int16 is kissfft's kiss_fftri: Z[0] = ((Y[0].r + Y[N/2].r) / 2, (Y[0].r - Y[N/2].r) / 2), and for
k = 1...N/4 with f = Y[k] / 2, g = conj(Y[N/2-k]) / 2, e = f + g, o = (f - g) * conj(u_k): Z[k] = e + o,
Z[N/2-k] = conj(e - o); then the inverse complex FFT of Z (conjugate twiddles, the same division by each
radix) gives the N samples [re, im, re, im, ...].
Radix-3 and radix-5 stages follow kissfft's kf_bfly3 / kf_bfly5; lengths whose half has a prime factor
above 5 (kissfft's generic stage, on which the tflite-micro package segfaults: fft_length 14 does) are
refused. Rfft and Irfft int32 are the same algorithms with FIXED_POINT=32 (31 fraction bits, int64 products),
float32 kissfft's float build (no division per stage; TFLM divides the float inverse by fft_length).
The tables (twiddles, the input permutation of the decimation in time) are built here, at compile time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_fft.h"


@dataclass(frozen=True)
class FftAutoScaleParams(KernelParams):
    C_TYPE = "signal_fft_auto_scale_params_t"
    size: int = cfield("int32_t")


@dataclass(frozen=True)
class RealFftParams(KernelParams):
    """Rfft and Irfft: per row, `input_length` values in, `output_length` out (each row's stride)."""

    C_TYPE = "signal_real_fft_params_t"
    rows: int = cfield("int32_t")
    input_length: int = cfield("int32_t")  # Rfft: samples (zero-padded to fft_length); Irfft: 2 per bin
    fft_length: int = cfield("int32_t")
    output_length: int = cfield("int32_t")  # Rfft: 2 per bin; Irfft: samples
    stages: int = cfield("int32_t")  # pairs (radix, m) in the factors table


def kiss_factors(n: int) -> list[tuple[int, int]]:
    """kissfft's kf_factor: (radix p, remaining length m) per stage, outermost first."""
    out: list[tuple[int, int]] = []
    p, floor_sqrt = 4, math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        out.append((p, n))
        if n <= 1:
            return out


_SAMP_MAXES = {"int16": 2**15 - 1, "int32": 2**31 - 1}
_NP_TYPES = {"int16": np.int16, "int32": np.int32, "float32": np.float32}
_SUFFIX = {"int16": "s16", "int32": "s32", "float32": "f32"}


def _cexp(phase: float, kind: str) -> tuple[float, float]:
    """kissfft's kf_cexp: fixed point floor(0.5 + SAMP_MAX cos t), float (float) cos t."""
    if kind == "float32":
        return float(np.float32(math.cos(phase))), float(np.float32(math.sin(phase)))
    top = _SAMP_MAXES[kind]
    return math.floor(0.5 + top * math.cos(phase)), math.floor(0.5 + top * math.sin(phase))


def rfft_tables(fft_length: int, inverse: bool = False, kind: str = "int16",
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(factors [p, m, ...] int32, twiddles [re, im, ...], split twiddles (both of the transform's type),
    input permutation int16). The inverse transform's twiddles are the conjugates (kissfft negates the phase)."""
    ncfft = fft_length // 2
    factors = kiss_factors(ncfft)
    pi = 3.14159265358979323846264338327
    sign = -1.0 if inverse else 1.0
    tw = [_cexp(sign * (-2 * pi * i / ncfft), kind) for i in range(ncfft)]
    super_tw = [_cexp(sign * (-pi * ((i + 1) / ncfft + 0.5)), kind) for i in range(ncfft // 2)]
    # Output position sum_i j_i * m_i reads input sum_i j_i * (product of the radices before stage i).
    perm = np.zeros(ncfft, np.int64)
    strides = [math.prod(p for p, _ in factors[:i]) for i in range(len(factors))]
    for digits in itertools.product(*(range(p) for p, _ in factors)):
        out = sum(j * m for j, (_, m) in zip(digits, factors, strict=True))
        perm[out] = sum(j * s for j, s in zip(digits, strides, strict=True))
    np_type = _NP_TYPES[kind]
    return (np.asarray([v for pm in factors for v in pm], np.int32), np.asarray(tw, np_type).reshape(-1),
            np.asarray(super_tw, np_type).reshape(-1), perm.astype(np.int16))


_RADICES = (2, 3, 4, 5)


def _check_length(name: str, n: int, dtype: str) -> None:
    """kissfft takes any even length; the kernels here have its radix-2, 3, 4 and 5 stages (not its generic
    stage for larger prime factors)."""
    if n < 4 or n % 2 or n > 32768:
        raise Unsupported(f"{name} fft_length {n} (an even length from 4 to 32768)")
    radices = sorted({p for p, _ in kiss_factors(n // 2)})
    if any(p not in _RADICES for p in radices):
        raise Unsupported(f"{name} {dtype} fft_length {n}: its stages of radix {radices} are not all among "
                          f"{list(_RADICES)}")


def lower_fft_auto_scale(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 2:
        raise Unsupported("SignalFftAutoScale takes one input and has two outputs")
    x = ins[0]
    y, bits = graph.op_outputs(op)
    if (x.dtype, y.dtype, bits.dtype) != ("int16", "int16", "int32"):
        raise Unsupported(f"SignalFftAutoScale of {x.dtype} into {y.dtype}, {bits.dtype} (int16, int16, int32)")
    if len(x.shape) != 1 or y.shape != x.shape or bits.size != 1:
        raise Unsupported(f"SignalFftAutoScale of shape {x.shape} into {y.shape} and {bits.shape} (1-D, a scalar)")
    return [KernelCall("signal_fft_auto_scale_s16", FftAutoScaleParams(x.size), (x.index,), (),
                       (y.index, bits.index), op.index, macs=x.size)]


def _msb32(v: int) -> int:
    v &= 0xFFFFFFFF
    return 32 if v == 0 else v.bit_length()


def max_abs16(x: np.ndarray) -> int:
    """TFLM's MaxAbs16 loop, int16 wraps included: -(-32768) stored as int16 is -32768 again."""
    m = 0
    for v in np.asarray(x, np.int64).reshape(-1).tolist():
        if v > m:
            m = v
        elif -v > m:
            m = ((-v + 32768) & 0xFFFF) - 32768
    return m


def signal_fft_auto_scale_s16_ref(p: FftAutoScaleParams, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bits = max(0, 15 - _msb32(max_abs16(x)))
    y = _Arith("int16").wrap(np.asarray(x, np.int64).reshape(-1) * (1 << bits))
    return y.astype(np.int16), np.asarray(bits, np.int32)


def _real_fft_operands(op: Operator, graph: Graph, name: str) -> tuple[Tensor, Tensor, int, int]:
    """(input, output, fft_length, rows) after the checks Rfft and Irfft share."""
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported(f"{name} takes one input and has one output")
    x = ins[0]
    (y,) = graph.op_outputs(op)
    if x.dtype != y.dtype or x.dtype not in _NP_TYPES:
        raise Unsupported(f"{name} of {x.dtype} into {y.dtype} (int16, int32 or float32)")
    n = int(op.options.get("fft_length", 0))
    _check_length(name, n, x.dtype)
    if len(x.shape) < 1 or len(x.shape) != len(y.shape) or x.shape[-1] < 1:
        raise Unsupported(f"{name} of shape {x.shape} into {y.shape} (equal ranks)")
    rows = x.size // x.shape[-1]
    if y.size != rows * y.shape[-1]:
        raise Unsupported(f"{name} of {rows} rows {x.shape} into {y.shape}")
    return x, y, n, rows


def _real_fft_call(kernel: str, op: Operator, x: Tensor, y: Tensor, n: int, rows: int, consts: tuple[ConstArray, ...],
                   stages: int) -> list[KernelCall]:
    params = RealFftParams(rows, x.shape[-1], n, y.shape[-1], stages)
    return [KernelCall(f"{kernel}_{_SUFFIX[x.dtype]}", params, (x.index,), consts, (y.index,), op.index,
                       macs=rows * (n // 2) * (stages + 1) * 4)]


def lower_rfft(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, n, rows = _real_fft_operands(op, graph, "SignalRfft")
    in_len, out_len = x.shape[-1], y.shape[-1]
    if in_len > n or out_len < n + 2 or out_len % 2:
        raise Unsupported(f"SignalRfft rows of {in_len} samples into rows of {out_len} values for fft_length {n} "
                          f"(needs 1 <= samples <= {n}, values >= {n + 2} and even)")
    factors, tw, super_tw, perm = rfft_tables(n, kind=x.dtype)
    consts = (ConstArray("factors", factors), ConstArray("twiddles", tw), ConstArray("split_twiddles", super_tw),
              ConstArray("perm", perm))
    return _real_fft_call("signal_rfft", op, x, y, n, rows, consts, len(factors) // 2)


@dataclass(frozen=True)
class _Arith:
    """kissfft's scalar arithmetic for one build of it: FIXED_POINT=16, FIXED_POINT=32 or float.

    Fixed point: values are int64 arrays holding `bits`-bit integers; every store to a kiss_fft_scalar wraps
    to `bits` bits; HALF_OF sums in C int (32 bits, which an int32 sum can wrap) then shifts right."""

    kind: str  # "int16", "int32" or "float32"

    @property
    def bits(self) -> int:
        return {"int16": 16, "int32": 32}[self.kind]

    @property
    def dtype(self) -> type:
        """The NumPy type values are computed in: float32, or int64 holding the fixed-point integers."""
        return np.float32 if self.kind == "float32" else np.int64

    def load(self, v: np.ndarray) -> np.ndarray:
        return np.array(v, self.dtype)

    def wrap(self, v: np.ndarray) -> np.ndarray:
        if self.kind == "float32":
            return np.asarray(v, np.float32)
        half = 1 << (self.bits - 1)
        return ((np.asarray(v, np.int64) + half) & ((1 << self.bits) - 1)) - half

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.wrap(a + b)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.wrap(a - b)

    def neg(self, a: np.ndarray) -> np.ndarray:
        return self.wrap(-a)

    def sround(self, v: np.ndarray) -> np.ndarray:
        return self.wrap((v + (1 << (self.bits - 2))) >> (self.bits - 1))

    def fixdiv(self, v: np.ndarray, k: int) -> np.ndarray:
        if self.kind == "float32":
            return v
        return self.sround(v * (((1 << (self.bits - 1)) - 1) // k))

    def cmul(self, ar: np.ndarray, ai: np.ndarray, br: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "float32":
            return ar * br - ai * bi, ar * bi + ai * br
        return self.sround(ar * br - ai * bi), self.sround(ar * bi + ai * br)

    def smul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """S_MUL (and C_MULBYSCALAR per part): the rounded fixed-point product, or the float product."""
        return a * b if self.kind == "float32" else self.sround(a * b)

    def half(self, a: np.ndarray) -> np.ndarray:
        return a * np.float32(0.5) if self.kind == "float32" else a >> 1

    def half_sum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """HALF_OF(a + b): float (a + b) * 0.5; fixed point the C int sum shifted right."""
        if self.kind == "float32":
            return (a + b) * np.float32(0.5)
        int_sum = ((np.asarray(a + b, np.int64) + 2**31) & 0xFFFFFFFF) - 2**31
        return self.wrap(int_sum >> 1)


def _butterflies(ar: _Arith, re: np.ndarray, im: np.ndarray, p: int, m: int, fstride: int, twr: np.ndarray,
                 twi: np.ndarray, inverse: bool) -> None:
    """One stage, in place on [blocks][p][m] views: kissfft's kf_bfly2 / 3 / 4 / 5."""
    r, i = re.reshape(-1, p, m), im.reshape(-1, p, m)
    r[:], i[:] = ar.fixdiv(r, p), ar.fixdiv(i, p)
    k = np.arange(m)
    if p == 3:
        _butterfly3(ar, r, i, m, fstride, twr, twi)
        return
    if p == 5:
        _butterfly5(ar, r, i, m, fstride, twr, twi)
        return
    if p == 2:
        tr, ti = ar.cmul(r[:, 1], i[:, 1], twr[k * fstride], twi[k * fstride])
        r[:, 1], i[:, 1] = ar.sub(r[:, 0], tr), ar.sub(i[:, 0], ti)
        r[:, 0], i[:, 0] = ar.add(r[:, 0], tr), ar.add(i[:, 0], ti)
        return
    s0r, s0i = ar.cmul(r[:, 1], i[:, 1], twr[k * fstride], twi[k * fstride])
    s1r, s1i = ar.cmul(r[:, 2], i[:, 2], twr[2 * k * fstride], twi[2 * k * fstride])
    s2r, s2i = ar.cmul(r[:, 3], i[:, 3], twr[3 * k * fstride], twi[3 * k * fstride])
    s5r, s5i = ar.sub(r[:, 0], s1r), ar.sub(i[:, 0], s1i)
    f0r, f0i = ar.add(r[:, 0], s1r), ar.add(i[:, 0], s1i)
    s3r, s3i = ar.add(s0r, s2r), ar.add(s0i, s2i)
    s4r, s4i = ar.sub(s0r, s2r), ar.sub(s0i, s2i)
    r[:, 2], i[:, 2] = ar.sub(f0r, s3r), ar.sub(f0i, s3i)
    r[:, 0], i[:, 0] = ar.add(f0r, s3r), ar.add(f0i, s3i)
    if inverse:
        r[:, 1], i[:, 1] = ar.sub(s5r, s4i), ar.add(s5i, s4r)
        r[:, 3], i[:, 3] = ar.add(s5r, s4i), ar.sub(s5i, s4r)
    else:
        r[:, 1], i[:, 1] = ar.add(s5r, s4i), ar.sub(s5i, s4r)
        r[:, 3], i[:, 3] = ar.sub(s5r, s4i), ar.add(s5i, s4r)


def _butterfly3(ar: _Arith, r: np.ndarray, i: np.ndarray, m: int, fstride: int, twr: np.ndarray,
                twi: np.ndarray) -> None:
    k = np.arange(m)
    e3i = twi[fstride * m]  # the imaginary part of exp(-+2 pi i / 3), as the twiddle table holds it
    s1r, s1i = ar.cmul(r[:, 1], i[:, 1], twr[k * fstride], twi[k * fstride])
    s2r, s2i = ar.cmul(r[:, 2], i[:, 2], twr[2 * k * fstride], twi[2 * k * fstride])
    s3r, s3i = ar.add(s1r, s2r), ar.add(s1i, s2i)
    s0r, s0i = ar.sub(s1r, s2r), ar.sub(s1i, s2i)
    m1r, m1i = ar.sub(r[:, 0], ar.half(s3r)), ar.sub(i[:, 0], ar.half(s3i))
    s0r, s0i = ar.smul(s0r, e3i), ar.smul(s0i, e3i)
    r[:, 0], i[:, 0] = ar.add(r[:, 0], s3r), ar.add(i[:, 0], s3i)
    r[:, 2], i[:, 2] = ar.add(m1r, s0i), ar.sub(m1i, s0r)
    r[:, 1], i[:, 1] = ar.sub(m1r, s0i), ar.add(m1i, s0r)


def _butterfly5(ar: _Arith, r: np.ndarray, i: np.ndarray, m: int, fstride: int, twr: np.ndarray,
                twi: np.ndarray) -> None:
    k = np.arange(m)
    yar, yai = twr[fstride * m], twi[fstride * m]
    ybr, ybi = twr[2 * fstride * m], twi[2 * fstride * m]
    s0r, s0i = r[:, 0].copy(), i[:, 0].copy()
    s = [ar.cmul(r[:, q], i[:, q], twr[q * k * fstride], twi[q * k * fstride]) for q in range(1, 5)]
    (s1r, s1i), (s2r, s2i), (s3r, s3i), (s4r, s4i) = s
    s7r, s7i = ar.add(s1r, s4r), ar.add(s1i, s4i)
    s10r, s10i = ar.sub(s1r, s4r), ar.sub(s1i, s4i)
    s8r, s8i = ar.add(s2r, s3r), ar.add(s2i, s3i)
    s9r, s9i = ar.sub(s2r, s3r), ar.sub(s2i, s3i)
    r[:, 0], i[:, 0] = ar.add(s0r, ar.add(s7r, s8r)), ar.add(s0i, ar.add(s7i, s8i))
    s5r = ar.add(ar.add(s0r, ar.smul(s7r, yar)), ar.smul(s8r, ybr))
    s5i = ar.add(ar.add(s0i, ar.smul(s7i, yar)), ar.smul(s8i, ybr))
    s6r = ar.add(ar.smul(s10i, yai), ar.smul(s9i, ybi))
    s6i = ar.sub(ar.neg(ar.smul(s10r, yai)), ar.smul(s9r, ybi))
    r[:, 1], i[:, 1] = ar.sub(s5r, s6r), ar.sub(s5i, s6i)
    r[:, 4], i[:, 4] = ar.add(s5r, s6r), ar.add(s5i, s6i)
    s11r = ar.add(ar.add(s0r, ar.smul(s7r, ybr)), ar.smul(s8r, yar))
    s11i = ar.add(ar.add(s0i, ar.smul(s7i, ybr)), ar.smul(s8i, yar))
    s12r = ar.add(ar.neg(ar.smul(s10i, ybi)), ar.smul(s9i, yai))
    s12i = ar.sub(ar.smul(s10r, ybi), ar.smul(s9r, yai))
    r[:, 2], i[:, 2] = ar.add(s11r, s12r), ar.add(s11i, s12i)
    r[:, 3], i[:, 3] = ar.sub(s11r, s12r), ar.sub(s11i, s12i)


def _complex_fft(ar: _Arith, re: np.ndarray, im: np.ndarray, stages: list[tuple[int, int]], tw: np.ndarray,
                 inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """The stages, innermost first, on points already in decimation-in-time order."""
    re, im = ar.load(re), ar.load(im)
    twr, twi = ar.load(tw[0::2]), ar.load(tw[1::2])
    fstride = re.size
    for radix, m in reversed(stages):
        fstride //= radix
        _butterflies(ar, re, im, radix, m, fstride, twr, twi, inverse)
    return re, im


def _stages(p: RealFftParams, factors: np.ndarray) -> list[tuple[int, int]]:
    return [(int(factors[2 * s]), int(factors[2 * s + 1])) for s in range(p.stages)]


def _rfft(ar: _Arith, p: RealFftParams, x: np.ndarray, factors: np.ndarray, tw: np.ndarray, super_tw: np.ndarray,
          perm: np.ndarray) -> np.ndarray:
    """kissfft's kiss_fftr, row by row."""
    ncfft = p.fft_length // 2
    padded = np.zeros((p.rows, p.fft_length), ar.dtype)
    padded[:, : p.input_length] = ar.load(x).reshape(p.rows, p.input_length)
    out = np.zeros((p.rows, p.output_length), padded.dtype)
    perm = np.asarray(perm, np.int64)
    str_, sti = ar.load(super_tw[0::2]), ar.load(super_tw[1::2])
    for row in range(p.rows):
        re, im = _complex_fft(ar, padded[row, 0::2][perm], padded[row, 1::2][perm], _stages(p, factors), tw, False)
        y = out[row]
        tdr, tdi = ar.fixdiv(re[0], 2), ar.fixdiv(im[0], 2)
        y[0], y[1] = ar.add(tdr, tdi), 0
        y[2 * ncfft], y[2 * ncfft + 1] = ar.sub(tdr, tdi), 0
        for k in range(1, ncfft // 2 + 1):
            fkr, fki = ar.fixdiv(re[k], 2), ar.fixdiv(im[k], 2)
            gkr, gki = ar.fixdiv(re[ncfft - k], 2), ar.fixdiv(ar.neg(im[ncfft - k]), 2)
            s_r, s_i = ar.add(fkr, gkr), ar.add(fki, gki)
            d_r, d_i = ar.sub(fkr, gkr), ar.sub(fki, gki)
            t_r, t_i = ar.cmul(d_r, d_i, str_[k - 1], sti[k - 1])
            y[2 * k], y[2 * k + 1] = ar.half_sum(s_r, t_r), ar.half_sum(s_i, t_i)
            y[2 * (ncfft - k)], y[2 * (ncfft - k) + 1] = ar.half_sum(s_r, -t_r), ar.half_sum(t_i, -s_i)
    return out.reshape(-1)


def lower_irfft(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, n, rows = _real_fft_operands(op, graph, "SignalIrfft")
    in_len, out_len = x.shape[-1], y.shape[-1]
    if in_len < n + 2 or in_len % 2 or out_len < n:
        raise Unsupported(f"SignalIrfft rows of {in_len} values into rows of {out_len} samples for fft_length {n} "
                          f"(needs values >= {n + 2} and even, samples >= {n})")
    factors, tw, super_tw, perm = rfft_tables(n, inverse=True, kind=x.dtype)
    inverse_perm = np.empty_like(perm)
    inverse_perm[perm.astype(np.int64)] = np.arange(perm.size, dtype=np.int16)
    consts = (ConstArray("factors", factors), ConstArray("twiddles", tw), ConstArray("split_twiddles", super_tw),
              ConstArray("inverse_perm", inverse_perm))
    return _real_fft_call("signal_irfft", op, x, y, n, rows, consts, len(factors) // 2)


def _irfft(ar: _Arith, p: RealFftParams, x: np.ndarray, factors: np.ndarray, tw: np.ndarray, super_tw: np.ndarray,
           inverse_perm: np.ndarray) -> np.ndarray:
    """kissfft's kiss_fftri: the bins merged into N/2 complex points, then the inverse complex FFT."""
    ncfft = p.fft_length // 2
    rows = ar.load(x).reshape(p.rows, p.input_length)
    out = np.zeros((p.rows, p.output_length), rows.dtype)
    str_, sti = ar.load(super_tw[0::2]), ar.load(super_tw[1::2])
    order = np.argsort(np.asarray(inverse_perm, np.int64))  # position o reads point perm[o]
    for row in range(p.rows):
        fr, fi = rows[row, 0::2], rows[row, 1::2]
        tr, ti = np.zeros(ncfft, rows.dtype), np.zeros(ncfft, rows.dtype)
        tr[0] = ar.fixdiv(ar.add(fr[0], fr[ncfft]), 2)
        ti[0] = ar.fixdiv(ar.sub(fr[0], fr[ncfft]), 2)
        for k in range(1, ncfft // 2 + 1):
            fkr, fki = ar.fixdiv(fr[k], 2), ar.fixdiv(fi[k], 2)
            gkr, gki = ar.fixdiv(fr[ncfft - k], 2), ar.fixdiv(ar.neg(fi[ncfft - k]), 2)
            er, ei = ar.add(fkr, gkr), ar.add(fki, gki)
            dr, di = ar.sub(fkr, gkr), ar.sub(fki, gki)
            okr, oki = ar.cmul(dr, di, str_[k - 1], sti[k - 1])
            tr[k], ti[k] = ar.add(er, okr), ar.add(ei, oki)
            tr[ncfft - k], ti[ncfft - k] = ar.sub(er, okr), ar.neg(ar.sub(ei, oki))
        re, im = _complex_fft(ar, tr[order], ti[order], _stages(p, factors), tw, True)
        out[row, 0 : 2 * ncfft : 2], out[row, 1 : 2 * ncfft : 2] = re, im
        if ar.kind == "float32":  # TFLM divides the float transform's samples by fft_length (in float)
            out[row, : p.fft_length] = out[row, : p.fft_length] / np.float32(p.fft_length)
    return out.reshape(-1)


def _reference(transform: Callable[..., np.ndarray], kind: str) -> Callable[..., np.ndarray]:
    """The NumPy reference of one kernel: the transform in `kind`'s arithmetic, as that element type."""

    def reference(p: RealFftParams, x: np.ndarray, factors: np.ndarray, tw: np.ndarray, super_tw: np.ndarray,
                  perm: np.ndarray) -> np.ndarray:
        return transform(_Arith(kind), p, x, factors, tw, super_tw, perm).astype(_NP_TYPES[kind])

    return reference


LOWERINGS = {"CUSTOM:SignalFftAutoScale": lower_fft_auto_scale, "CUSTOM:SignalRfft": lower_rfft,
             "CUSTOM:SignalIrfft": lower_irfft}
REFERENCES = {
    "signal_fft_auto_scale_s16": signal_fft_auto_scale_s16_ref,
    **{f"signal_rfft_{suffix}": _reference(_rfft, kind) for kind, suffix in _SUFFIX.items()},
    **{f"signal_irfft_{suffix}": _reference(_irfft, kind) for kind, suffix in _SUFFIX.items()},
}
