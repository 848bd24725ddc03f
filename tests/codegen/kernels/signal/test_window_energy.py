"""SignalWindow and SignalEnergy: the NumPy reference against TFLite Micro, the C kernels against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels.base import Unsupported
from tests.codegen.kernels.signal.signal_support import assert_equal, lower, one_op_graph, run_c, run_ref, run_tflm


def _int16(rng: np.random.Generator, shape: tuple[int, ...], extremes: bool) -> np.ndarray:
    x = rng.integers(-32768, 32768, shape).astype(np.int16)
    if extremes:  # the corners of the arithmetic: saturation and -32768 * -32768
        pick = rng.random(shape) < 0.3
        x[pick] = rng.choice(np.array([-32768, 32767, -1, 0, 1], np.int16), int(pick.sum()))
    return x


@st.composite
def window_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(1, 64))
    lead = draw(st.sampled_from([(), (1,), (2,), (3, 2)]))
    shape = (*lead, size) if lead or draw(st.booleans()) else (size,)
    extremes = draw(st.booleans())
    window = _int16(rng, (size,), extremes)
    shift = draw(st.integers(0, 20))
    if draw(st.booleans()):  # a constant window (flash), as models have it
        graph = one_op_graph("SignalWindow", [(shape, "int16", None), ((size,), "int16", window)],
                             [(shape, "int16")], shift=shift)
        return graph, [_int16(rng, shape, extremes)]
    graph = one_op_graph("SignalWindow", [(shape, "int16", None), ((size,), "int16", None)],
                         [(shape, "int16")], shift=shift)
    return graph, [_int16(rng, shape, extremes), window]


@settings(max_examples=40, deadline=None)
@given(window_cases())
def test_window_reference_matches_tflm(case) -> None:
    graph, inputs = case
    assert_equal(run_ref(graph, inputs)[0], run_tflm(graph, inputs)[0], "SignalWindow reference vs TFLM")


@settings(max_examples=40, deadline=None)
@given(window_cases())
def test_window_c_matches_reference(host_runtime, case) -> None:
    graph, inputs = case
    assert_equal(run_c(host_runtime, graph, inputs)[0], run_ref(graph, inputs)[0], "SignalWindow C vs reference")


def test_window_saturates() -> None:
    graph = one_op_graph("SignalWindow", [((3,), "int16", None), ((3,), "int16", np.array([32767, 32767, 2]))],
                         [((3,), "int16")], shift=0)
    got = run_ref(graph, [np.array([4, -4, 7], np.int16)])[0]
    assert got.tolist() == [32767, -32768, 14]


def test_window_refuses_a_partial_window() -> None:
    graph = one_op_graph("SignalWindow", [((5,), "int16", None), ((3,), "int16", np.ones(3))],
                         [((5,), "int16")], shift=1)
    with pytest.raises(Unsupported, match="whole number"):
        lower(graph)


@st.composite
def energy_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bins = draw(st.integers(1, 80))
    start = draw(st.integers(0, bins))
    end = draw(st.integers(start, bins))
    graph = one_op_graph("SignalEnergy", [((2 * bins,), "int16", None)], [((bins,), "uint32")],
                         end_index=end, start_index=start)
    return graph, [_int16(rng, (2 * bins,), draw(st.booleans()))], (start, end)


@settings(max_examples=40, deadline=None)
@given(energy_cases())
def test_energy_reference_matches_tflm(case) -> None:
    graph, inputs, (start, end) = case
    # TFLM writes only the bins [start, end); the rest of its output is whatever its arena held.
    got, expected = run_ref(graph, inputs)[0], run_tflm(graph, inputs)[0]
    assert_equal(got[start:end], expected[start:end], "SignalEnergy reference vs TFLM")


@settings(max_examples=40, deadline=None)
@given(energy_cases())
def test_energy_c_matches_reference(host_runtime, case) -> None:
    graph, inputs, _ = case
    assert_equal(run_c(host_runtime, graph, inputs)[0], run_ref(graph, inputs)[0], "SignalEnergy C vs reference")


def test_energy_of_the_most_negative_bin_is_two_to_the_31() -> None:
    graph = one_op_graph("SignalEnergy", [((4,), "int16", None)], [((2,), "uint32")], end_index=2, start_index=0)
    got = run_ref(graph, [np.array([-32768, -32768, 3, -4], np.int16)])[0]
    assert got.tolist() == [2**31, 25]
