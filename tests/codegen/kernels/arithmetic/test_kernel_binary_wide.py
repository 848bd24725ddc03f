"""int32 ADD/SUB/MUL/DIV/MAXIMUM/MINIMUM and float32 ADD/SUB/DIV/MAXIMUM/MINIMUM with broadcasting: the
reference against TFLite Micro on single-op models, the C kernels against the reference, bit for bit. int32 DIV
avoids what TFLM fails on (a zero divisor) or crashes on (INT32_MIN / -1)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph
from codegen.kernels.arithmetic import binary_wide
from codegen.kernels.base import Unsupported
from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import Invokes, assert_same, run_c, run_ref, run_tflm

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ARITHMETIC = ("ADD", "SUB", "MUL", "DIV")


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


def _values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...], int_divisor: bool = False) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype == "int32":
        wide = rng.integers(-(2**31), 2**31, n, dtype=np.int64)
        small = rng.integers(-10, 11, n, dtype=np.int64)  # near the activation bounds
        v = np.where(rng.random(n) < 0.4, small, wide)
        # no zero divisor; no INT32_MIN at all (so never INT32_MIN / -1)
        v = np.where(v == 0, 7, v) if int_divisor else v
        v = np.maximum(v, -(2**31) + 1)
    else:
        v = rng.standard_normal(n) * 2.0 ** rng.integers(-10, 128, n)  # some overflow to inf
        v[rng.random(n) < 0.05] = np.inf
    return v.astype(dtype).reshape(shape)


@st.composite
def cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(["int32", "float32"]))
    ops = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM") if dtype == "int32" else (
        "ADD", "SUB", "DIV", "MAXIMUM", "MINIMUM")
    op = draw(st.sampled_from(ops))
    out = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    shapes = []
    for _ in range(2):
        rank = draw(st.integers(0, len(out)))
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in out[len(out) - rank:]))
    if tuple(np.broadcast_shapes(*shapes)) != out:
        shapes[0] = out
    const = draw(st.sampled_from([None, 0, 1]))
    b = GraphBuilder("binary_wide")
    tensors = []
    for k, shape in enumerate(shapes):
        data = _values(rng, dtype, shape, op == "DIV" and k == 1) if k == const else None
        tensors.append(b.tensor(f"in{k}", shape, dtype, data=data))
    y = b.tensor("y", out, dtype)
    options = {"activation": draw(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))} if (
        op in ARITHMETIC) else {}
    b.op(op, tuple(tensors), (y,), **options)
    inputs = tuple(t for k, t in enumerate(tensors) if k != const)
    graph = b.build(inputs, (y,))
    divisor = tensors[1]
    return graph, [[_values(rng, dtype, graph.tensor(i).shape, op == "DIV" and i == divisor) for i in inputs]
                   for _ in range(2)]


@SETTINGS
@given(cases())
def test_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), graph.operators[0].op_type)


@SETTINGS
@given(cases())
def test_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), graph.operators[0].op_type)


def test_int32_add_wraps():
    b = GraphBuilder("add")
    x, c = b.tensor("x", (2,), "int32"), b.tensor("c", (1,), "int32", data=np.array([3]))
    y = b.tensor("y", (2,), "int32")
    b.op("SUB", (c, x), (y,), activation="NONE")
    graph = b.build((x,), (y,))
    (call,) = binary_wide.VARIANTS["SUB"][1](graph.operators[0], graph)
    assert call.params.swapped == 1
    got = binary_wide.binary_i32_ref(call.params, np.array([-(2**31) + 1, 5], np.int32), np.array([3], np.int32))
    assert got.tolist() == [-(2**31) + 2, -2]  # 3 - x: the constant stays the first operand


def test_int32_div_truncates_and_defines_what_c_leaves_undefined():
    b = GraphBuilder("div")
    x, z = b.tensor("x", (5,), "int32"), b.tensor("z", (5,), "int32")
    y = b.tensor("y", (5,), "int32")
    b.op("DIV", (x, z), (y,), activation="NONE")
    graph = b.build((x, z), (y,))
    (call,) = binary_wide.VARIANTS["DIV"][1](graph.operators[0], graph)
    got = binary_wide.binary_i32_ref(call.params, np.array([-7, 9, 7, 5, -(2**31)], np.int32),
                                     np.array([2, -2, 7, 0, -1], np.int32))
    assert got.tolist() == [-3, -4, 1, 0, -(2**31)]


def test_refuses_quantized_int32():
    from codegen.ir import Quantization

    b = GraphBuilder("add")
    q = Quantization((0.5,), (0,))
    x, z = b.tensor("x", (2,), "int32", q), b.tensor("z", (2,), "int32", q)
    y = b.tensor("y", (2,), "int32", q)
    b.op("ADD", (x, z), (y,), activation="NONE")
    graph = b.build((x, z), (y,))
    with pytest.raises(Unsupported, match="quantized"):
        binary_wide.lower_binary_wide(graph.operators[0], graph)
