"""L2_NORMALIZATION (int8, last axis): C against the NumPy reference (and so the C inverse square root
against its NumPy twin over the whole int32 range), the reference against TFLite Micro and tflite-runtime
BUILTIN_REF on single-op models, and against the real-valued normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.activation import l2_normalization as l2
from codegen.kernels.base import KernelCall, Unsupported
from tests.codegen.kernels.arithmetic.test_kernel_binary_broadcast import run_tflite_ref
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import run_tflm


def l2_graph(shape, in_q, out_q=(1.0 / 128, 0), activation: str = "NONE") -> Graph:
    tensors = [Tensor(i, f"t{i}", tuple(shape), "int8", Quantization((float(np.float32(s)),), (z,)))
               for i, (s, z) in enumerate((in_q, out_q))]
    op = Operator(0, "L2_NORMALIZATION", (0,), (1,), {"activation": activation})
    return Graph(tensors, [op], (0,), (1,), name="l2_normalization")


def lower_one(graph: Graph) -> KernelCall:
    (call,) = l2.LOWERINGS["L2_NORMALIZATION"](graph.operators[0], graph)
    return call


@st.composite
def cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    if draw(st.booleans()):
        shape = shape[:-1] + (draw(st.integers(100, 3000)),)  # long rows: large sums of squares
    in_q = (10 ** draw(st.floats(-3, 0)), draw(st.integers(-128, 127)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([1, 3, 256]))  # tiny rows too: sums of 0 and 1 are special cases
    lo = int(rng.integers(-128, 129 - spread))
    x = rng.integers(lo, lo + spread, size=shape).astype(np.int8)
    return l2_graph(shape, in_q), x


@settings(max_examples=60, deadline=None)
@given(cases())
def test_c_matches_reference(host_runtime, case):
    graph, x = case
    call = lower_one(graph)
    expected = l2.l2_normalization_s8_ref(call.params, x).reshape(x.shape)
    np.testing.assert_array_equal(host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8), expected)
    buf = x.copy()
    host_runtime.run(call.kernel, call.params, [buf], x.shape, np.int8, out=buf)
    np.testing.assert_array_equal(buf, expected)
    # Against the real-valued normalisation, on rows whose norm is not ~0.
    v = x.astype(np.float64) - graph.tensor(0).zero_point
    norm = np.sqrt((v * v).sum(axis=-1, keepdims=True))
    ideal = np.clip(np.round(128 * v / np.maximum(norm, 1e-9)), -128, 127)
    rows = np.broadcast_to(norm > 1, v.shape)
    assert np.abs(expected.astype(np.float64) - ideal)[rows].max(initial=0) <= 1


def test_inverse_square_root_tracks_the_real_one_over_the_int32_range():
    """The NumPy GetInvSqrtQuantizedMultiplierExp (which the C kernel must match, above) on sums of squares
    from 0 to ~2^31: within 2e-6 of 1/sqrt, and 0 and 1 as TFLite special-cases them."""
    values = np.unique(np.concatenate([np.arange(0, 4096), (2.0 ** np.linspace(12, 30.9, 3000)).astype(np.int64)]))
    m, s = l2.inv_sqrt_multiplier_exp(values)
    real = 1.0 / np.sqrt(np.maximum(values, 1).astype(np.float64))
    approx = m.astype(np.float64) / 2**31 * 2.0**s
    assert (np.abs(approx / real - 1) < 2e-6)[values > 1].all()
    assert (m[values <= 1] == 2**31 - 1).all() and (s <= 0).all()


@settings(max_examples=30, deadline=None)
@given(cases())
def test_reference_matches_tflm_and_tflite(case):
    graph, x = case
    call = lower_one(graph)
    ours = l2.l2_normalization_s8_ref(call.params, x).reshape(x.shape)
    np.testing.assert_array_equal(ours, np.asarray(run_tflm(graph, [x])).reshape(x.shape))
    np.testing.assert_array_equal(ours, run_tflite_ref(graph, [x]).reshape(x.shape))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(out_q=(0.01, 0)), "1/128"), (dict(activation="RELU"), "fused RELU")],
)
def test_unsupported_configurations_are_refused(kwargs, message):
    with pytest.raises(Unsupported, match=message):
        lower_one(l2_graph((2, 8), (0.1, 0), **kwargs))
