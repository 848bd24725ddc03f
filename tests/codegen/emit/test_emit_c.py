"""Generated C, compiled for the host, matches the NumPy reference executor."""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tools.host_model import HostModel


def _pad_chain() -> Graph:
    q = Quantization((0.05,), (3,))
    tensors = [
        Tensor(0, "x", (1, 3, 4, 2), "int8", q),
        Tensor(1, "pads", (4, 2), "int32", None, np.array([[0, 0], [1, 1], [2, 0], [0, 0]], np.int32)),
        Tensor(2, "y", (1, 5, 6, 2), "int8", q),
        Tensor(3, "pads2", (4, 2), "int32", None, np.array([[0, 0], [0, 1], [1, 1], [0, 1]], np.int32)),
        Tensor(4, "z", (1, 6, 8, 3), "int8", q),
    ]
    ops = [Operator(0, "PAD", (0, 1), (2,)), Operator(1, "PAD", (2, 3), (4,))]
    return Graph(tensors, ops, (0,), (4,), name="pad_chain")


def test_generated_pad_chain_matches_reference():
    graph = _pad_chain()
    compiled = compile_graph(graph, b"pad-chain")
    x = np.random.default_rng(1).integers(-128, 128, size=(1, 3, 4, 2), dtype=np.int8)
    expected = run_reference(graph, [x])
    got = HostModel(graph, compiled.sources.files).run([x])
    np.testing.assert_array_equal(got[0], expected[0])
    assert compiled.plan.arena_bytes >= graph.tensor(2).nbytes + graph.tensor(4).nbytes
    assert "pad_s8(&k0_params" in compiled.sources.files["model.c"]


def test_identical_parameter_structs_are_emitted_once(shared_models):
    """The bands of a patch schedule repeat their kernels' geometry: one const struct serves them all."""
    from codegen.pipeline import compile_file
    from codegen.targets.core import HOST

    compiled = compile_file(shared_models / "mlperf_vww_96_int8.tflite", HOST, 48 * 1024)
    source = compiled.sources.files["model.c"]
    structs = [line for line in source.splitlines() if line.startswith("static const ") and "_params = {" in line]
    assert len(structs) == len({(line.split()[2], line.split(" = ", 1)[1]) for line in structs})  # no two alike
    with_params = [c for c in compiled.calls if c.params is not None]
    assert compiled.schedule.split is not None and len(structs) < len(with_params) / 2
    x = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")
    got = HostModel(compiled.graph, compiled.sources.files).run([x["in0"]])[0]
    np.testing.assert_array_equal(got, x["out0"])
