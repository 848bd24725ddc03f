"""Fast 16x8 DEPTHWISE_CONV_2D (DSP extension: SXTB16 and halfword multiplies on re-laid-out weights): the
specialized call is bit-exact with the portable one. Kernel calls are drawn directly (any depth multiplier the
variant takes, strides, dilations, padding incl. negative padding of a patch window, per-channel multipliers
incl. negative and zero ones), so cases no converter writes are covered too; the C kernel on the host (portable
emulation of the intrinsics) equals the portable C kernel and the NumPy reference. Graph-level and TFLM checks:
test_kernel_conv16x8.py (portable), tests/firmware/ops/test_firmware_s16_dsp.py (firmware with the instructions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels import REFERENCES, SPECIALIZERS
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv.depthwise_conv2d import DepthwiseConv2dParams
from codegen.kernels.conv_s16.depthwise_conv2d_s16_dsp import MAX_TAPS
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.targets.core import HOST


def _call(p: DepthwiseConv2dParams, filt: np.ndarray, bias: np.ndarray, mult: np.ndarray,
          shift: np.ndarray) -> KernelCall:
    consts = (ConstArray("filter", filt.astype(np.int8)), ConstArray("bias", bias.astype(np.int64)),
              ConstArray("mult", mult.astype(np.int32)), ConstArray("shift", shift.astype(np.int32)))
    macs = p.out_h * p.out_w * p.out_c * p.kernel_h * p.kernel_w
    return KernelCall("depthwise_conv2d_s16", p, (0,), consts, (1,), 0, macs=macs)


def _requant(rng: np.random.Generator, signs: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mult, shift) of real multipliers 10^[-6, 0.5], times the drawn sign (0: a zero scale)."""
    pairs = [quantize_multiplier(s * 10 ** rng.uniform(-6, 0.5)) for s in signs]
    return np.array([m for m, _ in pairs], dtype=np.int64), np.array([s for _, s in pairs], dtype=np.int64)


@st.composite
def dw_calls(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = draw(st.sampled_from((1, 1, 2, 4, 8)))
    in_c = draw(st.integers(-(-4 // m), 7 if m > 1 else 13))  # at least four output channels
    out_c = in_c * m
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    in_h, in_w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    # Padding from a window deep inside a larger buffer (negative) to more than SAME ever adds.
    pad_h, pad_w = draw(st.integers(-2, kh)), draw(st.integers(-2, kw))
    out_h, out_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    act = draw(st.sampled_from(((-32768, 32767), (0, 32767), (-1000, 2000))))
    p = DepthwiseConv2dParams(
        in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, depth_multiplier=m,
        kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=pad_h, pad_w=pad_w,
        input_offset=0, output_offset=0, act_min=act[0], act_max=act[1])
    filt = rng.integers(-128, 128, size=(1, kh, kw, out_c))
    bias = rng.integers(-(2**30), 2**30, size=out_c)
    mult, shift = _requant(rng, draw(st.lists(st.sampled_from((1, 1, -1, 0)), min_size=out_c, max_size=out_c)))
    x = rng.integers(-32768, 32768, size=(1, in_h, in_w, in_c))
    if draw(st.booleans()):  # extremes: the largest products, all of one sign
        x = np.where(rng.random(x.shape) < 0.5, -32768, x)
        filt = np.where(rng.random(filt.shape) < 0.5, -128, filt)
    return _call(p, filt, bias, mult, shift), x.astype(np.int16)


def _check(host_runtime, call: KernelCall, x: np.ndarray) -> None:
    p = call.params
    shape = (1, p.out_h, p.out_w, p.out_c)
    want = np.asarray(REFERENCES[call.kernel](p, x, *(c.data for c in call.consts))).reshape(shape)
    portable = host_runtime.run(call.kernel, p, [x] + [c.data for c in call.consts], shape, np.int16)
    np.testing.assert_array_equal(portable, want, err_msg="portable C vs reference")
    fast = SPECIALIZERS[call.kernel](call, None, HOST)
    assert fast is not None and fast.kernel == "depthwise_conv2d_s16_dsp"
    args = [x] + [c.data for c in fast.consts]
    np.testing.assert_array_equal(np.asarray(REFERENCES[fast.kernel](p, *args)).reshape(shape), want,
                                  err_msg="fast reference")
    np.testing.assert_array_equal(host_runtime.run(fast.kernel, p, args, shape, np.int16), want,
                                  err_msg="fast C vs reference")


@settings(max_examples=120, deadline=None)
@given(case=dw_calls())
def test_depthwise_16x8_dsp_is_bit_exact_with_the_portable_kernel(host_runtime, case):
    _check(host_runtime, *case)


def test_more_taps_than_an_int32_sum_holds_are_summed_exactly(host_runtime):
    """A 24x24 kernel (576 taps) of the largest products, -32768 * -128 = 2^22 each: 511 of them are the most
    an int32 holds, so the kernel must spill its partial sums into the int64 accumulator (here after 21 rows).
    Multiplier 2^30 and shift -16 (2^-17 in all) keep the sums in the output range."""
    k, c = 24, 4
    assert k * k > MAX_TAPS
    p = DepthwiseConv2dParams(
        in_h=k, in_w=k, in_c=c, out_h=1, out_w=1, out_c=c, depth_multiplier=1, kernel_h=k, kernel_w=k,
        stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0, input_offset=0, output_offset=0,
        act_min=-32768, act_max=32767)
    filt = np.full((1, k, k, c), -128)
    filt[..., 1] = 127  # a negative sum too
    x = np.full((1, k, k, c), -32768, dtype=np.int16)
    call = _call(p, filt, np.zeros(c), np.full(c, 2**30), np.full(c, -16))
    _check(host_runtime, call, x)
    want = REFERENCES[call.kernel](p, x, *(c.data for c in call.consts)).reshape(-1)
    # the int64 sums (2^31.2 and about -2^31.2), not wrapped int32 ones
    assert want.tolist() == [k * k * 2**5, -k * k * 127 // 4, k * k * 2**5, k * k * 2**5]


@pytest.mark.parametrize(("in_c", "m", "taken"), [(1, 1, False), (3, 1, False), (4, 1, True), (2, 2, True),
                                                    (1, 3, False), (2, 3, False), (1, 4, True), (1, 8, True)])
def test_the_variant_is_taken_where_it_gains(in_c, m, taken):
    p = DepthwiseConv2dParams(
        in_h=3, in_w=3, in_c=in_c, out_h=3, out_w=3, out_c=in_c * m, depth_multiplier=m, kernel_h=3, kernel_w=3,
        stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=1, pad_w=1, input_offset=0, output_offset=0,
        act_min=-32768, act_max=32767)
    n = in_c * m
    call = _call(p, np.zeros((1, 3, 3, n)), np.zeros(n), np.full(n, 2**30), np.zeros(n))
    assert (SPECIALIZERS[call.kernel](call, None, HOST) is not None) == taken
