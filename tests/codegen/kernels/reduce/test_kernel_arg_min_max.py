"""ARG_MAX and ARG_MIN (int8 input, int32 or int64 output, any axis): C against the NumPy reference, and the
reference against TFLite Micro (int32 axis and output: all it runs) and tflite-runtime BUILTIN_REF (every
variant) on single-op models, with many ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import REFERENCES
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.reduce import arg_min_max
from tests.codegen.kernels.arithmetic.test_kernel_binary_broadcast import run_tflite_ref
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import run_tflm


def arg_graph(op_type: str, shape, axis: int, out_dtype: str = "int32", axis_dtype: str = "int32",
              in_dtype: str = "int8", out_shape=None) -> Graph:
    rank = len(shape)
    if out_shape is None:
        out_shape = tuple(d for i, d in enumerate(shape) if i != axis % rank)
    tensors = [
        Tensor(0, "x", tuple(shape), in_dtype, Quantization((0.05,), (3,))),
        Tensor(1, "axis", (1,), axis_dtype, None, np.array([axis], dtype=np.dtype(axis_dtype))),
        Tensor(2, "y", tuple(out_shape), out_dtype),
    ]
    op = Operator(0, op_type, (0, 1), (2,), {"output_type": out_dtype})
    return Graph(tensors, [op], (0,), (2,), name=op_type.lower())


def lower_one(graph: Graph) -> KernelCall:
    (call,) = arg_min_max.LOWERINGS[graph.operators[0].op_type](graph.operators[0], graph)
    return call


@st.composite
def cases(draw):
    op_type = draw(st.sampled_from(["ARG_MAX", "ARG_MIN"]))
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank)))
    axis = draw(st.integers(-rank, rank - 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([2, 5, 256]))  # few distinct values: ties decide the index
    lo = int(rng.integers(-128, 129 - spread))
    x = rng.integers(lo, lo + spread, size=shape).astype(np.int8)
    graph = arg_graph(op_type, shape, axis, draw(st.sampled_from(["int32", "int64"])),
                      draw(st.sampled_from(["int32", "int64"])))
    return graph, x


@settings(max_examples=80, deadline=None)
@given(cases())
def test_c_matches_reference(host_runtime, case):
    graph, x = case
    call = lower_one(graph)
    y = graph.tensor(2)
    expected = REFERENCES[call.kernel](call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], y.shape, np.int64 if y.dtype == "int64" else np.int32)
    np.testing.assert_array_equal(got.reshape(-1), expected)
    # The index points at an extreme value, the first one along the axis.
    axis = int(graph.tensor(1).data[0]) % x.ndim
    fn = np.max if graph.operators[0].op_type == "ARG_MAX" else np.min
    picked = np.take_along_axis(x, np.expand_dims(expected.reshape(y.shape), axis), axis)
    np.testing.assert_array_equal(picked, fn(x, axis=axis, keepdims=True))
    first = np.argmax(x == fn(x, axis=axis, keepdims=True), axis=axis)
    np.testing.assert_array_equal(expected.reshape(y.shape), first)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_reference_matches_tflm_and_tflite(case):
    graph, x = case
    call = lower_one(graph)
    ours = REFERENCES[call.kernel](call.params, x)
    if graph.tensor(1).dtype == graph.tensor(2).dtype == "int32":  # TFLM runs only int32 axes and indices
        np.testing.assert_array_equal(ours, np.asarray(run_tflm(graph, [x])).reshape(-1))
    np.testing.assert_array_equal(ours, run_tflite_ref(graph, [x]).reshape(-1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(in_dtype="int16"), "only int8"),
        (dict(out_dtype="int16"), "int32 or int64"),
        (dict(out_shape=(2, 3)), "output shape"),
    ],
)
def test_unsupported_configurations_are_refused(kwargs, message):
    with pytest.raises(Unsupported, match=message):
        lower_one(arg_graph("ARG_MAX", (2, 3), 1, **kwargs))


def test_runtime_axis_is_refused():
    g = arg_graph("ARG_MIN", (2, 3), 0)
    g.tensors[1].data = None
    with pytest.raises(Unsupported, match="constant"):
        lower_one(g)
