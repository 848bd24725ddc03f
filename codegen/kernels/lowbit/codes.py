"""Storage of b-bit activation codes (b in {2, 4}; 8 means plain int8) and the format arithmetic of the low-bit
kernels, shared by their NumPy references and by to_low_bit.

Layout: NHWC, each pixel's C codes packed little end first into ceil(C * b / 8) whole bytes: channel c sits in
byte c * b // 8 of the pixel at bit (c * b) % 8 (4-bit: channel 2i in the low nibble of byte i; 2-bit: channel
4i in bits 0-1). The pad bits of a pixel's last byte are zero. Padding per pixel (not per row or tensor) keeps
every pixel at a whole byte, so a kernel addresses a pixel, a window into a larger buffer or a patch row as it
does with int8; it costs nothing when C * b is a multiple of 8 (C even at 4 bits, C a multiple of 4 at 2).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from codegen.kernels.fixedpoint import rounding_divide_by_pot

BITS = (2, 4, 8)


class CodeFormat(Protocol):
    """codegen.quantize.mixed_precision.LowBitFormat (not imported: that module imports the kernels)."""

    bits: int
    shift: int
    zero_point: int
    m_lo: int
    m_hi: int


def pixel_bytes(channels: int, bits: int) -> int:
    if bits not in BITS:
        raise ValueError(f"{bits}-bit codes (expects one of {BITS})")
    return (channels * bits + 7) // 8


def packed_bytes(shape: tuple[int, ...], bits: int) -> int:
    """Bytes of an NHWC (or any ..., C) map held as packed b-bit codes: what the memory planner reserves."""
    pixels = int(np.prod(shape[:-1], dtype=np.int64))
    return pixels * pixel_bytes(shape[-1], bits)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """(..., C) codes in [0, 2^bits) -> (..., pixel_bytes(C, bits)) uint8. 8 bits: the bytes as they are."""
    codes = np.asarray(codes)
    if bits == 8:
        return codes.astype(np.int8).view(np.uint8)
    per = 8 // bits
    channels = codes.shape[-1]
    width = pixel_bytes(channels, bits)
    padded = np.zeros((*codes.shape[:-1], width * per), dtype=np.uint16)
    padded[..., :channels] = codes
    groups = padded.reshape(*codes.shape[:-1], width, per)
    weights = np.left_shift(1, bits * np.arange(per)).astype(np.uint16)
    return (groups * weights).sum(axis=-1).astype(np.uint8)


def unpack_codes(packed: np.ndarray, channels: int, bits: int) -> np.ndarray:
    """The inverse of pack_codes: (..., pixel_bytes) uint8 -> (..., channels) uint8 codes."""
    packed = np.asarray(packed, dtype=np.uint8)
    if bits == 8:
        return packed[..., :channels]
    per = 8 // bits
    shifts = (bits * np.arange(per)).astype(np.uint8)
    parts = (packed[..., None] >> shifts) & ((1 << bits) - 1)
    return parts.reshape(*packed.shape[:-1], -1)[..., :channels].astype(np.uint8)


def levels_of(packed: np.ndarray, channels: int, bits: int, m_lo: int, input_offset: int) -> np.ndarray:
    """The levels a kernel multiplies: code + m_lo for b < 8; q + input_offset (= q - z) for int8."""
    if bits == 8:
        return np.asarray(packed).view(np.int8)[..., :channels].astype(np.int64) + input_offset
    return unpack_codes(packed, channels, bits).astype(np.int64) + m_lo


def codes_of(q: np.ndarray, bits: int, shift: int, zero_point: int, m_lo: int, m_hi: int) -> np.ndarray:
    """int8 values -> codes (LowBitFormat.codes); int8 itself for 8 bits (as uint8 bytes)."""
    q = np.asarray(q, dtype=np.int64)
    if bits == 8:
        return q.astype(np.int8).view(np.uint8)
    m = np.clip(rounding_divide_by_pot(q - zero_point, shift), m_lo, m_hi)
    return (m - m_lo).astype(np.uint8)


def check_format(fmt: CodeFormat, what: str) -> None:
    """The kernels need level 0 (the zero point, what padding contributes) to be a code, and int8 read-back."""
    if fmt.bits not in (2, 4):
        raise ValueError(f"{what} format of {fmt.bits} bits (a packed format has 2 or 4; 8 is None)")
    if not 0 <= fmt.shift <= 7 or not fmt.m_lo <= 0 <= fmt.m_hi or fmt.m_hi - fmt.m_lo >= 1 << fmt.bits:
        raise ValueError(f"{what} format {fmt} (needs shift 0..7, m_lo <= 0 <= m_hi, 2^bits levels at most)")
    if fmt.zero_point + fmt.m_lo * (1 << fmt.shift) < -128 or fmt.zero_point + fmt.m_hi * (1 << fmt.shift) > 127:
        raise ValueError(f"{what} format {fmt} reads back outside int8")
