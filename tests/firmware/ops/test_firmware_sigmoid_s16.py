"""16x8 TANH and LOGISTIC (sigmoid_s16, the compile-time sigmoid table in flash) in a generated chain
float -> QUANTIZE int16 -> TANH -> LOGISTIC -> LOGISTIC -> DEQUANTIZE, built for nucleo-f746's emulated twin
and run in QEMU: equal to TFLite Micro bit for bit, on the host reference and in the firmware."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.op_check import run_tflm
from tests.support.twin_firmware import TwinFirmware


def _q(scale: float) -> Quantization:
    return Quantization((float(np.float32(scale)),), (0,))


def sigmoid_chain() -> Graph:
    shape = (1, 16, 16, 4)
    t = [
        Tensor(0, "x", shape, "float32"),
        Tensor(1, "xq", shape, "int16", _q(2.0**-12)),  # power-of-two scale: the fixed multiplier 3
        Tensor(2, "th", shape, "int16", _q(2.0**-15)),
        Tensor(3, "lg", shape, "int16", _q(2.0**-15)),  # input scale 2^-15: the general multiplier path
        Tensor(4, "lg2", shape, "int16", _q(2.0**-15)),
        Tensor(5, "out", shape, "float32"),
    ]
    ops = [
        Operator(0, "QUANTIZE", (0,), (1,)),
        Operator(1, "TANH", (1,), (2,)),
        Operator(2, "LOGISTIC", (2,), (3,)),
        Operator(3, "LOGISTIC", (3,), (4,)),
        Operator(4, "DEQUANTIZE", (4,), (5,)),
    ]
    return Graph(t, ops, (0,), (5,), name="sigmoid16")


@pytest.mark.emulator
def test_sigmoid_s16_chain_is_bit_exact_with_tflm(tmp_path):
    graph = sigmoid_chain()
    x = np.random.default_rng(5).uniform(-7.9, 7.9, size=(1, 16, 16, 4)).astype(np.float32)
    want = run_tflm(graph, [x])
    (ref,) = run_reference(graph, [x])
    np.testing.assert_array_equal(ref, want)
    assert len(np.unique(want)) > want.size // 4
    board = load_board("nucleo-f746")
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core))
    assert [c.kernel for c in compiled.calls].count("sigmoid_s16") == 3
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    np.testing.assert_array_equal(got.reshape(want.shape), want)
