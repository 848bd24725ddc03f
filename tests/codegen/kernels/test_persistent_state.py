"""base.persistent_state: an op's internal state becomes one variable tensor, found again on later lowerings."""

from __future__ import annotations

import pytest

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import Unsupported, persistent_state


def _graph() -> Graph:
    tensors = [Tensor(0, "x", (4,), "uint32"), Tensor(1, "y", (4,), "uint32")]
    return Graph(tensors, [Operator(3, "CUSTOM:Example", (0,), (1,))], (0,), (1,))


def test_declared_once_and_found_again():
    graph = _graph()
    op = graph.operators[0]
    first = persistent_state(graph, op, "noise", (4,), "uint32")
    assert first == 2 and graph.tensor(2).is_variable and graph.tensor(2).nbytes == 16
    assert persistent_state(graph, op, "noise", (4,), "uint32") == first
    assert len(graph.tensors) == 3
    assert persistent_state(graph, op, "other", (2,), "int16") == 3  # a second state of the same op


def test_a_different_shape_for_the_same_state_is_refused():
    graph = _graph()
    op = graph.operators[0]
    persistent_state(graph, op, "noise", (4,), "uint32")
    with pytest.raises(Unsupported, match="op3_noise_state exists"):
        persistent_state(graph, op, "noise", (5,), "uint32")
