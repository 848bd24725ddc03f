"""The generated 16x8 chain of tests/codegen/test_16x8_chain_more.py (MUL, AVERAGE_POOL_2D, MAX_POOL_2D,
CONCATENATION, MEAN, SOFTMAX on int16), built into firmware for nucleo-f746's emulated twin and run in QEMU: the
output equals TFLite Micro's bit for bit (the kernels and the lookup tables in flash, compiled for Cortex-M7)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_graph
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.codegen.test_16x8_chain_more import chain_graph
from tests.support.op_check import run_tflm
from tests.support.twin_firmware import TwinFirmware


@pytest.mark.emulator
def test_16x8_chain_more_firmware_is_bit_exact_with_tflm(tmp_path):
    board = load_board("nucleo-f746")
    graph = chain_graph()
    x = np.random.default_rng(2).uniform(-7.5, 7.5, size=(1, 8, 8, 4)).astype(np.float32)
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core))
    assert "softmax_s16" in [c.kernel for c in compiled.calls]
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    want = run_tflm(graph, [x])
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    assert len(np.unique(want)) > want.size // 2
