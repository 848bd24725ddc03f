"""The stateful framing ops (Framer, Stacker, Delay, OverlapAdd): several consecutive invokes each, the
reference against one TFLite Micro interpreter (whose persistent buffers carry the state) and the C kernels
against the reference with the state carried in variable tensors, as model_state does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph
from codegen.kernels.base import Unsupported
from tests.codegen.kernels.signal.signal_support import (
    assert_equal,
    lower,
    one_op_graph,
    run_c,
    run_ref,
    run_tflm_sequence,
)

INVOKES = 6


def _invokes(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "int16") -> list[list[np.ndarray]]:
    if dtype == "float32":
        return [[rng.normal(0, 100, shape).astype(np.float32)] for _ in range(INVOKES)]
    loud = rng.random() < 0.5  # loud inputs make OverlapAdd saturate
    hi = 32768 if loud else 2000
    return [[rng.integers(-hi, hi, shape).astype(np.int16)] for _ in range(INVOKES)]


@st.composite
def framer_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    step = draw(st.integers(1, 6))
    prefill = draw(st.booleans())
    size = draw(st.integers(step if prefill else 1, 20))
    n_frames = draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,), (3,)]))
    shape = (*lead, n_frames * step)
    make = lambda: one_op_graph("SignalFramer", [(shape, "int16", None)],  # noqa: E731
                                [((*lead, n_frames, size), "int16"), ((), "bool")],
                                frame_size=size, frame_step=step, prefill=prefill)
    return make, _invokes(rng, shape), "framer"


@st.composite
def stacker_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = draw(st.integers(1, 6))
    left, right = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    step = draw(st.integers(1, left + right + 1))
    frames = left + right + 1
    make = lambda: one_op_graph("SignalStacker", [((channels,), "int16", None)],  # noqa: E731
                                [((channels * frames,), "int16"), ((), "bool")], num_channels=channels,
                                stacker_left_context=left, stacker_right_context=right, stacker_step=step)
    return make, _invokes(rng, (channels,)), "stacker"


@st.composite
def delay_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = draw(st.sampled_from([(5,), (1,), (2, 7), (3, 4), (12,)]))
    delay = draw(st.integers(0, 20))
    make = lambda: one_op_graph("SignalDelay", [(shape, "int16", None)], [(shape, "int16")],  # noqa: E731
                                delay_length=delay)
    return make, _invokes(rng, shape), "delay"


@st.composite
def overlap_add_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(["int16", "float32"]))
    size = draw(st.integers(1, 16))
    step = draw(st.integers(1, size))
    n_frames = draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,)]))
    shape = (*lead, n_frames, size)
    make = lambda: one_op_graph("SignalOverlapAdd", [(shape, dtype, None)],  # noqa: E731
                                [((*lead, n_frames * step), dtype)], T=7 if dtype == "int16" else 0,
                                frame_step=step)
    return make, _invokes(rng, shape, dtype), "overlap_add"


CASES = st.one_of(framer_cases(), stacker_cases(), delay_cases(), overlap_add_cases())


def _written(graph: Graph, invoke: int, expected: list[np.ndarray]) -> np.ndarray | None:
    """Which values of output 0 TFLM wrote in this invoke (None: all); it leaves the others as they were."""
    op = graph.operators[0]
    if op.op_type == "CUSTOM:SignalStacker":
        return None if bool(expected[1]) else np.zeros(expected[0].size, bool)
    if op.op_type == "CUSTOM:SignalFramer":
        p = lower(graph)[0].params
        frames = (invoke * p.n_frames + np.arange(p.n_frames) + 1) >= p.first_valid
        mask = np.broadcast_to(frames[None, :, None], (p.outer, p.n_frames, p.frame_size))
        return mask.reshape(-1)
    return None


@settings(max_examples=60, deadline=None)
@given(CASES)
def test_framing_reference_matches_tflm(case) -> None:
    make, invokes, name = case
    expected = run_tflm_sequence(make(), invokes)
    graph, state = make(), {}
    for t, (xs, exp) in enumerate(zip(invokes, expected, strict=True)):
        got = run_ref(graph, xs, state=state)
        mask = _written(graph, t, exp)
        g0, e0 = np.asarray(got[0]).reshape(-1), np.asarray(exp[0]).reshape(-1)
        if mask is not None:
            g0, e0 = g0[mask], e0[mask]
        assert_equal(g0, e0, f"{name} invoke {t} output")
        if len(exp) > 1:
            assert bool(got[1]) == bool(exp[1]), f"{name} invoke {t} valid flag"


@settings(max_examples=60, deadline=None)
@given(CASES)
def test_framing_c_matches_reference(host_runtime, case) -> None:
    make, invokes, name = case
    graph = make()
    ref_state: dict[int, np.ndarray] = {}
    c_state: dict[int, np.ndarray] = {}
    for t, xs in enumerate(invokes):
        expected = run_ref(graph, xs, state=ref_state)
        got = run_c(host_runtime, graph, xs, state=c_state)
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_equal(g, e, f"{name} invoke {t} output {i}, C vs reference")
        for index, value in ref_state.items():
            assert_equal(c_state[index], value, f"{name} invoke {t} state {graph.tensor(index).name}")


def test_state_tensors_are_added_once() -> None:
    graph = one_op_graph("SignalDelay", [((4,), "int16", None)], [((4,), "int16")], delay_length=3)
    before = len(graph.tensors)
    lower(graph)
    lower(graph)
    assert len(graph.tensors) == before + 1 and graph.tensors[-1].is_variable
    assert graph.tensors[-1].shape == (1, 3)


def test_delay_delays() -> None:
    graph = one_op_graph("SignalDelay", [((4,), "int16", None)], [((4,), "int16")], delay_length=3)
    state: dict[int, np.ndarray] = {}
    first = run_ref(graph, [np.array([1, 2, 3, 4], np.int16)], state=state)[0]
    second = run_ref(graph, [np.array([5, 6, 7, 8], np.int16)], state=state)[0]
    assert first.tolist() == [0, 0, 0, 1] and second.tolist() == [2, 3, 4, 5]


@pytest.mark.parametrize("make", [
    lambda: one_op_graph("SignalFramer", [((6,), "int16", None)], [((1, 8), "int16"), ((), "bool")],
                         frame_size=8, frame_step=4, prefill=False),
    lambda: one_op_graph("SignalStacker", [((3,), "int16", None)], [((9,), "int16"), ((), "bool")],
                         num_channels=3, stacker_left_context=1, stacker_right_context=1, stacker_step=4),
])
def test_framing_refuses_inconsistent_options(make: Callable[[], Graph]) -> None:
    with pytest.raises(Unsupported):
        lower(make())
