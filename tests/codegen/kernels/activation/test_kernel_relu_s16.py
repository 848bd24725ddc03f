"""Standalone RELU and RELU6 on int16 (relu_s16, reached through unary_lut's lowering): C against the NumPy
reference, the reference against TFLite Micro over the whole int16 range (and tflite-runtime BUILTIN_REF
where the runtimes agree: its int16 RELU rescaling is off by one now and then, so TFLM is followed), and the
refusals of what neither runtime runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels import LOWERINGS, REFERENCES
from codegen.kernels.base import KernelCall, Unsupported
from tests.codegen.kernels.activation.test_kernel_softmax import run_tflite_ref, run_tflm, single_op_model
from tests.codegen.kernels.activation.test_kernel_unary_lut import graph

ALL_INT16 = np.arange(-(2**15), 2**15, dtype=np.int16)


def lower_one(g) -> KernelCall:
    (call,) = LOWERINGS[g.operators[0].op_type](g.operators[0], g)
    return call


@st.composite
def cases(draw):
    op_type = draw(st.sampled_from(["RELU", "RELU6"]))
    s_in = 10 ** draw(st.floats(-5, -2))
    if op_type == "RELU":  # TFLM requires zero points of 0
        return op_type, (s_in, 0), (s_in * 10 ** draw(st.floats(-1, 1)), 0)
    z = draw(st.sampled_from([0, draw(st.integers(-2000, 2000))]))
    return op_type, (s_in, z), (s_in, z)


@settings(max_examples=30, deadline=None)
@given(cases())
def test_c_matches_reference_and_tflm(host_runtime, case):
    op_type, in_q, out_q = case
    call = lower_one(graph(op_type, ALL_INT16.shape, in_q, out_q, dtype="int16"))
    assert call.kernel == "relu_s16" and call.in_place
    expected = REFERENCES[call.kernel](call.params, ALL_INT16)
    got = host_runtime.run(call.kernel, call.params, [ALL_INT16], ALL_INT16.shape, np.int16)
    np.testing.assert_array_equal(got, expected)
    model = single_op_model(op_type, ALL_INT16.shape, in_q, out_q, dtype="int16")
    np.testing.assert_array_equal(expected, run_tflm(model, ALL_INT16))
    if op_type == "RELU6" and in_q[1] == 0:  # TFLite runs int16 RELU6 only with zero point 0
        np.testing.assert_array_equal(expected, run_tflite_ref(model, ALL_INT16))
    # Against the real function: within half a step (RELU) or exact (RELU6 on the input grid).
    real = (ALL_INT16.astype(np.float64) - in_q[1]) * np.float32(in_q[0])
    real = np.maximum(real, 0.0) if op_type == "RELU" else np.clip(real, 0.0, 6.0)
    ideal = np.clip(np.round(real / np.float32(out_q[0])) + out_q[1], -(2**15), 2**15 - 1)
    assert np.abs(expected - ideal).max() <= 1


def test_relu6_s16_follows_tflm_when_quantizations_differ():
    in_q, out_q = (0.001, 0), (0.0007, 0)
    call = lower_one(graph("RELU6", ALL_INT16.shape, in_q, out_q, dtype="int16"))
    ours = REFERENCES[call.kernel](call.params, ALL_INT16)
    model = single_op_model("RELU6", ALL_INT16.shape, in_q, out_q, dtype="int16")
    np.testing.assert_array_equal(ours, run_tflm(model, ALL_INT16))
    assert (ours != run_tflite_ref(model, ALL_INT16)).any()


@pytest.mark.parametrize(
    ("op_type", "in_q", "message"),
    [("RELU", (0.001, 3), "zero points"), ("RELU_N1_TO_1", (0.001, 0), "neither"), ("TANH", (0.001, 3), "zero points")],
)
def test_unsupported_int16_cases_are_refused(op_type, in_q, message):
    with pytest.raises(Unsupported, match=message):
        lower_one(graph(op_type, (8,), in_q, (0.001, 0), dtype="int16"))
