"""Leading ops converters put before the first convolution, in stage 1: a RESHAPE of the model input (flat or
row-flattened input, and RESHAPE + layout TRANSPOSE of a flat NCHW input) is folded into the way stage 1 reads
its input, held and streamed, bit-exact with per-layer execution and TFLite Micro; DEQUANTIZE + QUANTIZE and
CAST run in the bands; what cannot be folded is named by `stage1_limit` with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.converted_form import as_reshaped
from codegen.memory.planner import plan_memory
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import expand, expand_cached, split_points, stage1_limit
from codegen.schedule.search import NoScheduleFits, choose
from tests.support.patch_op_models import int8_model
from tests.support.single_op import run_tflm

BASE = int8_model("RELU")  # conv 3x3 -> RELU -> depthwise 3x3 s2 -> max pool, input 1x24x16x4


def _model(form: str):
    graph = fuse_pads(as_reshaped(BASE, form))
    return graph, lower_graph(graph)


def _input(graph, seed: int = 1) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return rng.uniform(-3.5, 3.5, size=t.shape).astype(np.float32)
    info = np.iinfo(t.dtype)
    return rng.integers(max(info.min, -300), min(info.max, 300), size=t.shape, endpoint=True).astype(t.dtype)


def _schedules(graph, calls, split):
    return {"patches 2x2": expand(graph, calls, split, (2, 2)),
            "held bands 4x2": expand_cached(graph, calls, split, 4, 2),
            "held bands 6x1": expand_cached(graph, calls, split, 6, 1),  # views of the reshape: on the input
            "streamed bands 4x2": expand_cached(graph, calls, split, 4, 2, stream_input=True),
            "streamed bands 12x1": expand_cached(graph, calls, split, 12, 1, stream_input=True)}


@pytest.mark.parametrize("form", ["flat", "rows", "flat_nchw", "float_flat"])
def test_folded_reshape_matches_per_layer_and_tflm_held_and_streamed(form):
    graph, calls = _model(form)
    assert calls[0].kernel == "copy_bytes" and len(graph.tensor(graph.inputs[0]).shape) < 4
    points = split_points(graph, calls)
    assert points and points[0] == 1 and stage1_limit(graph, calls) is None  # the reshape ends nothing
    x = _input(graph)
    expected = run_reference(graph, [x], calls)[0]
    np.testing.assert_array_equal(run_tflm(graph, [x])[0], expected)
    reader = "read_input_planar" if form == "flat_nchw" else "read_input_window"
    for split in (points[0], points[-1]):
        for name, (g, c) in _schedules(graph, calls, split).items():
            np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=f"{name} at {split}")
            plan = plan_memory(g, c)
            copies = [k for k, call in enumerate(c) if call.kernel == "copy_bytes"]
            if g.streamed_inputs:  # the reshape is never run: its rows are read at their offsets in the input
                assert not copies and graph.inputs[0] not in plan.tensor_offsets, name
                assert {call.inputs for call in c if call.kernel == reader} == {(graph.inputs[0],)}, name
            else:  # run once, whole, and aliased away by the planner as per layer
                assert len(copies) == 1 and set(copies) <= plan.elided_calls, name


@pytest.mark.parametrize("form", ["flat", "rows"])
def test_folded_reshape_costs_no_sram(form):
    """The same schedules on the NHWC model and on its reshaped-input twin plan the same arena."""
    graph, calls = _model(form)
    nhwc = fuse_pads(BASE)
    nhwc_calls = lower_graph(nhwc)
    for split, nhwc_split in zip(split_points(graph, calls), split_points(nhwc, nhwc_calls), strict=True):
        ours, theirs = _schedules(graph, calls, split), _schedules(nhwc, nhwc_calls, nhwc_split)
        for name in ours:
            assert plan_memory(*ours[name]).arena_bytes == plan_memory(*theirs[name]).arena_bytes, (name, split)


@pytest.mark.parametrize("stream", [False, True])
def test_search_on_a_flat_input_finds_the_nhwc_models_schedule(stream):
    nhwc = fuse_pads(BASE)
    nhwc_calls = lower_graph(nhwc)
    graph, calls = _model("flat")
    with pytest.raises(NoScheduleFits) as refused:
        choose(nhwc, nhwc_calls, 1_000, stream_input=stream)
    budget = refused.value.smallest.peak_sram_bytes + 200
    theirs, _ = choose(nhwc, nhwc_calls, budget, stream_input=stream)
    ours, _ = choose(graph, calls, budget, stream_input=stream)
    assert ours.split == theirs.split + 1 and ours.split is not None  # one call more: the reshape
    assert (ours.grid, ours.cached, ours.streamed, ours.arena_bytes) == (theirs.grid, theirs.cached, theirs.streamed,
                                                                         theirs.arena_bytes)


@pytest.mark.parametrize("form", ["requantized", "cast"])
def test_converter_conversions_run_in_stage_one(form):
    graph, calls = _model(form)
    assert split_points(graph, calls)[0] == 0
    x = _input(graph, 4)
    expected = run_reference(graph, [x], calls)[0]
    np.testing.assert_array_equal(run_tflm(graph, [x])[0], expected)
    split = split_points(graph, calls)[-1]
    for name, (g, c) in _schedules(graph, calls, split).items():
        np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=name)


@pytest.mark.parametrize(("form", "reason"), [
    ("flat_swapped", "call 1 (transpose_s8, operator 1 TRANSPOSE) cannot run in patches or bands: TRANSPOSE perm "
                     "(0, 2, 1, 3) of the input is not row-local"),
    ("quantize_then_flat", "call 0 (quantize_f32_s8, operator 0 QUANTIZE) cannot run in patches or bands: tensor "
                           "9 [1, 1536] is not a [1, H, W, C] tensor"),
])
def test_what_cannot_be_folded_is_reported_with_why(form, reason):
    graph, calls = _model(form)
    assert split_points(graph, calls) == []
    assert stage1_limit(graph, calls).startswith(reason)
