"""SOFTMAX int8 -> int16: the C kernel against the NumPy reference, the reference against TFLite Micro."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import LOWERINGS
from codegen.kernels.activation import softmax_s8_s16
from codegen.kernels.base import Unsupported
from tests.support.single_op import run_tflm
from tools.host_runtime import HostRuntime


def softmax_graph(shape: tuple[int, ...], scale: float, zp: int, beta: float,
                  out_q: tuple[float, int] = (1.0 / 65536, -32768)) -> Graph:
    tensors = [Tensor(0, "x", shape, "int8", Quantization((float(np.float32(scale)),), (zp,))),
               Tensor(1, "y", shape, "int16", Quantization((float(np.float32(out_q[0])),), (out_q[1],)))]
    return Graph(tensors, [Operator(0, "SOFTMAX", (0,), (1,), {"beta": beta})], (0,), (1,), name="softmax_s16")


@st.composite
def cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))) + (draw(st.integers(1, 40)),)
    graph = softmax_graph(shape, draw(st.floats(0.002, 0.5)), draw(st.integers(-128, 127)),
                          draw(st.sampled_from([1.0, 0.5, 2.0])))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(-128, 128, shape, dtype=np.int8)
    return graph, x


@pytest.fixture(scope="module")
def host() -> HostRuntime:
    return HostRuntime()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_c_matches_reference(host, case):
    graph, x = case
    (call,) = LOWERINGS["SOFTMAX"](graph.operators[0], graph)
    assert call.kernel == "softmax_s8_s16"
    want = softmax_s8_s16.softmax_s8_s16_ref(call.params, x)
    got = host.run("softmax_s8_s16", call.params, [x], x.shape, np.int16)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_reference_matches_tflite_micro(case):
    graph, x = case
    (call,) = LOWERINGS["SOFTMAX"](graph.operators[0], graph)
    want = run_tflm(graph, [x])[0]
    np.testing.assert_array_equal(softmax_s8_s16.softmax_s8_s16_ref(call.params, x), want)
    assert len(np.unique(want)) > 1 or x.shape[-1] == 1 or len(np.unique(x)) == 1


def test_output_quantization_is_checked():
    graph = softmax_graph((1, 4), 0.1, 0, 1.0, out_q=(1.0 / 32768, -32768))
    with pytest.raises(Unsupported, match="1/65536"):
        LOWERINGS["SOFTMAX"](graph.operators[0], graph)
    near = softmax_graph((1, 4), 0.1, 0, 1.0, out_q=(1.5259022e-05, -32768))  # the keyword model's scale
    assert LOWERINGS["SOFTMAX"](near.operators[0], near)[0].kernel == "softmax_s8_s16"

