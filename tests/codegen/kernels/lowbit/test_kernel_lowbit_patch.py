"""max_s8 (portable and 4-bytes-per-step) and lowbit_requantize_s8 on the host: C against the NumPy reference
over random windows (row strides wider than rows, odd row lengths for the byte tail), and the reference against
LowBitFormat.requantize for every int8 value and every format mixed precision can choose."""

from __future__ import annotations

import ctypes

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels import REFERENCES
from codegen.kernels.lowbit.lowbit_requantize import LowBitRequantizeParams
from codegen.kernels.lowbit.max_s8 import WindowParams
from codegen.quantize.mixed_precision import low_bit_format


@st.composite
def windows(draw):
    rows = draw(st.integers(1, 6))
    row_bytes = draw(st.integers(1, 37))
    stride = row_bytes + draw(st.integers(0, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = draw(st.integers(-128, 127))  # the maximum may sit anywhere, in any lane, or in the tail
    data = rng.integers(-128, top + 1, size=rows * stride + 3).astype(np.int8)
    return WindowParams(rows, row_bytes, stride), data


def _call_max(host_runtime, kernel: str, p: WindowParams, data: np.ndarray) -> int:
    fn = getattr(host_runtime.lib, kernel)
    fn.restype = ctypes.c_int32
    struct = p.to_ctypes()
    data = np.ascontiguousarray(data)
    return int(fn(ctypes.byref(struct), ctypes.c_void_p(data.ctypes.data)))


@settings(max_examples=150, deadline=None)
@given(windows(), st.integers(0, 3))
def test_max_s8_c_matches_reference(host_runtime, case, offset):
    p, data = case
    window = data[offset:]  # unaligned starts: the DSP variant loads words at any address
    want = REFERENCES["max_s8"](p, window)
    # bytes just outside the window must not count
    assert _call_max(host_runtime, "max_s8", p, window) == want
    assert _call_max(host_runtime, "max_s8_dsp", p, window) == want


def test_max_s8_ignores_bytes_between_rows(host_runtime):
    data = np.full(24, -100, np.int8)
    data[5] = 127  # in the gap between the rows of 4 bytes, 8 apart
    p = WindowParams(3, 4, 8)
    for kernel in ("max_s8", "max_s8_dsp"):
        assert _call_max(host_runtime, kernel, p, data) == -100
    data[17] = 120
    assert _call_max(host_runtime, "max_s8_dsp", p, data) == 120


@st.composite
def formats(draw):
    bits = draw(st.sampled_from([2, 4]))
    zero_point = draw(st.integers(-128, 127))
    q_threshold = draw(st.integers(-129, 127))
    return low_bit_format(bits, zero_point, q_threshold)


@settings(max_examples=150, deadline=None)
@given(formats(), windows())
def test_lowbit_requantize_c_matches_reference_in_place(host_runtime, fmt, case):
    w, data = case
    p = LowBitRequantizeParams(w.rows, w.row_bytes, w.row_stride, fmt.zero_point, fmt.shift, fmt.m_lo, fmt.m_hi)
    want = REFERENCES["lowbit_requantize_s8"](p, data)
    buffer = data.copy()
    fn = host_runtime.lib.lowbit_requantize_s8
    fn.restype = None
    struct = p.to_ctypes()
    fn(ctypes.byref(struct), ctypes.c_void_p(buffer.ctypes.data))
    np.testing.assert_array_equal(buffer, want)
    inside = np.zeros(data.size, bool)
    for r in range(w.rows):
        inside[r * w.row_stride : r * w.row_stride + w.row_bytes] = True
    np.testing.assert_array_equal(buffer[~inside], data[~inside])  # nothing outside the window is written


def test_reference_is_the_format_requantization_for_every_value():
    q = np.arange(-128, 128).astype(np.int8)
    for bits in (2, 4):
        for zero_point in (-128, -5, 0, 77, 127):
            for q_threshold in (-129, -128, zero_point, 0, 60, 127):
                fmt = low_bit_format(bits, zero_point, q_threshold)
                p = LowBitRequantizeParams(1, 256, 256, fmt.zero_point, fmt.shift, fmt.m_lo, fmt.m_hi)
                got = REFERENCES["lowbit_requantize_s8"](p, q)
                np.testing.assert_array_equal(got, fmt.requantize(q))
                assert len(np.unique(got)) <= 1 << bits
