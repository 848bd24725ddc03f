"""CAST between integer types and float32, and float32 MUL: the reference against TFLite Micro on single-op
models, the C kernels against the reference (bit for bit: one IEEE single multiply per element)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels.arithmetic import cast
from codegen.kernels.base import Unsupported
from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import Invokes, assert_same, run_c, run_ref, run_tflm

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The pairs the lowering accepts (those TFLite Micro's CAST runs among these types). Floats to integers only in
# range (C leaves the rest undefined).
INTEGERS = ("int8", "int16", "int32", "uint32")
PAIRS = [(a, b) for a in (*INTEGERS, "float32") for b in (*INTEGERS, "float32") if a != b]


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


def _values(rng: np.random.Generator, dtype: str, n: int, target: str) -> np.ndarray:
    if dtype == "float32":
        info = np.iinfo(NUMPY_DTYPES[target]) if target != "float32" else np.iinfo(np.int32)
        low, high = max(float(info.min), -2.0**31), min(float(info.max), 2.0**31 - 256)
        v = rng.uniform(-1, 1, n) * (2.0 ** rng.integers(0, 32, n))
        return np.clip(v, low, high).astype(np.float32)
    info = np.iinfo(NUMPY_DTYPES[dtype])
    return rng.integers(int(info.min), int(info.max) + 1, n, dtype=np.int64).astype(NUMPY_DTYPES[dtype])


@st.composite
def cast_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    src, dst = draw(st.sampled_from(PAIRS))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    b = GraphBuilder("cast")
    x = b.tensor("x", shape, src)
    y = b.tensor("y", shape, dst)
    b.op("CAST", (x,), (y,))
    n = int(np.prod(shape))
    return b.build((x,), (y,)), [[_values(rng, src, n, dst).reshape(shape)] for _ in range(2)]


@SETTINGS
@given(cast_cases())
def test_cast_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "CAST")


@SETTINGS
@given(cast_cases())
def test_cast_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "CAST")


def test_cast_wraps_and_rounds():
    p = cast.CastParams(4, cast.TYPE_CODES["uint32"], cast.TYPE_CODES["int32"])
    assert cast.cast_elements_ref(p, np.array([0, 1, 2**31, 2**32 - 1], np.uint32)).tolist() == [0, 1, -(2**31), -1]
    p = cast.CastParams(2, cast.TYPE_CODES["int32"], cast.TYPE_CODES["float32"])
    assert cast.cast_elements_ref(p, np.array([2**24 + 1, -7], np.int32)).tolist() == [2.0**24, -7.0]


@st.composite
def mul_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    kind = draw(st.sampled_from(["const scalar", "scalar input", "same shape"]))
    activation = draw(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))

    def floats(n: int) -> np.ndarray:
        v = rng.standard_normal(n) * 2.0 ** rng.integers(-20, 20, n)
        v[rng.random(n) < 0.05] = np.inf
        v[rng.random(n) < 0.05] = 0.0
        return v.astype(np.float32)

    b = GraphBuilder("mul_f32")
    a = b.tensor("a", shape, "float32")
    if kind == "const scalar":
        c = b.tensor("c", (), "float32", data=np.float32(floats(1)[0] if draw(st.booleans()) else 0.0390625))
    else:
        c = b.tensor("c", () if kind == "scalar input" else shape, "float32")
    y = b.tensor("y", shape, "float32")
    order = (c, a) if draw(st.booleans()) else (a, c)
    b.op("MUL", order, (y,), activation=activation)
    inputs = (a,) if kind == "const scalar" else tuple(i for i in order)
    graph = b.build(inputs, (y,))
    invokes = [[floats(graph.tensor(i).size).reshape(graph.tensor(i).shape) for i in inputs] for _ in range(2)]
    return graph, invokes


@SETTINGS
@given(mul_cases())
def test_mul_f32_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "MUL float32")


@SETTINGS
@given(mul_cases())
def test_mul_f32_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "MUL float32")


def test_cast_refuses_int64():
    b = GraphBuilder("cast")
    x, y = b.tensor("x", (3,), "int64"), b.tensor("y", (3,), "int32")
    b.op("CAST", (x,), (y,))
    graph = b.build((x,), (y,))
    with pytest.raises(Unsupported, match="CAST of int64"):
        cast.LOWERINGS["CAST"](graph.operators[0], graph)
