"""The reference executor runs calls with several outputs (one array per output from the reference), as well as
operators with several outputs lowered to one call per output (SPLIT, UNPACK)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen import reference_executor
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import KernelCall

Q = Quantization((0.1,), (0,))


def _graph() -> Graph:
    tensors = [Tensor(0, "x", (2, 3), "int8", Q), Tensor(1, "a", (3,), "int8", Q), Tensor(2, "b", (3,), "int8", Q)]
    return Graph(tensors, [Operator(0, "UNPACK", (0,), (1, 2), {"num": 2, "axis": 0})], (0,), (1, 2))


def test_one_call_with_two_outputs(monkeypatch):
    monkeypatch.setitem(reference_executor.REFERENCES, "halves", lambda p, x: (x[0], -x[1]))
    x = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    calls = [KernelCall("halves", None, (0,), (), (1, 2), 0)]
    a, b = reference_executor.run_reference(_graph(), [x], calls)
    np.testing.assert_array_equal(a, [1, 2, 3])
    np.testing.assert_array_equal(b, [-4, -5, -6])
    monkeypatch.setitem(reference_executor.REFERENCES, "halves", lambda p, x: (x[0],))
    with pytest.raises(ValueError, match="1 arrays for 2 outputs"):
        reference_executor.run_reference(_graph(), [x], calls)


def test_unpack_lowered_one_call_per_output():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    a, b = reference_executor.run_reference(_graph(), [x])
    np.testing.assert_array_equal(a, x[0])
    np.testing.assert_array_equal(b, x[1])
