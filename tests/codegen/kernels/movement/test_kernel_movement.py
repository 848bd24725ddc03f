"""RESHAPE, CONCATENATION and TRANSPOSE: lowering + C kernels against NumPy, and NumPy against TFLite.

The families are registered locally (not through codegen.kernels) so these tests stand on their own.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.movement import concatenation, reshape, transpose
from codegen.kernels.movement.concatenation import CopyStridedParams, copy_strided_ref
from codegen.kernels.movement.reshape import CopyBytesParams, copy_bytes_ref
from codegen.kernels.movement.transpose import transpose_params, transpose_s8_ref

FAMILIES = (reshape, concatenation, transpose)
LOWERINGS = {op: fn for m in FAMILIES for op, fn in m.LOWERINGS.items()}
REFERENCES = {k: fn for m in FAMILIES for k, fn in m.REFERENCES.items()}
Q = Quantization((0.05,), (-3,))


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(NUMPY_DTYPES[dtype])
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(NUMPY_DTYPES[dtype])


def run_calls_c(host_runtime, graph: Graph, calls: list[KernelCall], values: dict[int, np.ndarray]) -> np.ndarray:
    """Run the calls of one operator through the C kernels; they all write one output buffer.

    The buffer starts as garbage (0x5A bytes) so a slice nobody writes is caught.
    """
    (out_index,) = {c.outputs[0] for c in calls}
    t = graph.tensor(out_index)
    out = np.full(t.nbytes, 0x5A, dtype=np.uint8).view(NUMPY_DTYPES[t.dtype]).reshape(t.shape)
    for call in calls:
        arrays = [values[i] for i in call.inputs] + [c.data for c in call.consts]
        host_runtime.run(call.kernel, call.params, arrays, t.shape, NUMPY_DTYPES[t.dtype], out=out)
    return out


def run_calls_ref(graph: Graph, calls: list[KernelCall], values: dict[int, np.ndarray]) -> np.ndarray:
    """The reference executor's loop, passing the output written so far to partial-output kernels."""
    values = dict(values)
    for call in calls:
        args = [values[i] for i in call.inputs] + [c.data for c in call.consts]
        (out_index,) = call.outputs
        kwargs = {"out": values[out_index]} if out_index in values else {}
        out = REFERENCES[call.kernel](call.params, *args, **kwargs)
        t = graph.tensor(out_index)
        values[out_index] = np.asarray(out).astype(NUMPY_DTYPES[t.dtype], copy=False).reshape(t.shape)
    return values[out_index]


# ---------------------------------------------------------------- RESHAPE


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(["int8", "int16", "int32", "float32"]),
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    seed=st.integers(0, 2**31),
    const=st.booleans(),
)
def test_reshape_lowering_and_copy(host_runtime, dtype, shape, seed, const):
    rng = np.random.default_rng(seed)
    x = random_array(rng, tuple(shape), dtype)
    out_shape = (int(x.size),) if len(shape) > 1 else (1, int(x.size))
    quant = Q if dtype == "int8" else None
    tensors = [
        Tensor(0, "x", tuple(shape), dtype, quant, x if const else None),
        Tensor(1, "shape", (len(out_shape),), "int32", None, np.array(out_shape, np.int32)),
        Tensor(2, "y", out_shape, dtype, quant),
    ]
    graph = Graph(tensors, [Operator(0, "RESHAPE", (0, 1), (2,))], () if const else (0,), (2,))
    (call,) = LOWERINGS["RESHAPE"](graph.operators[0], graph)
    assert call.kernel == "copy_bytes" and call.params == CopyBytesParams(x.nbytes)
    assert call.in_place == (not const) and call.inputs == (() if const else (0,))
    values = {} if const else {0: x}
    got = run_calls_c(host_runtime, graph, [call], values)
    np.testing.assert_array_equal(got.reshape(-1).view(np.uint8), x.reshape(-1).view(np.uint8))
    np.testing.assert_array_equal(run_calls_ref(graph, [call], values), x.reshape(out_shape))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**31))
def test_copy_bytes_in_place(host_runtime, n, seed):
    """The planner may give the output the input's bytes: the kernel must leave them intact."""
    x = np.random.default_rng(seed).integers(-128, 128, size=n, dtype=np.int8)
    buf = x.copy()
    host_runtime.run("copy_bytes", CopyBytesParams(n), [buf], (n,), np.int8, out=buf)
    np.testing.assert_array_equal(buf, x)
    # And a copy of 0 bytes touches nothing.
    out = np.full(n, 7, np.int8)
    host_runtime.run("copy_bytes", CopyBytesParams(0), [x], (n,), np.int8, out=out)
    assert (out == 7).all()


def test_reshape_refusals():
    x = Tensor(0, "x", (2, 3), "int8", Q)
    for y, why in [(Tensor(1, "y", (7,), "int8", Q), "elements"), (Tensor(1, "y", (6,), "float32"), "float32")]:
        graph = Graph([x, y], [Operator(0, "RESHAPE", (0,), (1,))], (0,), (1,))
        with pytest.raises(Unsupported, match=why):
            LOWERINGS["RESHAPE"](graph.operators[0], graph)


def test_copy_bytes_ref_checks_size():
    with pytest.raises(ValueError):
        copy_bytes_ref(CopyBytesParams(5), np.zeros(4, np.int8))


# ---------------------------------------------------------------- CONCATENATION


@st.composite
def concat_cases(draw):
    rank = draw(st.integers(1, 4))
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(2, 4))
    dtype = draw(st.sampled_from(["int8", "int8", "int8", "int16", "int32", "float32"]))
    base = [draw(st.integers(1, 4)) for _ in range(rank)]
    extents = [draw(st.integers(1, 4)) for _ in range(n)]
    const = [draw(st.booleans()) for _ in range(n)]
    if all(const):
        const[0] = False
    seed = draw(st.integers(0, 2**31))
    return rank, axis, dtype, base, extents, const, seed


def concat_graph(rank, axis, dtype, base, extents, const, seed):
    rng = np.random.default_rng(seed)
    pos = axis % rank
    # TFLite requires symmetric int16 activations.
    quant = {"int8": Q, "int16": Quantization((0.05,), (0,))}.get(dtype)
    arrays, tensors = [], []
    for i, (e, c) in enumerate(zip(extents, const, strict=True)):
        shape = tuple(e if d == pos else base[d] for d in range(rank))
        a = random_array(rng, shape, dtype)
        arrays.append(a)
        tensors.append(Tensor(i, f"x{i}", shape, dtype, quant, a if c else None))
    out_shape = tuple(sum(extents) if d == pos else base[d] for d in range(rank))
    tensors.append(Tensor(len(extents), "y", out_shape, dtype, quant))
    op = Operator(0, "CONCATENATION", tuple(range(len(extents))), (len(extents),),
                  {"axis": axis, "activation": "NONE"})
    inputs = tuple(i for i, c in enumerate(const) if not c)
    graph = Graph(tensors, [op], inputs, (len(extents),))
    return graph, arrays


@settings(max_examples=80, deadline=None)
@given(concat_cases())
def test_concatenation_matches_numpy(host_runtime, case):
    rank, axis, dtype, base, extents, const, seed = case
    graph, arrays = concat_graph(*case)
    calls = LOWERINGS["CONCATENATION"](graph.operators[0], graph)
    assert len(calls) == len(arrays) and all(c.kernel == "copy_strided" for c in calls)
    for call, c in zip(calls, const, strict=True):
        assert (len(call.consts), len(call.inputs)) == ((1, 0) if c else (0, 1))
    values = {i: a for i, a in enumerate(arrays) if not const[i]}
    expected = np.concatenate(arrays, axis=axis)
    got = run_calls_c(host_runtime, graph, calls, values)
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))
    np.testing.assert_array_equal(run_calls_ref(graph, calls, values).view(np.uint8), expected.view(np.uint8))


def test_concatenation_params_by_hand():
    """[2,3,4] ++ [2,5,4] on axis 1 (int8): rows of 12 and 20 bytes into rows of 32."""
    x0, x1 = Tensor(0, "a", (2, 3, 4), "int8", Q), Tensor(1, "b", (2, 5, 4), "int8", Q)
    y = Tensor(2, "y", (2, 8, 4), "int8", Q)
    graph = Graph([x0, x1, y], [Operator(0, "CONCATENATION", (0, 1), (2,), {"axis": -2, "activation": "NONE"})],
                  (0, 1), (2,))
    calls = LOWERINGS["CONCATENATION"](graph.operators[0], graph)
    assert [c.params for c in calls] == [CopyStridedParams(2, 12, 32, 0), CopyStridedParams(2, 20, 32, 12)]
    assert [(c.inputs, c.outputs) for c in calls] == [((0,), (2,)), ((1,), (2,))]


def test_copy_strided_ref_without_out_is_zero_elsewhere():
    p = CopyStridedParams(outer_count=2, inner_bytes=2, out_row_bytes=5, out_offset=1)
    got = copy_strided_ref(p, np.array([[1, 2], [3, 4]], np.int8))
    np.testing.assert_array_equal(got, [0, 1, 2, 0, 0, 0, 3, 4, 0, 0])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x1_quant": Quantization((0.05,), (-2,))}, r"input 1 quantization .*\(-2,\).* differs .*\(-3,\)"),
        ({"x1_quant": Quantization((0.06,), (-3,))}, r"input 1 quantization .*0\.06"),
        ({"activation": "RELU"}, "fused activation RELU"),
        ({"x1_dtype": "int16"}, "input 1 is int16"),
        ({"axis": 3}, "axis 3"),
        ({"y_extent": 9}, "add up"),
    ],
)
def test_concatenation_refusals(change, message):
    x0 = Tensor(0, "a", (2, 3, 4), "int8", Q)
    x1 = Tensor(1, "b", (2, 5, 4), change.get("x1_dtype", "int8"), change.get("x1_quant", Q))
    y = Tensor(2, "y", (2, change.get("y_extent", 8), 4), "int8", Q)
    op = Operator(0, "CONCATENATION", (0, 1), (2,), {"axis": change.get("axis", 1),
                                                      "activation": change.get("activation", "NONE")})
    graph = Graph([x0, x1, y], [op], (0, 1), (2,))
    with pytest.raises(Unsupported, match=message):
        LOWERINGS["CONCATENATION"](op, graph)


# ---------------------------------------------------------------- TRANSPOSE

ALL_PERMS = [p for r in (2, 3, 4) for p in itertools.permutations(range(r))]


@settings(max_examples=len(ALL_PERMS) * 2, deadline=None)
@given(
    perm=st.sampled_from(ALL_PERMS),
    dims=st.lists(st.integers(1, 6), min_size=4, max_size=4),
    seed=st.integers(0, 2**31),
)
def test_transpose_matches_numpy(host_runtime, perm, dims, seed):
    shape = tuple(dims[: len(perm)])
    x = np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)
    out_shape = tuple(shape[p] for p in perm)
    tensors = [
        Tensor(0, "x", shape, "int8", Q),
        Tensor(1, "perm", (len(perm),), "int32", None, np.array(perm, np.int32)),
        Tensor(2, "y", out_shape, "int8", Q),
    ]
    graph = Graph(tensors, [Operator(0, "TRANSPOSE", (0, 1), (2,))], (0,), (2,))
    (call,) = LOWERINGS["TRANSPOSE"](graph.operators[0], graph)
    expected = np.transpose(x, perm)
    np.testing.assert_array_equal(run_calls_c(host_runtime, graph, [call], {0: x}), expected)
    np.testing.assert_array_equal(run_calls_ref(graph, [call], {0: x}), expected)


def test_every_perm_is_covered():
    """Hypothesis samples perms at random; run each rank-2..4 perm once deterministically as well."""
    assert len(ALL_PERMS) == 2 + 6 + 24


@pytest.mark.parametrize("perm", ALL_PERMS)
def test_transpose_each_perm(host_runtime, perm):
    shape = (2, 3, 4, 5)[: len(perm)]
    x = np.arange(math.prod(shape), dtype=np.int64).astype(np.int8).reshape(shape)
    p = transpose_params(shape, perm)
    got = host_runtime.run("transpose_s8", p, [x], p.out_shape, np.int8)
    np.testing.assert_array_equal(got.reshape(np.transpose(x, perm).shape), np.transpose(x, perm))
    np.testing.assert_array_equal(transpose_s8_ref(p, x).reshape(got.shape), got)


def test_transpose_refusals():
    def graph_with(perm_data, shape=(1, 2, 3), out_shape=(1, 3, 2)):
        tensors = [
            Tensor(0, "x", shape, "int8", Q),
            Tensor(1, "perm", (len(shape),), "int32", None, perm_data),
            Tensor(2, "y", out_shape, "int8", Q),
        ]
        return Graph(tensors, [Operator(0, "TRANSPOSE", (0, 1), (2,))], (0,), (2,))

    for graph, message in [
        (graph_with(None), "non-constant"),
        (graph_with(np.array([0, 1, 1], np.int32)), "not a permutation"),
        (graph_with(np.array([0, 1, 2], np.int32)), "output shape"),
        (graph_with(np.arange(5, dtype=np.int32), (1,) * 5, (1,) * 5), "rank-5"),
    ]:
        with pytest.raises(Unsupported, match=message):
            LOWERINGS["TRANSPOSE"](graph.operators[0], graph)


# ---------------------------------------------------------------- against TFLite on real models


def run_tflite_all_tensors(path, inputs: list[np.ndarray]):
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    for detail, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(detail["index"], x.astype(detail["dtype"]).reshape(detail["shape"]))
    it.invoke()
    return it


@pytest.mark.parametrize(
    "model", ["tinyengine_mcunet_vww", "tinyengine_mnist_lenet300_100", "tflm_test_conv_model"]
)
def test_movement_ops_match_tflite_intermediates(shared_models, host_runtime, model):
    """Feed the golden input; each RESHAPE/TRANSPOSE's kernels on the runtime's input give its output."""
    graph = read_tflite(shared_models / f"{model}.tflite")
    vectors = np.load(shared_models / "vectors" / f"{model}.npz")
    it = run_tflite_all_tensors(shared_models / f"{model}.tflite", [vectors["in0"]])
    checked = 0
    for op in graph.operators:
        if op.op_type not in LOWERINGS:
            continue
        calls = LOWERINGS[op.op_type](op, graph)
        values = {i: it.get_tensor(i) for c in calls for i in c.inputs}
        truth = it.get_tensor(op.outputs[0])
        np.testing.assert_array_equal(run_calls_ref(graph, calls, values), truth)
        np.testing.assert_array_equal(run_calls_c(host_runtime, graph, calls, values), truth)
        checked += 1
    expected_ops = {"tinyengine_mcunet_vww": 1, "tinyengine_mnist_lenet300_100": 1, "tflm_test_conv_model": 1}
    assert checked == expected_ops[model]


# ---------------------------------------------------------------- against TFLite: single-op models
# No shared model concatenates, so CONCATENATION (and every TRANSPOSE perm) is checked on written models.


@pytest.fixture(scope="module")
def write_tflite():
    writer = pytest.importorskip("codegen.frontend.tflite_writer",
                                 reason="codegen.frontend.tflite_writer (model writer) is absent")
    return writer.write_tflite


def run_both_runtimes(buf: bytes, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=buf, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for detail, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(detail["index"], x)
    it.invoke()
    micro = runtime.Interpreter.from_bytes(buf, arena_size=65536)
    for i, x in enumerate(inputs):
        micro.set_input(x, i)
    micro.invoke()
    return {"tflite": it.get_tensor(it.get_output_details()[0]["index"]), "tflm": micro.get_output(0)}


@settings(max_examples=20, deadline=None)
@given(concat_cases())
def test_concatenation_matches_tflite_and_tflm(write_tflite, host_runtime, case):
    rank, axis, dtype, base, extents, const, seed = case
    graph, arrays = concat_graph(*case)
    calls = LOWERINGS["CONCATENATION"](graph.operators[0], graph)
    values = {i: a for i, a in enumerate(arrays) if not const[i]}
    ours = run_calls_c(host_runtime, graph, calls, values)
    for name, truth in run_both_runtimes(write_tflite(graph), [values[i] for i in graph.inputs]).items():
        np.testing.assert_array_equal(ours.view(np.uint8), truth.view(np.uint8), err_msg=name)


@pytest.mark.parametrize("perm", ALL_PERMS)
def test_transpose_matches_tflite_and_tflm(write_tflite, host_runtime, perm):
    shape = (2, 3, 4, 5)[: len(perm)]
    x = np.random.default_rng(len(perm)).integers(-128, 128, size=shape, dtype=np.int8)
    tensors = [
        Tensor(0, "x", shape, "int8", Q),
        Tensor(1, "perm", (len(perm),), "int32", None, np.array(perm, np.int32)),
        Tensor(2, "y", tuple(shape[p] for p in perm), "int8", Q),
    ]
    graph = Graph(tensors, [Operator(0, "TRANSPOSE", (0, 1), (2,))], (0,), (2,))
    (call,) = LOWERINGS["TRANSPOSE"](graph.operators[0], graph)
    ours = run_calls_c(host_runtime, graph, [call], {0: x})
    for name, truth in run_both_runtimes(write_tflite(graph), [x]).items():
        np.testing.assert_array_equal(ours, truth, err_msg=name)
