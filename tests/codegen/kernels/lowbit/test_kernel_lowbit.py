"""Low-bit kernels (codegen/kernels/lowbit): storage, NumPy references against the spec, C kernels (portable and
DSP, the DSP one through dsp_intrinsics.h's portable emulation on the host) against the references.

Spec: lowbit_conv(codes) == codes_out(int8_conv(from_codes(codes))) with the project's int8 references, which
test_kernel_conv2d.py checks against TFLite Micro.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.kernels import REFERENCES
from codegen.kernels.base import ConstArray
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.kernels.lowbit.codes import pack_codes, packed_bytes, unpack_codes
from codegen.kernels.lowbit.pack import pack_params, packed_size
from codegen.kernels.lowbit.swap import output_bytes, to_low_bit
from codegen.quantize.mixed_precision import low_bit_format
from tests.codegen.kernels.lowbit.lowbit_cases import fmt_for, int8_call, random_codes

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BITS = st.sampled_from((2, 4, 8))


@given(st.sampled_from((2, 4)), st.integers(1, 3), st.integers(1, 11), st.integers(0, 2**32 - 1))
def test_pack_layout_and_round_trip(bits: int, pixels: int, channels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << bits, (pixels, channels))
    packed = pack_codes(codes, bits)
    assert packed.shape == (pixels, -(-channels * bits // 8))
    assert packed.size == packed_bytes((1, pixels, 1, channels), bits)
    per = 8 // bits
    for c in range(channels):  # channel c in byte c // per of its pixel at bit (c % per) * bits
        np.testing.assert_array_equal((packed[:, c // per] >> (c % per * bits)) & ((1 << bits) - 1), codes[:, c])
    np.testing.assert_array_equal(unpack_codes(packed, channels, bits), codes)


def test_pack_nibble_order() -> None:
    assert pack_codes(np.array([[1, 2, 3]]), 4).tolist() == [[0x21, 0x03]]
    assert pack_codes(np.array([[1, 2, 3, 0, 1]]), 2).tolist() == [[0b00111001, 0b01]]


@SETTINGS
@given(st.sampled_from((2, 4)), st.integers(1, 4), st.integers(1, 9), st.integers(-128, 127),
       st.integers(-128, 127), st.integers(0, 2**32 - 1))
def test_pack_unpack_kernels(host_runtime, bits: int, pixels: int, channels: int, zp: int, q_t: int,
                             seed: int) -> None:
    fmt = low_bit_format(bits, zp, q_t)
    q = np.random.default_rng(seed).integers(-128, 128, pixels * channels).astype(np.int8)
    p = pack_params(pixels, channels, fmt)
    packed = REFERENCES["lowbit_pack"](p, q)
    np.testing.assert_array_equal(unpack_codes(packed.reshape(pixels, -1), channels, bits).reshape(-1),
                                  fmt.codes(q))
    assert packed.size == packed_size(p)
    np.testing.assert_array_equal(REFERENCES["lowbit_unpack"](p, packed), fmt.requantize(q))
    c_packed = host_runtime.run("lowbit_pack", p, [q], (packed.size,), np.uint8)
    np.testing.assert_array_equal(c_packed, packed)
    c_values = host_runtime.run("lowbit_unpack", p, [packed], (q.size,), np.int8)
    np.testing.assert_array_equal(c_values, fmt.requantize(q))


def _case(data, depthwise: bool):
    """A random int8 call, its formats and a packed input: strides, dilations, SAME-like, VALID-like or
    negative (window) padding, any channel count, multipliers negative and zero, activation clamps."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    sh, sw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    dh, dw = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    in_h, in_w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    in_c = data.draw(st.integers(1, 9))
    out_c = in_c * data.draw(st.integers(1, 2)) if depthwise else data.draw(st.integers(1, 9))
    pad = (data.draw(st.integers(-2, 2)), data.draw(st.integers(-2, 2)))
    out_hw = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    zps = (data.draw(st.integers(-128, 100)), data.draw(st.integers(-128, 100)))
    act = data.draw(st.sampled_from(((-128, 127), (zps[1], 127), (zps[1], min(zps[1] + 60, 127)))))
    call = int8_call(rng, depthwise, (in_h, in_w), in_c, out_c, (kh, kw), (sh, sw), (dh, dw), pad, out_hw, zps, act)
    fmt_in = fmt_for(data.draw(BITS), zps[0], data.draw(st.integers(-128, 127)))
    fmt_out = fmt_for(data.draw(BITS), zps[1], data.draw(st.integers(-128, 127)))
    x = random_codes(rng, (1, in_h, in_w, in_c), fmt_in)
    return call, fmt_in, fmt_out, x


def _check(host_runtime, call, fmt_in, fmt_out, x) -> None:
    """Every low-bit variant's NumPy reference and C kernel equal the spec on x."""
    consts = [c.data for c in call.consts]
    bits_in = 8 if fmt_in is None else fmt_in.bits
    # The spec: the int8 reference on the read-back input, requantized to the output format.
    x8 = x.view(np.int8) if fmt_in is None else fmt_in.from_codes(unpack_codes(x, call.params.in_c, bits_in))
    y8 = REFERENCES[call.kernel](call.params, x8, *consts)
    want = y8.view(np.uint8) if fmt_out is None else pack_codes(fmt_out.codes(y8), fmt_out.bits)
    for dsp in (False, True):
        low = to_low_bit(call, fmt_in, fmt_out, dsp=dsp)
        low_consts = [c.data for c in low.consts]
        got = REFERENCES[low.kernel](low.params, x, *low_consts)
        np.testing.assert_array_equal(got, want, err_msg=f"{low.kernel} reference")
        assert got.size == output_bytes(low)
        out = host_runtime.run(low.kernel, low.params, [x, *low_consts], got.shape, np.uint8,
                               scratch_bytes=low.scratch_bytes)
        np.testing.assert_array_equal(out, want, err_msg=low.kernel)


@SETTINGS
@given(st.data())
def test_conv2d_lowbit(host_runtime, data) -> None:
    _check(host_runtime, *_case(data, depthwise=False))


@SETTINGS
@given(st.data())
def test_depthwise_conv2d_lowbit(host_runtime, data) -> None:
    _check(host_runtime, *_case(data, depthwise=True))


@pytest.mark.parametrize("bits_in", (2, 4, 8))
@pytest.mark.parametrize("bits_out", (2, 4, 8))
def test_lowbit_grouped_channels(host_runtime, bits_in: int, bits_out: int) -> None:
    """Channel counts multiple of four take the DSP kernels' word-at-a-time unpacking; SAME padding at borders."""
    rng = np.random.default_rng(bits_in * 10 + bits_out)
    for in_c, kernel, stride in ((16, (1, 1), (1, 1)), (8, (3, 3), (2, 2)), (4, (3, 3), (1, 1))):
        call = int8_call(rng, False, (6, 5), in_c, 6, kernel, stride, (1, 1), (kernel[0] // 2, kernel[1] // 2),
                         (6 // stride[0], 5 // stride[1]), (-7, 3))
        fmt_in, fmt_out = fmt_for(bits_in, -7, 40), fmt_for(bits_out, 3, 30)
        _check(host_runtime, call, fmt_in, fmt_out, random_codes(rng, (1, 6, 5, in_c), fmt_in))
    # The DSP depthwise's four-channel path (in_c % 4 == 0, multiplier 1), window clipped at every border.
    for stride in ((1, 1), (2, 1)):
        call = int8_call(rng, True, (6, 5), 8, 8, (3, 3), stride, (1, 1), (1, 1), (6 // stride[0], 5), (-7, 3))
        fmt_in, fmt_out = fmt_for(bits_in, -7, 40), fmt_for(bits_out, 3, 30)
        _check(host_runtime, call, fmt_in, fmt_out, random_codes(rng, (1, 6, 5, 8), fmt_in))


def test_to_low_bit_thresholds_cache() -> None:
    """Two windows of one layer share the threshold rows; another output format does not."""
    rng = np.random.default_rng(4)
    call = int8_call(rng, False, (6, 6), 8, 4, (3, 3), (1, 1), (1, 1), (1, 1), (6, 6), (-5, 2))
    window = dataclasses.replace(call, params=dataclasses.replace(call.params, pad_h=-2, out_h=2))
    cache: dict = {}
    first = to_low_bit(call, fmt_for(4, -5, 30), fmt_for(4, 2, 30), dsp=True, cache=cache)
    second = to_low_bit(window, fmt_for(4, -5, 30), fmt_for(4, 2, 30), dsp=True, cache=cache)
    assert len(cache) == 1 and second.consts[-1].data is first.consts[-1].data
    to_low_bit(call, fmt_for(4, -5, 30), fmt_for(2, 2, 30), dsp=True, cache=cache)
    assert len(cache) == 2


def test_to_low_bit_refuses() -> None:
    rng = np.random.default_rng(0)
    call = int8_call(rng, False, (4, 4), 4, 4, (3, 3), (1, 1), (1, 1), (1, 1), (4, 4), (-5, 2))
    with pytest.raises(ValueError, match="zero point"):
        to_low_bit(call, low_bit_format(4, 0, 50), None)
    with pytest.raises(ValueError, match="no low-bit twin"):
        to_low_bit(type(call)("add_s8", None, (0,), (), (1,), 0), None, None)


def test_dsp_thresholds_refused_where_arithmetic_could_wrap(host_runtime) -> None:
    """A channel whose left shift could wrap TFLite's arithmetic is not monotone: the DSP kernel then
    requantizes as the portable one does, still exact."""
    rng = np.random.default_rng(3)
    call = int8_call(rng, False, (5, 5), 8, 5, (3, 3), (1, 1), (1, 1), (1, 1), (5, 5), (-20, 4))
    shift = call.consts[3].data.copy()
    shift[2] = 12  # |acc| reaches 8 * 9 * 128 * 16 << 12 > 2^31
    call = dataclasses.replace(call, consts=(*call.consts[:3], ConstArray("shift", shift)))
    fmt_in, fmt_out = fmt_for(4, -20, 60), fmt_for(2, 4, 50)
    assert to_low_bit(call, fmt_in, fmt_out, dsp=True).params.out_levels == 0
    _check(host_runtime, call, fmt_in, fmt_out, random_codes(rng, (1, 5, 5, 8), fmt_in))


@pytest.mark.parametrize("bits", (2, 4))
@pytest.mark.parametrize("kernel", ((3, 3), (4, 4), (5, 5)))
def test_depthwise_dsp_pair_packing_extremes(host_runtime, bits: int, kernel: tuple[int, int]) -> None:
    """The DSP depthwise packs two pixels' products per multiply while taps * 128 * max |level| < 2^15: a 4x4
    window at 4 bits is 30,720, near the bound, and exact only if the low half's borrow is undone; 5x5 at 4 bits
    (48,000) takes the one-pixel path. Weights of -128 and 127 against the extreme levels of both signs."""
    rng = np.random.default_rng(kernel[0] * 10 + bits)
    for zp in (127, -128):  # m_lo = -15 (all levels <= 0) or 0 (all levels >= 0) at 4 bits
        call = int8_call(rng, True, (6, 9), 8, 8, kernel, (1, 1), (1, 1), (kernel[0] // 2, kernel[1] // 2),
                         (6, 9), (zp, 3))
        fmt_in, fmt_out = fmt_for(bits, zp, 127), fmt_for(bits, 3, 30)
        for fill in (-128, 127):
            filt = np.full(call.consts[0].data.shape, fill, dtype=np.int8)
            filt[..., 1::4] = -1 - fill  # other channels the other sign
            consts = (ConstArray("filter", filt), *call.consts[1:])
            case = dataclasses.replace(call, consts=consts)
            top = fmt_in.m_hi - fmt_in.m_lo
            for codes in (np.zeros((1, 6, 9, 8), np.int64), np.full((1, 6, 9, 8), top), rng.integers(0, top + 1,
                                                                                                     (1, 6, 9, 8))):
                _check(host_runtime, case, fmt_in, fmt_out, pack_codes(codes, bits))


@pytest.mark.parametrize("bits", (2, 4))
def test_depthwise_dsp_pair_packing_unit_scale(host_runtime, bits: int) -> None:
    """int8 output at the scale of the level sums (q = sum(w m)): an accumulator off by one, such as the high half
    of a packed pair whose low half was negative, shows in the output bytes, which thresholds would mostly hide."""
    rng = np.random.default_rng(bits)
    call = int8_call(rng, True, (5, 8), 8, 8, (3, 3), (1, 1), (1, 1), (1, 1), (5, 8), (127, 0))
    fmt_in = fmt_for(bits, 127, 127)  # levels m_lo .. 0
    mult, shift = quantize_multiplier(2.0 ** -fmt_in.shift)
    consts = (ConstArray("filter", rng.integers(-3, 4, call.consts[0].data.shape).astype(np.int8)),
              ConstArray("bias", np.zeros(8, np.int32)), ConstArray("mult", np.full(8, mult, np.int32)),
              ConstArray("shift", np.full(8, shift, np.int32)))
    case = dataclasses.replace(call, consts=consts)
    x = random_codes(rng, (1, 5, 8, 8), fmt_in)
    _check(host_runtime, case, fmt_in, None, x)
    low = to_low_bit(case, fmt_in, None, dsp=True)
    out = host_runtime.run(low.kernel, low.params, [x, *(c.data for c in low.consts)], (5 * 8 * 8,), np.uint8)
    assert len(np.unique(out)) > 20  # the sums reach the output unclamped
