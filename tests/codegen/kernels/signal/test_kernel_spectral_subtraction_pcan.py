"""SignalFilterBankSpectralSubtraction (stateful: several invokes in one interpreter) and SignalPCAN: the
reference against TFLite Micro on single-op models, the C kernels against the reference."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph
from codegen.kernels.base import Unsupported
from codegen.kernels.signal import pcan
from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import Invokes, assert_same, run_c, run_ref, run_tflm

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODEL = Path(__file__).resolve().parents[5] / "shared" / "models" / "tflm_audio_preprocessor_float.tflite"
INVOKES = 5


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


def _uint32s(rng: np.random.Generator, n: int, max_bits: int = 32) -> np.ndarray:
    bits = rng.integers(0, max_bits + 1, n)
    return np.minimum((rng.random(n) * (2.0 ** bits)).astype(np.uint64), 2**32 - 1).astype(np.uint32)


@st.composite
def subtraction_cases(draw) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 16))
    ssb = draw(st.integers(8, 16))
    one = 1 << ssb
    smoothing, alternate = draw(st.integers(0, one)), draw(st.integers(0, one))
    options = dict(
        num_channels=n, smoothing=smoothing, one_minus_smoothing=one - smoothing, alternate_smoothing=alternate,
        alternate_one_minus_smoothing=one - alternate, min_signal_remaining=draw(st.integers(0, one)),
        smoothing_bits=draw(st.integers(0, 12)), spectral_subtraction_bits=ssb, clamping=draw(st.booleans()))
    b = GraphBuilder("spectral_subtraction")
    x = b.tensor("x", (n,), "uint32")
    y = b.tensor("y", (n,), "uint32")
    noise = b.tensor("noise", (n,), "uint32")
    b.op("CUSTOM:SignalFilterBankSpectralSubtraction", (x,), (y, noise), **options)
    # Mostly values that survive << smoothing_bits (as real filter banks are), sometimes ones that wrap.
    max_bits = draw(st.sampled_from([20, 32]))
    return b.build((x,), (y, noise)), [[_uint32s(rng, n, max_bits)] for _ in range(INVOKES)]


@SETTINGS
@given(subtraction_cases())
def test_spectral_subtraction_reference_matches_tflite_micro(case):
    graph, invokes = case
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "SignalFilterBankSpectralSubtraction")


@SETTINGS
@given(subtraction_cases())
def test_spectral_subtraction_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "SignalFilterBankSpectralSubtraction")


def test_spectral_subtraction_state_is_carried():
    """The same input twice: the second output differs once the noise estimate holds the first (and TFLM agrees)."""
    b = GraphBuilder("spectral_subtraction")
    x = b.tensor("x", (4,), "uint32")
    y, noise = b.tensor("y", (4,), "uint32"), b.tensor("noise", (4,), "uint32")
    b.op("CUSTOM:SignalFilterBankSpectralSubtraction", (x,), (y, noise), num_channels=4, smoothing=4096,
         one_minus_smoothing=12288, alternate_smoothing=4096, alternate_one_minus_smoothing=12288,
         min_signal_remaining=0, smoothing_bits=10, spectral_subtraction_bits=14, clamping=False)
    graph = b.build((x,), (y, noise))
    value = np.array([1000, 20000, 300000, 4], np.uint32)
    outs = run_ref(graph, [[value]] * 3)
    assert not np.array_equal(outs[0][0], outs[1][0]) and not np.array_equal(outs[1][1], outs[2][1])
    assert_same(outs, run_tflm(graph, [[value]] * 3), "SignalFilterBankSpectralSubtraction")


def _model_gain_lut() -> np.ndarray:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is absent")
    graph = read_tflite(MODEL)
    (op,) = [o for o in graph.operators if o.op_type == "CUSTOM:SignalPCAN"]
    return graph.tensor(op.inputs[2]).data


@st.composite
def pcan_cases(draw, lut: np.ndarray | None = None) -> tuple[Graph, Invokes]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 16))
    if lut is None:
        lut = rng.integers(-(2**15), 2**15, pcan.LUT_SIZE).astype(np.int16)
    b = GraphBuilder("pcan")
    x = b.tensor("x", (n,), "uint32")
    noise = b.tensor("noise", (n,), "uint32")
    table = b.tensor("lut", lut.shape, "int16", data=lut)
    y = b.tensor("y", (n,), "uint32")
    b.op("CUSTOM:SignalPCAN", (x, noise, table), (y,), snr_shift=draw(st.integers(0, 16)))
    invokes = []
    for _ in range(2):
        noise_values = _uint32s(rng, n)
        noise_values[rng.random(n) < 0.15] = rng.integers(0, 3)
        invokes.append([_uint32s(rng, n, draw(st.sampled_from([16, 24, 32]))), noise_values])
    return b.build((x, noise), (y,)), invokes


@SETTINGS
@given(st.data())
def test_pcan_reference_matches_tflite_micro(data):
    lut = data.draw(st.sampled_from(["model", "random"]))
    graph, invokes = data.draw(pcan_cases(_model_gain_lut() if lut == "model" else None))
    assert_same(run_ref(graph, invokes), run_tflm(graph, invokes), "SignalPCAN")


@SETTINGS
@given(pcan_cases())
def test_pcan_c_matches_reference(lib, case):
    graph, invokes = case
    assert_same(run_c(lib, graph, invokes), run_ref(graph, invokes), "SignalPCAN")


def test_pcan_refuses_a_short_gain_table():
    b = GraphBuilder("pcan")
    x, noise = b.tensor("x", (4,), "uint32"), b.tensor("noise", (4,), "uint32")
    table = b.tensor("lut", (100,), "int16", data=np.zeros(100, np.int16))
    y = b.tensor("y", (4,), "uint32")
    b.op("CUSTOM:SignalPCAN", (x, noise, table), (y,), snr_shift=6)
    graph = b.build((x, noise), (y,))
    with pytest.raises(Unsupported, match="at least 125"):
        pcan.LOWERINGS["CUSTOM:SignalPCAN"](graph.operators[0], graph)
