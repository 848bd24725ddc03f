"""The 16x8 DSP kernels (conv2d_s16_dsp, conv2d_s16_b32_dsp, fully_connected_s16_dsp,
fully_connected_s16_b32_dsp: SXTB16 + SMLALD) in firmware on nucleo-f746's emulated Cortex-M7: one build of a
chain through all four, bit-exact with TFLite Micro."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_graph
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import run_tflm
from tests.support.s16_dsp_models import chain_graph, int16_input
from tests.support.twin_firmware import TwinFirmware


@pytest.mark.emulator
def test_s16_dsp_kernels_in_the_firmware_equal_tflm(tmp_path):
    board = load_board("nucleo-f746")
    graph = chain_graph()
    model = write_tflite(graph)
    x = int16_input(graph)
    compiled = compile_graph(graph, model, Target(board.core), use_cost_model=False)
    assert [c.kernel for c in compiled.calls if c.kernel.endswith("_dsp")] == [
        "conv2d_s16_dsp", "conv2d_s16_b32_dsp", "fully_connected_s16_dsp", "fully_connected_s16_b32_dsp"]
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    (want,) = run_tflm(model, [x], graph)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    assert len(np.unique(want)) == want.size
