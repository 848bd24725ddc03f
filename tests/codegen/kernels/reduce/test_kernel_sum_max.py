"""SUM and REDUCE_MAX (int8, any axes, keep_dims): C against the NumPy reference, the reference against
TFLite Micro and tflite-runtime BUILTIN_REF on single-op models, and against the real-valued reductions on
the original (unmerged) shape. Graphs are MEAN's test graphs with the op type changed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph
from codegen.kernels import REFERENCES
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.reduce import sum_max
from codegen.kernels.reduce.mean import resolve_axes
from tests.codegen.kernels.arithmetic.test_kernel_binary_broadcast import run_tflite_ref
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import run_tflm
from tests.codegen.kernels.reduce.test_kernel_mean import mean_graph, scale_st


def graph_of(op_type: str, *args, **kwargs) -> Graph:
    g = mean_graph(*args, **kwargs)
    g.operators[0].op_type = op_type
    g.name = op_type.lower()
    return g


def lower_one(graph: Graph) -> KernelCall:
    (call,) = sum_max.LOWERINGS[graph.operators[0].op_type](graph.operators[0], graph)
    return call


@st.composite
def cases(draw, op_type: str):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    chosen = draw(st.lists(st.integers(0, rank - 1), max_size=rank + 1))
    axes = [a - rank if draw(st.booleans()) else a for a in chosen]
    in_q = (draw(scale_st()), draw(st.integers(-128, 127)))
    out_q = in_q
    if op_type == "SUM":  # sums need a wider output range: 1 to ~100 times the input scale
        out_q = (float(np.float32(in_q[0] * 10 ** draw(st.floats(0, 2)))), draw(st.integers(-128, 127)))
    x = np.random.default_rng(draw(st.integers(0, 2**31))).integers(-128, 128, size=shape, dtype=np.int8)
    return graph_of(op_type, shape, axes, draw(st.booleans()), in_q, out_q), x


@pytest.mark.parametrize("op_type", ["SUM", "REDUCE_MAX"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_c_matches_reference_and_real_reduction(host_runtime, op_type, data):
    graph, x = data.draw(cases(op_type))
    call = lower_one(graph)
    xt, yt = graph.tensor(0), graph.tensor(2)
    expected = REFERENCES[call.kernel](call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], yt.shape, np.int8)
    np.testing.assert_array_equal(got.reshape(-1), expected)
    axes = resolve_axes(graph.tensor(1).data, x.ndim)
    if op_type == "REDUCE_MAX":
        np.testing.assert_array_equal(expected, x.max(axis=axes).reshape(-1) if axes else x.reshape(-1))
    else:
        real = ((x.astype(np.float64) - xt.zero_point) * xt.scale).sum(axis=axes) if axes else (
            (x.astype(np.float64) - xt.zero_point) * xt.scale)
        ideal = np.clip(np.round(real / yt.scale) + yt.zero_point, -128, 127).reshape(-1)
        assert np.abs(expected.astype(np.int64) - ideal).max(initial=0) <= 1


@pytest.mark.parametrize("op_type", ["SUM", "REDUCE_MAX"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_reference_matches_tflm_and_tflite(op_type, data):
    graph, x = data.draw(cases(op_type))
    call = lower_one(graph)
    ours = REFERENCES[call.kernel](call.params, x)
    np.testing.assert_array_equal(ours, run_tflm(graph, [x]).reshape(-1))
    if op_type == "REDUCE_MAX":  # tflite-runtime 2.14's int8 SUM is off: see the test below
        np.testing.assert_array_equal(ours, run_tflite_ref(graph, [x]).reshape(-1))


def test_tflite_2_14_int8_sum_differs_from_tflm_which_is_followed():
    """tflite-runtime 2.14 BUILTIN_REF gives int8 SUMs off by about 256 * s_in / s_out wherever the raw
    values are negative; TFLM (and the real-valued sum) agree with us, so TFLM is followed."""
    x = np.array([[-100], [-50], [7], [1]], dtype=np.int8)
    g = graph_of("SUM", (4, 1), [1], False, (0.05, 3), (0.5, -2))
    call = lower_one(g)
    ours = REFERENCES[call.kernel](call.params, x)
    np.testing.assert_array_equal(ours, run_tflm(g, [x]).reshape(-1))
    real = (x.reshape(-1).astype(np.float64) - 3) * np.float32(0.05) / np.float32(0.5) - 2
    assert np.abs(ours - np.round(real)).max() <= 1
    assert (ours != run_tflite_ref(g, [x]).reshape(-1)).any()


def test_sum_uses_the_unfolded_multiplier():
    """Same graph as MEAN apart from the op: SUM's result is count times larger, in the same kernel."""
    x = np.full((1, 4, 4, 2), 3, dtype=np.int8)
    g_sum = graph_of("SUM", (1, 4, 4, 2), [1, 2], True, (0.1, 0), (0.1, 0))
    (call,) = sum_max.LOWERINGS["SUM"](g_sum.operators[0], g_sum)
    assert call.kernel == "mean_s8" and call.params.count == 16
    np.testing.assert_array_equal(REFERENCES["mean_s8"](call.params, x), np.full(2, 48, dtype=np.int8))


def test_reduce_max_with_different_quantizations_is_refused():
    g = graph_of("REDUCE_MAX", (2, 3), [1], False, (0.1, 0), (0.2, 0))
    with pytest.raises(Unsupported, match="requires them equal"):
        lower_one(g)
