"""STRIDED_SLICE (any element type) and PAD int16: C against the NumPy reference, the reference against TFLite
Micro and tflite-runtime (BUILTIN_REF) on generated single-op models: ranks 1-4, negative indices and strides,
begin / end / shrink_axis masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.movement.strided_slice import resolve_axis
from tests.support.op_check import check_single_op
from tests.support.single_op import lower

QUANT = {"int8": Quantization((0.05,), (3,)), "int16": Quantization((0.001,), (0,))}


def _values(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def slice_graph(x_shape, dtype, begin, end, strides, masks) -> Graph:
    rank = len(x_shape)
    tensors = [Tensor(0, "x", tuple(x_shape), dtype, QUANT.get(dtype))]
    for i, (name, v) in enumerate((("begin", begin), ("end", end), ("strides", strides)), start=1):
        tensors.append(Tensor(i, name, (rank,), "int32", None, np.asarray(v, dtype=np.int32)))
    out_shape = []
    for axis in range(rank):
        shrink = bool(masks["shrink_axis_mask"] >> axis & 1)
        _, count = resolve_axis(x_shape[axis], begin[axis], end[axis], strides[axis],
                                bool(masks["begin_mask"] >> axis & 1), bool(masks["end_mask"] >> axis & 1), shrink)
        if not shrink:
            out_shape.append(count)
    tensors.append(Tensor(4, "y", tuple(out_shape), dtype, QUANT.get(dtype)))
    op = Operator(0, "STRIDED_SLICE", (0, 1, 2, 3), (4,), {**masks, "ellipsis_mask": 0, "new_axis_mask": 0})
    return Graph(tensors, [op], (0,), (4,), name="strided_slice")


@st.composite
def slices(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 6)) for _ in range(rank)]
    begin, end, strides = [], [], []
    masks = {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0}
    for axis, size in enumerate(shape):
        if draw(st.integers(0, 4)) == 0:  # shrink: one valid index, forward (TFLM's only well-defined case)
            masks["shrink_axis_mask"] |= 1 << axis
            begin.append(draw(st.integers(-size, size - 1)))
            end.append(draw(st.integers(-8, 8)))  # ignored
            strides.append(1)
            continue
        strides.append(draw(st.sampled_from((1, 1, 2, 3, -1, -2))))
        begin.append(draw(st.integers(-size - 2, size + 2)))
        end.append(draw(st.integers(-size - 2, size + 2)))
        masks["begin_mask"] |= draw(st.integers(0, 1)) << axis
        masks["end_mask"] |= draw(st.integers(0, 1)) << axis
    return shape, begin, end, strides, masks


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=slices(), dtype=st.sampled_from(("int8", "int16", "int32", "float32")), seed=st.integers(0, 2**32 - 1))
def test_strided_slice_matches_tflm_and_tflite(host_runtime, case, dtype, seed):
    shape, begin, end, strides, masks = case
    graph = slice_graph(shape, dtype, begin, end, strides, masks)
    assume(graph.tensor(4).size > 0)  # TFLM cannot allocate an empty output
    x = _values(np.random.default_rng(seed), shape, dtype)
    out = check_single_op(host_runtime, graph, [x])
    # The slice is NumPy basic indexing, written out independently of the lowering.
    index = tuple(begin[a] + shape[a] if masks["shrink_axis_mask"] >> a & 1 and begin[a] < 0 else
                  begin[a] if masks["shrink_axis_mask"] >> a & 1 else
                  slice(None if masks["begin_mask"] >> a & 1 else begin[a],
                        None if masks["end_mask"] >> a & 1 else end[a], strides[a]) for a in range(len(shape)))
    np.testing.assert_array_equal(out, x[index])


def test_seanet_style_slice_takes_the_last_rows():
    graph = slice_graph((1, 8, 5, 2), "int16", [0, -6, 0, 0], [0, 0, 0, 2], [1, 1, 1, 1],
                        {"begin_mask": 0b1101, "end_mask": 0b1111, "shrink_axis_mask": 0})
    (call,) = lower(graph)
    assert (call.params.start_d1, call.params.count_d1, call.params.elem_bytes) == (2, 6, 2)


def test_offset_tflm_ignores_is_refused():
    graph = slice_graph((2, 3), "int8", [0, 0], [2, 3], [1, 1], {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0})
    graph.operators[0].options["offset"] = True
    with pytest.raises(Unsupported, match="offset"):
        lower(graph)


def spec_graph(x_shape, dtype, spec, out_shape) -> Graph:
    """A slice written as a list of entries: "..." (ellipsis), None (new axis), an int (shrink) or a slice."""
    begin, end, strides = [], [], []
    masks = dict.fromkeys(("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"), 0)
    for i, entry in enumerate(spec):
        b, e, st_ = 0, 0, 1
        if entry == "...":
            masks["ellipsis_mask"] |= 1 << i
        elif entry is None:
            masks["new_axis_mask"] |= 1 << i
        elif isinstance(entry, int):
            masks["shrink_axis_mask"] |= 1 << i
            b, e = entry, entry + 1
        else:
            st_ = entry.step or 1
            b, e = entry.start or 0, entry.stop or 0
            masks["begin_mask"] |= (entry.start is None) << i
            masks["end_mask"] |= (entry.stop is None) << i
        begin.append(b)
        end.append(e)
        strides.append(st_)
    rank = len(spec)
    tensors = [Tensor(0, "x", tuple(x_shape), dtype, QUANT.get(dtype))]
    for i, (name, v) in enumerate((("begin", begin), ("end", end), ("strides", strides)), start=1):
        tensors.append(Tensor(i, name, (rank,), "int32", None, np.asarray(v, dtype=np.int32)))
    tensors.append(Tensor(4, "y", tuple(out_shape), dtype, QUANT.get(dtype)))
    op = Operator(0, "STRIDED_SLICE", (0, 1, 2, 3), (4,), {**masks, "offset": False})
    return Graph(tensors, [op], (0,), (4,), name="strided_slice_spec")


@st.composite
def specs(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    consuming = draw(st.integers(0, rank))
    entries: list = []
    for axis in range(consuming):
        size = shape[axis]  # with the ellipsis first, these may land on later axes: indices stay in range anyway
        if draw(st.integers(0, 3)) == 0:
            entries.append(draw(st.integers(-min(shape), min(shape) - 1)))
        else:
            step = draw(st.sampled_from((1, 2, -1)))
            entries.append(slice(draw(st.one_of(st.none(), st.integers(-size - 1, size + 1))),
                                 draw(st.one_of(st.none(), st.integers(-size - 1, size + 1))), step))
    for _ in range(draw(st.integers(0, 5 - rank))):  # at most rank 5 out
        entries.insert(draw(st.integers(0, len(entries))), None)
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), "...")
    assume(entries)
    return shape, entries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=specs(), seed=st.integers(0, 2**32 - 1))
def test_ellipsis_and_new_axis_follow_tflite(host_runtime, case, seed):
    """TFLite Micro refuses these models (it zeroes both masks); TFLite and NumPy indexing define them."""
    shape, spec = case
    x = _values(np.random.default_rng(seed), shape, "int16")
    want = x[tuple(Ellipsis if e == "..." else e for e in spec)]
    assume(want.size > 0)
    graph = spec_graph(shape, "int16", spec, want.shape)
    try:
        (call,) = lower(graph)
    except Unsupported as exc:  # only the ambiguous readings may be refused
        assert "TFLite Micro ignores" in str(exc) or "stands for no axis" in str(exc), exc
        return
    out = check_single_op(host_runtime, graph, [x], ("tflite",))
    np.testing.assert_array_equal(out, want)


def test_a_spec_tflm_would_read_differently_is_refused():
    # x[None, 0:2] on a (3, 2) input: TFLite gives (1, 2, 2); TFLM, ignoring the new axis, reads begin/end as
    # [0:0, 0:2] on axes 0 and 1 and would compute a (0, 2) output: it refuses, so TFLite's meaning stands.
    graph = spec_graph((3, 2), "int8", [None, slice(0, 2)], (1, 2, 2))
    (call,) = lower(graph)
    assert (call.params.count_d2, call.params.count_d3) == (2, 2)


def test_shrinking_past_the_end_is_refused():
    graph = slice_graph((2, 3), "int8", [0, 0], [2, 3], [1, 1], {"begin_mask": 0, "end_mask": 0, "shrink_axis_mask": 0})
    graph.operators[0].options["shrink_axis_mask"] = 1
    graph.tensors[1].data = np.asarray([5, 0], dtype=np.int32)
    graph.tensors[4].shape = (3,)
    with pytest.raises(Unsupported, match="shrinking axis 0"):
        lower(graph)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_pad_int16_matches_tflm_and_tflite(host_runtime, shape, data, seed):
    pads = [[data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))] for _ in shape]
    out_shape = tuple(d + a + b for d, (a, b) in zip(shape, pads, strict=True))
    q = Quantization((0.002,), (0,))
    graph = Graph([Tensor(0, "x", tuple(shape), "int16", q),
                   Tensor(1, "pads", (len(shape), 2), "int32", None, np.asarray(pads, dtype=np.int32)),
                   Tensor(2, "y", out_shape, "int16", q)],
                  [Operator(0, "PAD", (0, 1), (2,))], (0,), (2,), name="pad16")
    (call,) = lower(graph)
    assert call.kernel == "pad_s16"
    x = _values(np.random.default_rng(seed), shape, "int16")
    out = check_single_op(host_runtime, graph, [x])
    np.testing.assert_array_equal(out, np.pad(x, pads))
