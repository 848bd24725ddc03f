"""HARD_SWISH, RELU, RELU6, RELU_N1_TO_1 (lut_s8) and MAXIMUM/MINIMUM (with a runtime operand of the same
shape, or a constant one that does not vary over H and W) inside patch-based stage 1: bit-exact with per-layer
execution for every split point and grid, with patches and with cached bands, in the NumPy reference and in
the generated C on the host."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
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

UNARY = ("HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1")


def _math_layer(draw, b: GraphBuilder, x: int) -> int:
    kind = draw(st.sampled_from([*UNARY, "MAXIMUM_CONST", "MINIMUM_CONST", "MAXIMUM_RUNTIME"]))
    shape, q = b.shape(x), b.quant(x)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind in UNARY:
        out_q = q if kind == "RELU6" else per_tensor(q.scale[0] * draw(st.sampled_from([0.5, 1.0, 2.0])),
                                                     draw(st.integers(-20, 20)))
        y = b.tensor(kind.lower(), shape, "int8", out_q)
        b.op(kind, (x,), (y,))
        return y
    op_type = kind.split("_")[0]
    if kind.endswith("CONST"):  # per-channel (1, 1, 1, C) or a plain per-tensor scalar (C,) == (1,)
        cshape = draw(st.sampled_from([(1, 1, 1, shape[3]), (shape[3],), (1,)]))
        other = b.tensor("bound", cshape, "int8", q, rng.integers(-128, 128, size=cshape))
    else:
        other = _depthwise(draw, b, x)
        if b.shape(other) != shape:
            return other
    y = b.tensor(op_type.lower(), shape, "int8", q)
    b.op(op_type, (x, other), (y,))
    return y


@st.composite
def math_chains(draw):
    b = GraphBuilder("math_chain")
    h, w, c = draw(st.integers(6, 14)), draw(st.integers(6, 14)), draw(st.integers(1, 4))
    x = first = _int8_input(draw, b, (1, h, w, c))
    for _ in range(draw(st.integers(2, 5))):
        if min(b.shape(x)[1:3]) < 3:
            break
        x = _conv2d(draw, b, x) if draw(st.booleans()) else _math_layer(draw, b, x)
    x = _pool(draw, b, x, "MAX_POOL_2D")  # stage 2 needs at least one layer after any split
    return b.build((first,), (x,))


@settings(max_examples=40, deadline=None)
@given(math_chains(), st.integers(1, 4), st.integers(1, 4), st.data())
def test_every_split_and_grid_matches_per_layer(graph, rows, cols, data):
    calls = lower_graph(graph)
    new_kernels = {"lut_s8", "maximum_s8", "minimum_s8"}
    assert all(is_patchable(c, graph) for c in calls if c.kernel in new_kernels)
    x = np.random.default_rng(0).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    assert all(is_patchable(c, graph) for c in calls[:-1])  # every layer before the final pool
    points = split_points(graph, calls)
    assume(points)  # a split needs an output taller than one row (a VALID conv may leave a single row)
    split = data.draw(st.sampled_from(points))
    split_shape = graph.tensor(calls[split].outputs[0]).shape
    grid = (min(rows, split_shape[1]), min(cols, split_shape[2]))
    g2, c2 = expand(graph, calls, split, grid)
    check_plan(plan_memory(g2, c2))
    np.testing.assert_array_equal(run_reference(g2, [x], c2)[0], expected)
    bands = data.draw(st.integers(2, max(split_shape[1], 2)))
    g3, c3 = expand_cached(graph, calls, split, bands, grid[1])
    check_plan(plan_memory(g3, c3))
    np.testing.assert_array_equal(run_reference(g3, [x], c3)[0], expected)


def test_patched_generated_c_matches_per_layer():
    """conv -> HARD_SWISH -> MAXIMUM with a per-channel constant -> MINIMUM with a depthwise branch -> pool,
    split after the MINIMUM, in the C the compiler emits (host build)."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("patched_math")
    q = per_tensor(0.05, -3)
    x = b.tensor("input", (1, 12, 10, 3), "int8", q)
    w1 = b.tensor("w1", (6, 3, 3, 3), "int8", per_tensor(0.01, 0), rng.integers(-127, 128, size=(6, 3, 3, 3)))
    b1 = b.tensor("b1", (6,), "int32", per_tensor(0.0005, 0), rng.integers(-500, 500, size=6))
    y1 = b.tensor("conv", (1, 12, 10, 6), "int8", per_tensor(0.04, 2))
    b.op("CONV_2D", (x, w1, b1), (y1,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="NONE")
    hs_q = per_tensor(0.03, -60)
    y2 = b.tensor("hard_swish", (1, 12, 10, 6), "int8", hs_q)
    b.op("HARD_SWISH", (y1,), (y2,))
    floor = b.tensor("floor", (1, 1, 1, 6), "int8", hs_q, rng.integers(-70, -40, size=(1, 1, 1, 6)))
    y3 = b.tensor("maximum", (1, 12, 10, 6), "int8", hs_q)
    b.op("MAXIMUM", (y2, floor), (y3,))
    wd = b.tensor("wd", (1, 3, 3, 6), "int8", per_tensor(0.02, 0), rng.integers(-127, 128, size=(1, 3, 3, 6)))
    bd = b.tensor("bd", (6,), "int32", per_tensor(0.0006, 0), rng.integers(-300, 300, size=6))
    y4 = b.tensor("dw", (1, 12, 10, 6), "int8", hs_q)
    b.op("DEPTHWISE_CONV_2D", (y3, wd, bd), (y4,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1,
         dilation_w=1, depth_multiplier=1, activation="NONE")
    y5 = b.tensor("minimum", (1, 12, 10, 6), "int8", hs_q)
    b.op("MINIMUM", (y3, y4), (y5,))
    y6 = b.tensor("pool", (1, 6, 5, 6), "int8", hs_q)
    b.op("MAX_POOL_2D", (y5,), (y6,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    graph = b.build((x,), (y6,))
    calls = lower_graph(graph)
    inp = rng.integers(-128, 128, size=(1, 12, 10, 3), dtype=np.int8)
    expected = run_reference(graph, [inp], calls)[0]
    split = split_points(graph, calls)[-1]
    assert calls[split].kernel == "minimum_s8"
    for g2, c2 in (expand(graph, calls, split, (3, 2)), expand_cached(graph, calls, split, 4, 2)):
        np.testing.assert_array_equal(run_reference(g2, [inp], c2)[0], expected)
        c2 = specialize(g2, c2, HOST)
        out = HostModel(g2, emit_model(g2, c2, plan_memory(g2, c2), bytes(8)).files).run([inp])[0]
        np.testing.assert_array_equal(out, expected)
