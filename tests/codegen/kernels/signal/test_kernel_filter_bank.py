"""SignalFilterBank, SignalFilterBankSquareRoot and SignalFilterBankLog: the reference against TFLite Micro on
single-op models (written with tflite_writer), and the C kernels against the reference."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph
from codegen.kernels.base import Unsupported
from codegen.kernels.signal import filter_bank
from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import Invokes, assert_same, run_c, run_ref, run_tflm

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


def _uint32s(rng: np.random.Generator, n: int) -> np.ndarray:
    """Values of every magnitude: each element 2^k-ish for a random k, plus 0, 1 and 2^32 - 1."""
    bits = rng.integers(0, 33, n)
    v = (rng.random(n) * (2.0 ** bits)).astype(np.uint64)
    v = np.minimum(v, 2**32 - 1).astype(np.uint32)
    v[rng.random(n) < 0.05] = 0
    v[rng.random(n) < 0.05] = 2**32 - 1
    return v


@st.composite
def filter_bank_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 10))
    size = draw(st.integers(4, 48))
    widths = rng.integers(0, min(size, 8) + 1, n + 1).astype(np.int16)
    starts = np.array([rng.integers(0, size - w + 1) for w in widths], np.int16)
    weight_starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int16)
    total = max(int(widths.sum()), 1)
    signed = draw(st.booleans())  # negative weights: TFLM sign-extends them into uint64 arithmetic
    low = -(2**15) if signed else 0
    weights = rng.integers(low, 2**15, total).astype(np.int16)
    unweights = rng.integers(low, 2**15, total).astype(np.int16)
    b = GraphBuilder("filter_bank")
    x = b.tensor("x", (size,), "uint32")
    consts = [b.tensor(name, arr.shape, "int16", data=arr) for name, arr in (
        ("weights", weights), ("unweights", unweights), ("freq_starts", starts), ("weight_starts", weight_starts),
        ("widths", widths))]
    y = b.tensor("y", (n,), "uint64")
    b.op("CUSTOM:SignalFilterBank", (x, *consts), (y,), num_channels=n)
    return b.build((x,), (y,)), [[_uint32s(rng, size)] for _ in range(2)]


@SETTINGS
@given(filter_bank_cases())
def test_filter_bank_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "SignalFilterBank")


@SETTINGS
@given(filter_bank_cases())
def test_filter_bank_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "SignalFilterBank")


@st.composite
def sqrt_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 40))
    const_bits = draw(st.booleans())
    b = GraphBuilder("filter_bank_sqrt")
    x = b.tensor("x", (n,), "uint64")
    bits_value = draw(st.integers(0, 16))
    bits = b.tensor("bits", (), "int32", data=np.int32(bits_value)) if const_bits else b.tensor("bits", (), "int32")
    y = b.tensor("y", (n,), "uint32")
    b.op("CUSTOM:SignalFilterBankSquareRoot", (x, bits), (y,))
    inputs = (x,) if const_bits else (x, bits)
    invokes = []
    for _ in range(2):
        k = rng.integers(0, 65, n)
        v = np.array([int(rng.integers(0, 2**63)) >> (64 - int(e)) if e else 0 for e in k], np.uint64)
        roots = rng.integers(0, 2**32, n, dtype=np.uint64)
        near = roots * roots + rng.integers(-1, 2, n).astype(np.uint64)  # just around perfect squares
        v = np.where(rng.random(n) < 0.3, near, v)
        v[rng.random(n) < 0.1] = 2**64 - 1
        v[rng.random(n) < 0.1] = 2**32 - 1
        invokes.append([v] if const_bits else [v, np.int32(draw(st.integers(0, 16)))])
    return b.build(inputs, (y,)), invokes


@SETTINGS
@given(sqrt_cases())
def test_sqrt_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "SignalFilterBankSquareRoot")


@SETTINGS
@given(sqrt_cases())
def test_sqrt_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "SignalFilterBankSquareRoot")


def test_sqrt_values():
    """Rounded square roots, with TFLM's cap at 0xFFFF below 2^32 (its 32-bit shortcut) and 0xFFFFFFFF above."""
    assert [filter_bank.sqrt64(v) for v in (0, 1, 2, 3, 4, 15, 16, 17, 2**32 - 1, 2**32, 2**64 - 1)] == [
        0, 1, 1, 2, 2, 4, 4, 4, 0xFFFF, 65536, 0xFFFFFFFF]


@st.composite
def log_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 40))
    b = GraphBuilder("filter_bank_log")
    x = b.tensor("x", (n,), "uint32")
    y = b.tensor("y", (n,), "int16")
    scale = draw(st.one_of(st.integers(1, 2**10), st.integers(1, 2**31 - 1)))  # large: uint32 products wrap
    b.op("CUSTOM:SignalFilterBankLog", (x,), (y,), input_correction_bits=draw(st.integers(0, 8)),
         output_scale=scale)
    invokes = []
    for _ in range(2):
        v = _uint32s(rng, n)
        v[rng.random(n) < 0.1] = rng.integers(0, 4)
        invokes.append([v])
    return b.build((x,), (y,)), invokes


@SETTINGS
@given(log_cases())
def test_log_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "SignalFilterBankLog")


@SETTINGS
@given(log_cases())
def test_log_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "SignalFilterBankLog")


def test_filter_bank_refuses_tables_past_the_input():
    b = GraphBuilder("bad")
    x = b.tensor("x", (8,), "uint32")
    tables = [b.tensor(name, (2,), "int16", data=np.array(v, np.int16)) for name, v in (
        ("w", [1, 1]), ("u", [1, 1]), ("f", [0, 7]), ("ws", [0, 1]), ("wd", [1, 2]))]
    y = b.tensor("y", (1,), "uint64")
    b.op("CUSTOM:SignalFilterBank", (x, *tables), (y,), num_channels=1)
    graph = b.build((x,), (y,))
    with pytest.raises(Unsupported, match="outside the input"):
        filter_bank.LOWERINGS["CUSTOM:SignalFilterBank"](graph.operators[0], graph)
