"""LOGISTIC and TANH on int16 (sigmoid_s16): the compile-time table and kernel arithmetic against TFLite Micro
over every int16 input, power-of-two and general input scales; the C kernel against the NumPy reference;
and the refusals of the quantizations TFLM does not run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels.activation.sigmoid_s16 import TABLE_SIZE, sigmoid_table
from codegen.kernels.base import Unsupported
from tests.codegen.kernels.activation.test_kernel_unary_lut import graph
from tests.support.op_check import check_single_op
from tests.support.single_op import lower

ALL_INT16 = np.arange(-(2**15), 2**15, dtype=np.int16)
OUT_Q = (2.0**-15, 0)


@pytest.mark.parametrize("op_type", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("log2_scale", [-13, -12, -11, -10])
def test_power_of_two_scales_match_tflm(host_runtime, op_type, log2_scale):
    g = graph(op_type, ALL_INT16.shape, (2.0**log2_scale, 0), OUT_Q, dtype="int16")
    (call,) = lower(g)
    assert call.kernel == "sigmoid_s16" and call.in_place
    check_single_op(host_runtime, g, [ALL_INT16], oracles=("tflm",))


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["LOGISTIC", "TANH"]), st.floats(-4.5, -1.5))
def test_general_scales_match_tflm(host_runtime, op_type, log10_scale):
    g = graph(op_type, ALL_INT16.shape, (10.0**log10_scale, 0), OUT_Q, dtype="int16")
    out = check_single_op(host_runtime, g, [ALL_INT16], oracles=("tflm",))
    # And against the real function: the table interpolation is good to a few steps of 2^-15.
    real = ALL_INT16.astype(np.float64) * np.float32(10.0**log10_scale)
    ideal = np.tanh(real) if op_type == "TANH" else 0.5 * (1 + np.tanh(real / 2))
    assert np.abs(out / 32768.0 - ideal).max() < 4e-4


def test_table_is_monotonic_and_saturates():
    t = sigmoid_table().astype(np.int64)
    assert t.shape == (TABLE_SIZE,) and t[0] == 32768 and t[-1] == 65535
    assert (np.diff(t) >= 0).all()
    # Each entry is 65536 sigmoid(i/24) raised by at most the chord-error correction (about one step where the
    # curve bends most) and rounded: never below the curve by more than half a step.
    exact = 65536 / (1 + np.exp(-np.arange(TABLE_SIZE) / 24))
    assert (t - exact).min() >= -0.5 and (t - exact).max() < 1.5


@pytest.mark.parametrize(
    ("op_type", "in_q", "out_q", "message"),
    [
        ("LOGISTIC", (0.001, 5), OUT_Q, "zero points"),
        ("TANH", (0.001, 0), (2.0**-15, 7), "zero points"),
        ("LOGISTIC", (0.001, 0), (1 / 20000, 0), "2\\^-15"),
        ("TANH", (8.0, 0), OUT_Q, "too large"),
    ],
)
def test_refusals(op_type, in_q, out_q, message):
    with pytest.raises(Unsupported, match=message):
        lower(graph(op_type, (8,), in_q, out_q, dtype="int16"))
