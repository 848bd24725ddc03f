"""TFLM's signal-library operators in firmware on QEMU's Cortex-M7 (nucleo-f746 twin), one build: the audio
preprocessor's front (Window -> RESHAPE -> FftAutoScale -> Rfft -> Energy) beside a Framer -> OverlapAdd ->
Delay chain whose state stays in model_state from one inference to the next, an int32 Rfft of 400 points
(radix 4, 2, 5, 5) and a float32 Rfft -> Irfft of 96 points (radix 4, 4, 3), against one TFLM interpreter."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph, Operator, Tensor
from codegen.targets.boards import load_board
from tests.codegen.kernels.signal.signal_support import run_tflm_sequence
from tests.codegen.kernels.signal.test_fft import PREPROCESSOR, VECTORS, _front
from tests.codegen.kernels.signal.test_signal_generated_c import _chain
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


def _ffts() -> Graph:
    tensors = [
        Tensor(0, "x32", (400,), "int32"),
        Tensor(1, "spectrum32", (402,), "int32"),
        Tensor(2, "xf", (96,), "float32"),
        Tensor(3, "spectrumf", (98,), "float32"),
        Tensor(4, "backf", (96,), "float32"),
    ]
    ops = [
        Operator(0, "CUSTOM:SignalRfft", (0,), (1,), {"T": 2, "fft_length": 400}),
        Operator(1, "CUSTOM:SignalRfft", (2,), (3,), {"T": 0, "fft_length": 96}),
        Operator(2, "CUSTOM:SignalIrfft", (3,), (4,), {"T": 0, "fft_length": 96}),
    ]
    return Graph(tensors, ops, (0, 2), (1, 4), name="ffts")


def _side_by_side(parts: list[Graph], name: str) -> Graph:
    """Independent graphs as one: tensors and operators renumbered, inputs and outputs in order."""
    tensors: list[Tensor] = []
    ops: list[Operator] = []
    inputs: list[int] = []
    outputs: list[int] = []
    for part in parts:
        shift = len(tensors)
        for t in part.tensors:
            moved = copy.copy(t)
            moved.index += shift
            tensors.append(moved)
        for op in part.operators:
            moved_op = copy.copy(op)
            moved_op.index = len(ops)
            moved_op.inputs = tuple(i + shift for i in op.inputs)
            moved_op.outputs = tuple(i + shift for i in op.outputs)
            ops.append(moved_op)
        inputs += [i + shift for i in part.inputs]
        outputs += [i + shift for i in part.outputs]
    return Graph(tensors, ops, tuple(inputs), tuple(outputs), name=name)


def front_and_chain() -> Graph:
    """Inputs (frame, samples, int32 signal, float signal); outputs (energy, scale bits, delayed, valid,
    int32 spectrum, float round trip)."""
    return _side_by_side([_front(read_tflite(PREPROCESSOR)), _chain(), _ffts()], "signal_ops")


@pytest.mark.emulator
def test_signal_firmware_is_bit_exact_with_tflm(tmp_path: Path) -> None:
    if not PREPROCESSOR.is_file() or not VECTORS.is_file():
        pytest.skip(f"{PREPROCESSOR.name} or its vectors are absent")
    graph = front_and_chain()
    model = tmp_path / "signal_ops.tflite"
    model.write_bytes(write_tflite(graph))
    frames = np.load(VECTORS)["in0"]
    rng = np.random.default_rng(11)
    inputs = [[frames[f], rng.integers(-9000, 9000, (8,)).astype(np.int16),
               rng.integers(-2**31, 2**31, (400,)).astype(np.int32), rng.normal(0, 300, (96,)).astype(np.float32)]
              for f in (0, 17, 30, 48)]
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
            np.testing.assert_array_equal(got[4], exp[4], err_msg=f"inference {n}: int32 Rfft 400")
            assert got[5].tobytes() == np.asarray(exp[5], np.float32).tobytes(), f"inference {n}: float Rfft, Irfft"
            assert np.any(got[0][start:end])
            delayed.append(got[2].tobytes())
    assert len(set(delayed)) == len(delayed)  # the chain's state moves on: no two inferences alike
