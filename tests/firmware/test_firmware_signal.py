"""TFLM's signal-library operators in firmware on QEMU's Cortex-M7 (nucleo-f746 twin), one build: the audio
preprocessor's front (Window -> RESHAPE -> FftAutoScale -> Rfft -> Energy) beside a Framer -> OverlapAdd ->
Delay chain whose state stays in model_state from one inference to the next, against one TFLM interpreter."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.targets.boards import load_board
from tests.codegen.kernels.signal.signal_support import run_tflm_sequence
from tests.codegen.kernels.signal.test_fft import PREPROCESSOR, VECTORS, _front
from tests.codegen.kernels.signal.test_signal_generated_c import _chain
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


def front_and_chain() -> Graph:
    """Two independent parts in one graph: inputs (frame, samples), outputs (energy, scale bits, delayed, valid)."""
    front, chain = _front(read_tflite(PREPROCESSOR)), _chain()
    shift = len(front.tensors)
    tensors = list(front.tensors)
    for t in chain.tensors:
        moved = copy.copy(t)
        moved.index += shift
        tensors.append(moved)
    ops = list(front.operators)
    for k, op in enumerate(chain.operators):
        moved = copy.copy(op)
        moved.index = len(front.operators) + k
        moved.inputs = tuple(i + shift for i in op.inputs)
        moved.outputs = tuple(i + shift for i in op.outputs)
        ops.append(moved)
    return Graph(tensors, ops, (front.inputs[0], chain.inputs[0] + shift),
                 (*front.outputs, *(i + shift for i in chain.outputs)), name="signal_ops")


@pytest.mark.emulator
def test_signal_firmware_is_bit_exact_with_tflm(tmp_path: Path) -> None:
    if not PREPROCESSOR.is_file() or not VECTORS.is_file():
        pytest.skip(f"{PREPROCESSOR.name} or its vectors are absent")
    graph = front_and_chain()
    model = tmp_path / "signal_ops.tflite"
    model.write_bytes(write_tflite(graph))
    frames = np.load(VECTORS)["in0"]
    rng = np.random.default_rng(11)
    inputs = [[frames[f], rng.integers(-9000, 9000, (8,)).astype(np.int16)] for f in (0, 17, 30, 48)]
    expected = run_tflm_sequence(graph, inputs)
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    compiled = result.compiled
    assert compiled.plan.state_bytes == 64
    outs = [compiled.graph.tensor(i) for i in compiled.graph.outputs]
    start, end = graph.operators[4].options["start_index"], graph.operators[4].options["end_index"]
    delayed = []
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for n, (xs, exp) in enumerate(zip(inputs, expected, strict=True)):
            raw, _ = emu.link.infer(xs)
            got = [np.frombuffer(raw[k], dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape) for k, t in enumerate(outs)]
            np.testing.assert_array_equal(got[0][start:end], exp[0][start:end], err_msg=f"inference {n}: energy")
            assert int(got[1]) == int(exp[1]), f"inference {n}: scale bits"
            np.testing.assert_array_equal(got[2], exp[2], err_msg=f"inference {n}: framed, overlap-added, delayed")
            assert bool(got[3]) and bool(exp[3])
            assert np.any(got[0][start:end])
            delayed.append(got[2].tobytes())
    assert len(set(delayed)) == len(delayed)  # the chain's state moves on: no two inferences alike
