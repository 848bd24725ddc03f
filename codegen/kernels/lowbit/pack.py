"""Packing kernels of the low-bit path: an int8 map -> packed b-bit codes (a map computed in int8, e.g. the
classified map, entering the low-bit path) and packed codes -> int8 values z + m 2^k (the split tensor, which
stage 2 reads in int8). Layout: codegen/kernels/lowbit/codes.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield
from codegen.kernels.lowbit.codes import CodeFormat, check_format, codes_of, pack_codes, packed_bytes, unpack_codes

HEADER = "lowbit_pack.h"


@dataclass(frozen=True)
class LowbitPackParams(KernelParams):
    C_TYPE = "lowbit_pack_params_t"
    pixels: int = cfield("int32_t")
    channels: int = cfield("int32_t")
    bits: int = cfield("int32_t")  # 2 or 4
    shift: int = cfield("int32_t")  # k: a level is 2^k int8 steps
    zero_point: int = cfield("int32_t")
    m_lo: int = cfield("int32_t")
    m_hi: int = cfield("int32_t")


def pack_params(pixels: int, channels: int, fmt: CodeFormat) -> LowbitPackParams:
    check_format(fmt, "packed")
    return LowbitPackParams(pixels, channels, fmt.bits, fmt.shift, fmt.zero_point, fmt.m_lo, fmt.m_hi)


def packed_size(p: LowbitPackParams) -> int:
    return packed_bytes((p.pixels, p.channels), p.bits)


def lowbit_pack_ref(p: LowbitPackParams, x: np.ndarray) -> np.ndarray:
    q = np.asarray(x).reshape(p.pixels, p.channels)
    codes = codes_of(q, p.bits, p.shift, p.zero_point, p.m_lo, p.m_hi)
    return pack_codes(codes, p.bits).reshape(-1)


def lowbit_unpack_ref(p: LowbitPackParams, packed: np.ndarray) -> np.ndarray:
    codes = unpack_codes(np.asarray(packed).reshape(p.pixels, -1), p.channels, p.bits).astype(np.int64)
    return (p.zero_point + (codes + p.m_lo) * (1 << p.shift)).astype(np.int8).reshape(-1)


LOWERINGS: dict = {}  # no TFLite operator lowers to these: the mixed-precision path places them
REFERENCES = {"lowbit_pack": lowbit_pack_ref, "lowbit_unpack": lowbit_unpack_ref}
