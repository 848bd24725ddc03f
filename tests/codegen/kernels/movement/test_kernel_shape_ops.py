"""SLICE, SPLIT, SPLIT_V, UNPACK, PACK, GATHER, SQUEEZE, EXPAND_DIMS, DEPTH_TO_SPACE and SPACE_TO_DEPTH.

Each case is a one-op graph lowered through the kernel registry: the C kernels (host build) against the NumPy
reference executor, and the reference against tflite-runtime (BUILTIN_REF) and TFLite Micro on the same graph
written with codegen.frontend.tflite_writer. The byte-moving kernels take int16, int32 and float32 too (checked
against tflite-runtime); TFLite Micro is asked about int8.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.movement.slice_split import box_params, slice_bytes_ref
from tests.support.single_op import assert_same, lower, run_c, run_ref, run_tflite, run_tflm

Q8 = Quantization((0.05,), (-3,))
Q16 = Quantization((0.002,), (0,))  # TFLite wants symmetric int16
DTYPES = ("int8", "int8", "int8", "int16", "int32", "float32")
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def quant(dtype: str) -> Quantization | None:
    return {"int8": Q8, "int16": Q16}.get(dtype)


def random_array(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(NUMPY_DTYPES[dtype])
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(NUMPY_DTYPES[dtype])


class Builder:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []

    def add(self, name: str, shape: tuple[int, ...], dtype: str, data: np.ndarray | None = None,
            q: bool = True) -> int:
        i = len(self.tensors)
        self.tensors.append(Tensor(i, name, tuple(int(d) for d in shape), dtype, quant(dtype) if q else None, data))
        return i

    def const(self, name: str, values, dtype: str = "int32") -> int:
        arr = np.asarray(values, dtype=NUMPY_DTYPES[dtype])
        return self.add(name, arr.shape, dtype, arr, q=False)

    def graph(self, op_type: str, ins: tuple[int, ...], outs: tuple[int, ...], graph_inputs: tuple[int, ...],
              **options) -> Graph:
        return Graph(list(self.tensors), [Operator(0, op_type, ins, outs, options)], graph_inputs, outs,
                     name=op_type.lower())


def shape_of(draw, min_rank: int = 1, max_rank: int = 4, max_dim: int = 5) -> tuple[int, ...]:
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(1, max_dim)) for _ in range(rank))


# ---------------------------------------------------------------- cases: (graph, inputs)


@st.composite
def slice_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = shape_of(draw)
    begin = [draw(st.integers(0, d - 1)) for d in shape]
    size = [draw(st.integers(1, d - b)) for d, b in zip(shape, begin, strict=True)]
    out = tuple(size)
    size = [-1 if draw(st.integers(0, 4)) == 0 and b + s == d else s
            for d, b, s in zip(shape, begin, size, strict=True)]
    b = Builder()
    x = b.add("x", shape, dtype)
    ins = (x, b.const("begin", begin), b.const("size", size))
    y = b.add("y", out, dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("SLICE", ins, (y,), (x,)), [random_array(rng, shape, dtype)]


def _split_outputs(b: Builder, shape, axis: int, extents, dtype, keep: bool = True) -> tuple[int, ...]:
    outs = []
    for i, e in enumerate(extents):
        s = list(shape)
        if keep:
            s[axis] = e
        else:
            del s[axis]
        outs.append(b.add(f"y{i}", tuple(s), dtype))
    return tuple(outs)


@st.composite
def split_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = list(shape_of(draw))
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(1, 3))
    shape[axis] = n * draw(st.integers(1, 3))
    b = Builder()
    a = b.const("axis", [axis])
    x = b.add("x", tuple(shape), dtype)
    outs = _split_outputs(b, shape, axis % rank, [shape[axis] // n] * n, dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("SPLIT", (a, x), outs, (x,), num_splits=n), [random_array(rng, tuple(shape), dtype)]


@st.composite
def split_v_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = list(shape_of(draw))
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    extents = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    shape[axis] = sum(extents)
    sizes = list(extents)
    if draw(st.booleans()):
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    b = Builder()
    x = b.add("x", tuple(shape), dtype)
    ins = (x, b.const("size_splits", sizes), b.const("axis", [axis]))
    outs = _split_outputs(b, shape, axis % rank, extents, dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("SPLIT_V", ins, outs, (x,), num_splits=len(extents)), [random_array(rng, tuple(shape), dtype)]


@st.composite
def unpack_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = shape_of(draw, min_rank=2)
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    b = Builder()
    x = b.add("x", shape, dtype)
    outs = _split_outputs(b, shape, axis % rank, [1] * shape[axis], dtype, keep=False)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("UNPACK", (x,), outs, (x,), num=shape[axis], axis=axis), [random_array(rng, shape, dtype)]


@st.composite
def pack_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = shape_of(draw, min_rank=0, max_rank=3)
    n = draw(st.integers(1, 3))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    const = [draw(st.booleans()) for _ in range(n)]
    const[draw(st.integers(0, n - 1))] = False  # at least one runtime input
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    arrays = [random_array(rng, shape, dtype) for _ in range(n)]
    b = Builder()
    xs = tuple(b.add(f"x{i}", shape, dtype, a if c else None)
               for i, (a, c) in enumerate(zip(arrays, const, strict=True)))
    pos = axis % (len(shape) + 1)
    y = b.add("y", shape[:pos] + (n,) + shape[pos:], dtype)
    graph = b.graph("PACK", xs, (y,), tuple(x for x, c in zip(xs, const, strict=True) if not c), values_count=n,
                    axis=axis)
    return graph, [a for a, c in zip(arrays, const, strict=True) if not c]


@st.composite
def gather_cases(draw, dtype=None, index_dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    index_dtype = index_dtype or draw(st.sampled_from(["int32", "int16"]))
    shape = shape_of(draw, max_rank=3)
    rank = len(shape)
    axis = draw(st.integers(-rank, rank - 1))
    idx_shape = shape_of(draw, min_rank=0, max_rank=2, max_dim=4)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    idx = rng.integers(0, shape[axis], size=idx_shape).astype(NUMPY_DTYPES[index_dtype])
    data = random_array(rng, shape, dtype)
    which = draw(st.sampled_from(["both", "const_indices", "const_data"]))
    b = Builder()
    x = b.add("data", shape, dtype, data if which == "const_data" else None)
    i = b.add("indices", idx_shape, index_dtype, idx if which == "const_indices" else None, q=False)
    pos = axis % rank
    y = b.add("y", shape[:pos] + idx_shape + shape[pos + 1 :], dtype)
    runtime = tuple(t for t, c in ((x, which == "const_data"), (i, which == "const_indices")) if not c)
    values = {x: data, i: idx}
    return b.graph("GATHER", (x, i), (y,), runtime, axis=axis, batch_dims=0), [values[t] for t in runtime]


@st.composite
def squeeze_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = tuple(d if draw(st.booleans()) else 1 for d in shape_of(draw, max_rank=5))
    units = [d for d in range(len(shape)) if shape[d] == 1]
    dims = draw(st.lists(st.sampled_from(units), unique=True)) if units and draw(st.booleans()) else []
    dims = [d - len(shape) if draw(st.booleans()) else d for d in dims]
    drop = {d % len(shape) for d in dims} if dims else set(units)
    b = Builder()
    x = b.add("x", shape, dtype)
    y = b.add("y", tuple(n for d, n in enumerate(shape) if d not in drop), dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("SQUEEZE", (x,), (y,), (x,), squeeze_dims=tuple(dims)), [random_array(rng, shape, dtype)]


@st.composite
def expand_dims_cases(draw, dtype=None):
    dtype = dtype or draw(st.sampled_from(DTYPES))
    shape = shape_of(draw, min_rank=0, max_rank=3)
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    pos = axis + len(shape) + 1 if axis < 0 else axis
    b = Builder()
    x = b.add("x", shape, dtype)
    a = b.const("axis", [axis])
    y = b.add("y", shape[:pos] + (1,) + shape[pos:], dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph("EXPAND_DIMS", (x, a), (y,), (x,)), [random_array(rng, shape, dtype)]


@st.composite
def space_depth_cases(draw, dtype=None):
    op = draw(st.sampled_from(["DEPTH_TO_SPACE", "SPACE_TO_DEPTH"]))
    block = draw(st.integers(1, 3))
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if op == "DEPTH_TO_SPACE":
        in_shape, out_shape = (n, h, w, c * block * block), (n, h * block, w * block, c)
    else:
        in_shape, out_shape = (n, h * block, w * block, c), (n, h, w, c * block * block)
    b = Builder()
    x = b.add("x", in_shape, "int8")
    y = b.add("y", out_shape, "int8")
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return b.graph(op, (x,), (y,), (x,), block_size=block), [random_array(rng, in_shape, "int8")]


CASES = {
    "SLICE": slice_cases,
    "SPLIT": split_cases,
    "SPLIT_V": split_v_cases,
    "UNPACK": unpack_cases,
    "PACK": pack_cases,
    "GATHER": gather_cases,
    "SQUEEZE": squeeze_cases,
    "EXPAND_DIMS": expand_dims_cases,
    "SPACE_DEPTH": space_depth_cases,
}


def numpy_truth(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """What the op means, written with plain NumPy (independent of the byte-box arithmetic)."""
    op = graph.operators[0]
    env = dict(zip(graph.inputs, inputs, strict=True))
    arg = [env.get(i, graph.tensor(i).data) for i in op.inputs]
    kind = op.op_type
    if kind == "SLICE":
        size = [d - b if s == -1 else s for d, b, s in zip(arg[0].shape, arg[1], arg[2], strict=True)]
        return [arg[0][tuple(slice(b, b + s) for b, s in zip(arg[1], size, strict=True))]]
    if kind in ("SPLIT", "SPLIT_V", "UNPACK"):
        x = arg[1] if kind == "SPLIT" else arg[0]
        axis_arg = {"SPLIT": arg[0], "SPLIT_V": arg[-1]}.get(kind, op.options.get("axis"))
        axis = int(np.asarray(axis_arg).reshape(-1)[0])
        ext = [graph.tensor(o).shape[axis % x.ndim] if kind != "UNPACK" else 1 for o in op.outputs]
        parts = np.split(x, np.cumsum(ext)[:-1], axis=axis)
        return [np.squeeze(p, axis=axis) if kind == "UNPACK" else p for p in parts]
    if kind == "PACK":
        return [np.stack(arg, axis=op.options["axis"])]
    if kind == "GATHER":
        return [np.take(arg[0], arg[1].astype(np.int64), axis=op.options["axis"])]
    if kind in ("SQUEEZE", "EXPAND_DIMS"):
        return [arg[0].reshape(graph.tensor(op.outputs[0]).shape)]
    block = op.options["block_size"]
    n, h, w, c = arg[0].shape
    if kind == "DEPTH_TO_SPACE":
        t = arg[0].reshape(n, h, w, block, block, c // block**2).transpose(0, 1, 3, 2, 4, 5)
        return [t.reshape(n, h * block, w * block, c // block**2)]
    t = arg[0].reshape(n, h // block, block, w // block, block, c).transpose(0, 1, 3, 2, 4, 5)
    return [t.reshape(n, h // block, w // block, c * block * block)]


# ---------------------------------------------------------------- C == reference == NumPy's meaning


@pytest.mark.parametrize("kind", list(CASES))
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_c_matches_reference(host_runtime, kind, data):
    graph, inputs = data.draw(CASES[kind]())
    expected = run_ref(graph, inputs)
    assert_same(run_c(host_runtime, graph, inputs), expected, "C vs reference")
    assert_same(expected, numpy_truth(graph, inputs), "reference vs NumPy")


@pytest.mark.parametrize("kind", list(CASES))
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_alias_offset_names_the_output_bytes(kind, data):
    """Whenever a call says its output is its input's bytes at an offset, it is; pure reshapes always say so."""
    graph, inputs = data.draw(CASES[kind]())
    outputs = dict(zip(graph.outputs, run_ref(graph, inputs), strict=True))
    env = dict(zip(graph.inputs, inputs, strict=True))
    for call in lower(graph):
        if call.alias_offset is None:
            assert kind not in ("SQUEEZE", "EXPAND_DIMS") or not call.inputs
            continue
        src = np.ascontiguousarray(env[call.inputs[0]]).reshape(-1).view(np.uint8)
        out = np.ascontiguousarray(outputs[call.outputs[0]]).reshape(-1).view(np.uint8)
        np.testing.assert_array_equal(src[call.alias_offset : call.alias_offset + out.size], out)


def test_outermost_split_and_unpack_are_aliases():
    b = Builder()
    a = b.const("axis", [1])
    x = b.add("x", (1, 6, 4, 8), "int8")
    outs = _split_outputs(b, (1, 6, 4, 8), 1, [2, 2, 2], "int8")
    graph = b.graph("SPLIT", (a, x), outs, (x,), num_splits=3)
    assert [c.alias_offset for c in lower(graph)] == [0, 64, 128]
    # Along an inner axis the pieces interleave: copies.
    b = Builder()
    x = b.add("x", (1, 6, 4, 8), "int8")
    outs = _split_outputs(b, (1, 6, 4, 8), 3, [4, 4], "int8")
    graph = b.graph("SPLIT", (b.const("axis", [3]), x), outs, (x,), num_splits=2)
    assert [c.alias_offset for c in lower(graph)] == [None, None]
    # UNPACK of the outermost axis, and SQUEEZE: views too.
    b = Builder()
    x = b.add("x", (3, 16), "int8")
    graph = b.graph("UNPACK", (x,), _split_outputs(b, (3, 16), 0, [1, 1, 1], "int8", keep=False), (x,), num=3, axis=0)
    assert [c.alias_offset for c in lower(graph)] == [0, 16, 32]


# ---------------------------------------------------------------- reference == TFLite


@pytest.mark.parametrize("kind", list(CASES))
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_reference_matches_tflite(kind, data):
    graph, inputs = data.draw(CASES[kind]())
    assert_same(run_ref(graph, inputs), run_tflite(graph, inputs), "reference vs tflite-runtime BUILTIN_REF")


@pytest.mark.parametrize("kind", list(CASES))
@settings(max_examples=10, **SETTINGS)
@given(data=st.data())
def test_reference_matches_tflm_int8(kind, data):
    kwargs = {"index_dtype": "int32"} if kind == "GATHER" else {}
    graph, inputs = data.draw(CASES[kind](dtype="int8", **kwargs))
    assert_same(run_ref(graph, inputs), run_tflm(graph, inputs), "reference vs TFLite Micro")


# ---------------------------------------------------------------- box arithmetic and refusals


def test_box_params_merge_axes():
    # A whole row of a [2, 3, 4] int16 tensor: one contiguous run of 8 bytes at byte 24 + 8.
    p, off = box_params((2, 3, 4), (1, 1, 0), (1, 1, 4), 2)
    assert (p.in_shape[-1], p.out_shape, off) == (48, (1, 1, 1, 8), 32)
    # Columns 1..2 of every row: strided, not an alias.
    p, off = box_params((2, 3, 4), (0, 0, 1), (2, 3, 2), 1)
    assert off is None and p.out_shape == (1, 1, 6, 2)
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    np.testing.assert_array_equal(slice_bytes_ref(p, x).reshape(2, 3, 2), x[:, :, 1:3])


def test_five_axes_that_do_not_merge_are_refused():
    with pytest.raises(Unsupported, match="5 axes"):
        box_params((3, 3, 3, 3, 3), (1, 1, 1, 1, 1), (2, 2, 2, 2, 2), 1)


@pytest.mark.parametrize(
    ("op_type", "change", "message"),
    [
        ("GATHER", {"batch_dims": 1}, "batch_dims 1"),
        ("GATHER", {"index_dtype": "int64"}, "int64 indices"),
        ("GATHER", {"bad_index": True}, "index 7 outside"),
        ("SLICE", {"begin": [0, 3]}, "outside the input"),
        ("SQUEEZE", {"squeeze_dims": (1,)}, "not all of extent 1"),
        ("DEPTH_TO_SPACE", {"dtype": "float32"}, "only int8"),
        ("SPLIT", {"n": 4}, "equal parts"),
    ],
)
def test_refusals(op_type, change, message):
    dtype = change.get("dtype", "int8")
    b = Builder()
    if op_type == "GATHER":
        x = b.add("x", (3, 4), dtype)
        idx_dtype = change.get("index_dtype", "int32")
        i = b.add("i", (2,), idx_dtype, np.array([0, 7 if change.get("bad_index") else 1], NUMPY_DTYPES[idx_dtype]),
                  q=False)
        graph = b.graph("GATHER", (x, i), (b.add("y", (2, 4), dtype),), (x,), axis=0,
                        batch_dims=change.get("batch_dims", 0))
    elif op_type == "SLICE":
        x = b.add("x", (2, 4), dtype)
        ins = (x, b.const("begin", change["begin"]), b.const("size", [2, 2]))
        graph = b.graph("SLICE", ins, (b.add("y", (2, 2), dtype),), (x,))
    elif op_type == "SQUEEZE":
        x = b.add("x", (1, 2), dtype)
        graph = b.graph("SQUEEZE", (x,), (b.add("y", (1,), dtype),), (x,), squeeze_dims=change["squeeze_dims"])
    elif op_type == "DEPTH_TO_SPACE":
        x = b.add("x", (1, 1, 1, 4), dtype)
        graph = b.graph("DEPTH_TO_SPACE", (x,), (b.add("y", (1, 2, 2, 1), dtype),), (x,), block_size=2)
    else:
        x = b.add("x", (1, 6), dtype)
        outs = tuple(b.add(f"y{k}", (1, 6 // change["n"] or 1), dtype) for k in range(change["n"]))
        graph = b.graph("SPLIT", (b.const("axis", [1]), x), outs, (x,), num_splits=change["n"])
    with pytest.raises(Unsupported, match=message):
        lower(graph)


def test_pack_and_unpack_round_trip_sizes():
    """PACK's strided slots: each input lands at inner * i of every output row."""
    b = Builder()
    xs = tuple(b.add(f"x{i}", (2, 3), "int8") for i in range(3))
    graph = b.graph("PACK", xs, (b.add("y", (2, 3, 3), "int8"),), xs, values_count=3, axis=1)
    calls = lower(graph)
    assert [(c.params.outer_count, c.params.inner_bytes, c.params.out_row_bytes, c.params.out_offset)
            for c in calls] == [(2, 3, 9, 0), (2, 3, 9, 3), (2, 3, 9, 6)]
    assert math.prod(graph.tensor(graph.outputs[0]).shape) == 18


@pytest.mark.parametrize("kind", list(CASES))
@settings(max_examples=5, **SETTINGS)
@given(data=st.data())
def test_options_survive_write_and_read(kind, data):
    from codegen.frontend.tflite_reader import parse_tflite
    from codegen.frontend.tflite_writer import write_tflite

    graph, _ = data.draw(CASES[kind]())
    (op,) = parse_tflite(write_tflite(graph)).operators
    assert (op.op_type, op.inputs, op.outputs) == (graph.operators[0].op_type, graph.operators[0].inputs,
                                                   graph.operators[0].outputs)
    assert op.options == graph.operators[0].options
