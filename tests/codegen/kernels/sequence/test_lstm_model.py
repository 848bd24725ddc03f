"""UNIDIRECTIONAL_SEQUENCE_LSTM in generated C: both states in model_state (outside the arena), carried across
invokes; the int8 hidden state starts at, and model_reset() returns it to, its zero point as in TFLite Micro.
tflm_micro_speech_lstm on the host build against its golden vector and TFLM (tests/firmware/models/test_firmware_lstm.py
runs it in the emulated firmware)."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_file, compile_graph
from codegen.reference_executor import run_reference
from tests.codegen.kernels.sequence.test_kernel_lstm import (
    CELL,
    HIDDEN,
    MODELS,
    lstm_graph,
    micro_speech_lstm,
    run_tflm,
)
from tools.host_model import HostModel


def test_generated_c_carries_states_and_resets_to_zero_point():
    rng = np.random.default_rng(4)
    graph = lstm_graph(rng, 2, 3, 6, 5, False, 0.05, 7, 1 / 128, -20, (2.0, 2.0), -11, 3.0)
    compiled = compile_graph(graph, write_tflite(graph))
    plan = compiled.plan
    assert sorted(plan.state_offsets) == [HIDDEN, CELL] and not {HIDDEN, CELL} & set(plan.tensor_offsets)
    model = HostModel(compiled.graph, compiled.sources.files)
    xs = [rng.integers(-128, 128, (2, 3, 6), dtype=np.int8) for _ in range(4)]
    state: dict[int, np.ndarray] = {}
    want = [run_reference(graph, [x], state=state)[0] for x in xs]
    np.testing.assert_array_equal([model.run([x])[0] for x in xs], want)
    np.testing.assert_array_equal([w.reshape(want[0].shape) for w in run_tflm(graph, xs)], want)
    assert len({w.tobytes() for w in want}) == len(want)
    model.reset()  # the hidden state back to its zero point (-20), the cell state to 0: the first output again
    np.testing.assert_array_equal(model.run([xs[0]])[0], want[0])
    np.testing.assert_array_equal(model.run([xs[1]])[0], want[1])


def test_micro_speech_lstm_generated_c_on_host():
    """The whole model compiled to C and run on the host: the golden vector from a fresh state, then two more
    invokes carrying state, against TFLM running the same model file."""
    from tflite_micro.python.tflite_micro import runtime

    path = micro_speech_lstm()
    golden = np.load(MODELS / "vectors" / "tflm_micro_speech_lstm.npz")
    compiled = compile_file(path)
    assert compiled.plan.state_bytes >= 80 + 160
    model = HostModel(compiled.graph, compiled.sources.files)
    micro = runtime.Interpreter.from_file(str(path), arena_size=200_000)
    rng = np.random.default_rng(2)
    xs = [golden["in0"]] + [rng.integers(-128, 128, (1, 49, 257), dtype=np.int8) for _ in range(2)]
    for i, x in enumerate(xs):
        micro.set_input(x, 0)
        micro.invoke()
        got = model.run([x])[0]
        if i == 0:
            np.testing.assert_array_equal(got, golden["out0"])
        np.testing.assert_array_equal(got, micro.get_output(0).reshape(got.shape), err_msg=f"invoke {i}")


def test_16x8_generated_c_matches_reference_and_tflite_micro():
    rng = np.random.default_rng(6)
    graph = lstm_graph(rng, 2, 4, 7, 6, True, 2e-4, 0, 1 / 32768, 0, (3.0, 2.0), -12, 10.0, act="int16")
    compiled = compile_graph(graph, write_tflite(graph))
    assert [c.kernel for c in compiled.calls] == ["lstm_s16"]
    model = HostModel(compiled.graph, compiled.sources.files)
    xs = [rng.integers(-32768, 32768, (4, 2, 7), dtype=np.int16) for _ in range(3)]
    state: dict[int, np.ndarray] = {}
    want = [run_reference(graph, [x], state=state)[0] for x in xs]
    np.testing.assert_array_equal([model.run([x])[0] for x in xs], want)
    np.testing.assert_array_equal([w.reshape(want[0].shape) for w in run_tflm(graph, xs)], want)
    assert len(np.unique(np.concatenate([w.ravel() for w in want]))) > 50
