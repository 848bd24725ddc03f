"""PAD folded into the following convolution is bit-exact with the unfused graph and saves its buffer."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from codegen.frontend.tflite_reader import read_tflite
from codegen.memory.planner import plan_memory
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_file, compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.core import HOST
from tests.support.model_factory import graphs, random_inputs
from tools.host_model import HostModel


@settings(max_examples=40, deadline=None)
@given(graphs("PAD+CONV_2D"))
def test_fused_pad_conv_matches_unfused_reference(graph):
    fused = fuse_pads(graph)
    pad = next(op for op in graph.operators if op.op_type == "PAD")
    paddings = graph.tensor(pad.inputs[1]).data
    spatial_only = not paddings[0].any() and not paddings[3].any()
    assert (len(fused.operators) == 1) == spatial_only
    inputs = random_inputs(graph, np.random.default_rng(0))
    expected = run_reference(graph, inputs)
    np.testing.assert_array_equal(run_reference(fused, inputs)[0], expected[0])
    compiled = compile_graph(graph, b"pad-conv", HOST)
    np.testing.assert_array_equal(HostModel(compiled.graph, compiled.sources.files).run(inputs)[0], expected[0])


def test_mcunet_pads_are_fused_into_depthwise_convs(shared_models):
    path = shared_models / "tinyengine_mcunet_vww.tflite"
    graph = read_tflite(path)
    fused = fuse_pads(graph)
    assert [op.op_type for op in graph.operators].count("PAD") == 4
    assert [op.op_type for op in fused.operators].count("PAD") == 0
    unfused_arena = plan_memory(graph, lower_graph(graph)).arena_bytes
    compiled = compile_file(path, HOST)
    assert compiled.plan.arena_bytes < 0.7 * unfused_arena  # measured: 161,472 -> 96,000 bytes
    data = np.load(shared_models / "vectors" / "tinyengine_mcunet_vww.npz")
    out = HostModel(compiled.graph, compiled.sources.files).run([data["in0"]])[0]
    np.testing.assert_array_equal(out, data["out0"])
