"""RESIZE_NEAREST_NEIGHBOR inside patch-based stage 1: for every split point and grid, patches and cached bands
give exactly the per-layer result (reference executor), and the generated C (host build) agrees."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.emit.c_source import emit_model
from codegen.memory.planner import check_plan, plan_memory
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import specialize
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import expand, expand_cached, is_patchable, split_points
from codegen.targets.core import HOST
from tests.support.model_factory import GraphBuilder, _conv2d, _depthwise, _int8_input, _pool, per_tensor
from tools.host_model import HostModel


def _resize(draw, b: GraphBuilder, x: int) -> int:
    _, h, w, c = b.shape(x)
    scale = draw(st.sampled_from([(2, 2), (3, 3), (2, 1), None]))  # integer scales, or any size
    out_hw = (h * scale[0], w * scale[1]) if scale else (draw(st.integers(2, 2 * h)), draw(st.integers(2, 2 * w)))
    mode = draw(st.sampled_from([(False, False), (True, False), (False, True)]))
    y = b.tensor("up", (1, *out_hw, c), "int8", b.quant(x))
    b.op("RESIZE_NEAREST_NEIGHBOR", (x, b.const_i32("size", list(out_hw))), (y,), align_corners=mode[0],
         half_pixel_centers=mode[1])
    return y


@st.composite
def resize_graphs(draw):
    b = GraphBuilder("resize_chain")
    first = x = _int8_input(draw, b, (1, draw(st.integers(3, 8)), draw(st.integers(3, 8)), draw(st.integers(1, 3))))
    for _ in range(draw(st.integers(2, 4))):
        kind = draw(st.sampled_from(["resize", "conv", "dw", "max"]))
        if kind == "resize" and max(b.shape(x)[1:3]) <= 12:
            x = _resize(draw, b, x)
        elif kind == "conv":
            x = _conv2d(draw, b, x)
        elif kind == "dw":
            x = _depthwise(draw, b, x)
        elif min(b.shape(x)[1:3]) >= 2:
            x = _pool(draw, b, x, "MAX_POOL_2D")
    if not any(op.op_type == "RESIZE_NEAREST_NEIGHBOR" for op in b.operators):
        x = _resize(draw, b, x)
    x = _pool(draw, b, x, "MAX_POOL_2D")  # stage 2 needs a layer after any split
    return b.build((first,), (x,))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resize_graphs(), st.integers(1, 4), st.integers(1, 4), st.data())
def test_every_split_and_grid_matches_per_layer(graph, rows, cols, data):
    calls = lower_graph(graph)
    assert all(is_patchable(c, graph) for c in calls if c.kernel == "resize_nearest_bytes")
    x = np.random.default_rng(0).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    points = split_points(graph, calls)
    resize_at = min(i for i, c in enumerate(calls) if c.kernel == "resize_nearest_bytes")
    points = [p for p in points if p >= resize_at]  # stage 1 holds a resize
    if not points:
        return
    split = data.draw(st.sampled_from(points))
    shape = graph.tensor(calls[split].outputs[0]).shape
    grid = (min(rows, shape[1]), min(cols, shape[2]))
    g2, c2 = expand(graph, calls, split, grid)
    check_plan(plan_memory(g2, c2))
    np.testing.assert_array_equal(run_reference(g2, [x], c2)[0], expected)
    bands = data.draw(st.integers(2, max(shape[1], 2)))
    g3, c3 = expand_cached(graph, calls, split, bands, grid[1])
    check_plan(plan_memory(g3, c3))
    np.testing.assert_array_equal(run_reference(g3, [x], c3)[0], expected)


def test_generated_c_of_patches_and_bands():
    """conv -> nearest x2 -> conv -> pool: patches and cached bands through the emitter, on the host."""
    b = GraphBuilder("conv_up_conv")
    rng = np.random.default_rng(1)
    x0 = b.tensor("x", (1, 7, 6, 3), "int8", _quant())
    w = b.tensor("w", (4, 3, 3, 3), "int8", _quant(0.02, 0), rng.integers(-10, 11, (4, 3, 3, 3)))
    bias = b.tensor("b", (4,), "int32", _quant(0.05 * 0.02, 0), rng.integers(-300, 300, 4))
    c1 = b.tensor("c1", (1, 7, 6, 4), "int8", _quant(0.08, 2))
    b.op("CONV_2D", (x0, w, bias), (c1,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="RELU")
    up = b.tensor("up", (1, 14, 12, 4), "int8", _quant(0.08, 2))
    b.op("RESIZE_NEAREST_NEIGHBOR", (c1, b.const_i32("size", [14, 12])), (up,), align_corners=False,
         half_pixel_centers=True)
    w2 = b.tensor("w2", (4, 3, 3, 4), "int8", _quant(0.02, 0), rng.integers(-10, 11, (4, 3, 3, 4)))
    bias2 = b.tensor("b2", (4,), "int32", _quant(0.08 * 0.02, 0), rng.integers(-300, 300, 4))
    c2 = b.tensor("c2", (1, 7, 6, 4), "int8", _quant(0.1, -5))
    b.op("CONV_2D", (up, w2, bias2), (c2,), padding="SAME", stride_h=2, stride_w=2, dilation_h=1, dilation_w=1,
         activation="NONE")
    out = b.tensor("out", (1, 3, 3, 4), "int8", _quant(0.1, -5))
    b.op("MAX_POOL_2D", (c2,), (out,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    graph = b.build((x0,), (out,))
    calls = lower_graph(graph)
    x = np.random.default_rng(2).integers(-128, 128, size=(1, 7, 6, 3), dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    assert len(np.unique(expected)) > 8
    split = 2  # stage 1: conv, resize, conv
    assert split in split_points(graph, calls)
    for g2, c2 in (expand(graph, calls, split, (2, 2)), expand(graph, calls, split, (3, 1)),
                   expand_cached(graph, calls, split, 3, 1), expand_cached(graph, calls, split, 4, 2)):
        assert sum(c.kernel == "resize_nearest_bytes" for c in c2) > 1
        c2 = specialize(g2, c2, HOST)
        plan = plan_memory(g2, c2)
        check_plan(plan)
        got = HostModel(g2, emit_model(g2, c2, plan, bytes(8)).files).run([x])[0]
        np.testing.assert_array_equal(got, expected)


def _quant(scale: float = 0.05, zero_point: int = -1):
    return per_tensor(scale, zero_point)
