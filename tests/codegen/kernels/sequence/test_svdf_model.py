"""SVDF in generated C: the state in model_state (outside the arena), carried across invokes, zeroed by
model_reset(); the host build of the generated model against the reference and TFLite Micro."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.memory.planner import check_plan
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tests.codegen.kernels.sequence.test_kernel_svdf import MODELS, _keyword_model, run_tflm, svdf_graph
from tools.host_model import HostModel


def _two_svdfs():
    """Two SVDFs in a row, so that two state tensors sit side by side in model_state."""
    rng = np.random.default_rng(7)
    g = svdf_graph(rng, 1, 24, 6, 2, 5, True, (0.05, 0.01, 2e-3, 0.05 * 0.01 * 40, 0.05 * 0.01 * 40 * 2e-3 * 4e3),
                   (3, -5))
    h = svdf_graph(rng, 1, 6, 3, 1, 7, True, (0.02, 0.01, 2e-3, 0.02 * 0.01 * 20, 0.02 * 0.01 * 20 * 2e-3 * 3e3),
                   (-5, 9))
    h.tensors[0].quant = g.tensors[5].quant
    shift = len(g.tensors) - 1  # h's input is g's output
    for t in h.tensors[1:]:
        t.index += shift
    op = h.operators[0]
    op.index = 1
    op.inputs = (5, *(i + shift for i in op.inputs[1:]))
    op.outputs = (op.outputs[0] + shift,)
    g.tensors += h.tensors[1:]
    g.operators.append(op)
    g.outputs = op.outputs
    return g


def test_generated_c_carries_state_and_resets():
    graph = _two_svdfs()
    compiled = compile_graph(graph, write_tflite(graph))
    plan = compiled.plan
    check_plan(plan)
    states = [t.index for t in graph.tensors if t.is_variable]
    assert sorted(plan.state_offsets) == states and not set(states) & set(plan.tensor_offsets)
    assert [t.nbytes for t in map(graph.tensor, states)] == [120, 42]
    assert plan.state_offsets == {states[0]: 0, states[1]: 120} and plan.state_bytes == 168  # 8-byte aligned
    assert "model_state + " in compiled.sources.files["model.c"]
    model = HostModel(compiled.graph, compiled.sources.files)
    rng = np.random.default_rng(1)
    xs = [rng.integers(-128, 128, (1, 24), dtype=np.int8) for _ in range(5)]
    state: dict[int, np.ndarray] = {}
    want = [run_reference(graph, [x], state=state)[0] for x in xs]
    got = [model.run([x])[0] for x in xs]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(want, run_tflm(graph, xs))
    assert len({w.tobytes() for w in want}) > 1
    model.reset()  # back to the state of a fresh model: the first output again
    np.testing.assert_array_equal(model.run([xs[0]])[0], want[0])
    np.testing.assert_array_equal(model.run([xs[1]])[0], want[1])


def test_keyword_model_svdf_chain_in_generated_c():
    """tflm_keyword_scrambled up to its last FULLY_CONNECTED (the int8-to-int16 SOFTMAX after it is not
    supported yet), compiled to C and run on the host over the golden input and 5 more invokes."""
    graph = read_tflite(_keyword_model())
    graph.operators = graph.operators[:13]
    graph.outputs = graph.operators[-1].outputs
    compiled = compile_graph(graph, write_tflite(graph))
    assert compiled.plan.state_bytes == 4 * 1024 + 3 * 2048
    model = HostModel(compiled.graph, compiled.sources.files)
    golden = np.load(MODELS / "vectors" / "tflm_keyword_scrambled.npz")
    rng = np.random.default_rng(5)
    xs = [golden["in0"]] + [rng.integers(-20000, 20000, (1, 96), dtype=np.int16) for _ in range(5)]
    state: dict[int, np.ndarray] = {}
    for i, x in enumerate(xs):
        want = run_reference(graph, [x], state=state)[0]
        np.testing.assert_array_equal(model.run([x])[0], want, err_msg=f"invoke {i}")


def test_keyword_model_is_bit_exact_with_tflm():
    """The whole tflm_keyword_scrambled (7 SVDFs, the int8-to-int16 SOFTMAX, QUANTIZEs): its golden vector from a
    fresh state, then 7 more invokes carrying state, reference and host-built generated C against TFLM."""
    from tflite_micro.python.tflite_micro import runtime

    from codegen.pipeline import compile_file

    path = _keyword_model()
    golden = np.load(MODELS / "vectors" / "tflm_keyword_scrambled.npz")
    graph = read_tflite(path)
    compiled = compile_file(path)
    model = HostModel(compiled.graph, compiled.sources.files)
    micro = runtime.Interpreter.from_file(str(path), arena_size=65536)
    rng = np.random.default_rng(11)
    xs = [golden["in0"]] + [rng.integers(-20000, 20000, (1, 96), dtype=np.int16) for _ in range(7)]
    state: dict[int, np.ndarray] = {}
    for i, x in enumerate(xs):
        micro.set_input(x, 0)
        micro.invoke()
        want = micro.get_output(0)
        ref = run_reference(graph, [x], state=state)[0]
        got = model.run([x])[0]
        if i == 0:
            np.testing.assert_array_equal(ref, golden["out0"])
        np.testing.assert_array_equal(ref, want, err_msg=f"reference, invoke {i}")
        np.testing.assert_array_equal(got, want, err_msg=f"generated C, invoke {i}")
    # The scrambled weights make both classes 0.5 on every input TFLM or we tried: the SVDF chain tests above
    # (outputs before the SOFTMAX) are the ones that see the state at work.
