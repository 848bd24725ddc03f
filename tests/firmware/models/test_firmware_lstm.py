"""tflm_micro_speech_lstm (UNIDIRECTIONAL_SEQUENCE_LSTM, RESHAPE, FULLY_CONNECTED, SOFTMAX) built into firmware and
run on the emulated board: bit-exact with its golden vector and with TFLite Micro, states carried across invokes."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.targets.boards import load_board
from tests.codegen.kernels.sequence.test_kernel_lstm import MODELS, micro_speech_lstm
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


@pytest.mark.emulator
def test_micro_speech_lstm_firmware_is_bit_exact(tmp_path):
    """The model built for nucleo-f746 and run in QEMU: the golden output, then the LSTM layer alone (an output
    of 3920 values, not saturated like the classifier's) over two invokes carrying state, against TFLM."""
    from tflite_micro.python.tflite_micro import runtime

    path = micro_speech_lstm()
    golden = np.load(MODELS / "vectors" / "tflm_micro_speech_lstm.npz")
    graph = read_tflite(path)
    graph.outputs = (*graph.outputs, graph.operators[0].outputs[0])
    model = tmp_path / "micro_speech_lstm_two_outputs.tflite"
    model.write_bytes(write_tflite(graph))
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    xs = [golden["in0"], np.random.default_rng(8).integers(-128, 128, (1, 49, 257), dtype=np.int8)]
    micro = runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=200_000)
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        for i, x in enumerate(xs):
            raw, stats = emu.link.infer([x])
            scores = np.frombuffer(raw[0], np.int8).reshape(1, 3)
            layer = np.frombuffer(raw[1], np.int8).reshape(1, 49, 80)
            micro.set_input(x, 0)
            micro.invoke()
            np.testing.assert_array_equal(scores, micro.get_output(0).reshape(1, 3), err_msg=f"invoke {i}")
            np.testing.assert_array_equal(layer, micro.get_output(1).reshape(1, 49, 80), err_msg=f"invoke {i}")
            if i == 0:
                np.testing.assert_array_equal(scores, golden["out0"])
            assert len(np.unique(layer)) > 20 and stats.ticks > 0
