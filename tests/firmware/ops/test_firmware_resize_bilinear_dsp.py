"""RESIZE_BILINEAR's fast variant in the firmware for nucleo-f746's emulated twin (Cortex-M7, DSP): two resizes
(half-pixel centres over 6 channels: four through the SXTB16 path and two through the scalar tail; align_corners
over 8) equal TFLite Micro bit for bit in QEMU."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.pipeline import compile_graph
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support import single_op
from tests.support.twin_firmware import TwinFirmware

Q = Quantization((0.05,), (-3,))


def two_resizes() -> Graph:
    t = [
        Tensor(0, "x", (1, 5, 7, 6), "int8", Q),
        Tensor(1, "size_a", (2,), "int32", None, np.array([12, 17], np.int32)),
        Tensor(2, "a", (1, 12, 17, 6), "int8", Q),
        Tensor(3, "x2", (1, 4, 3, 8), "int8", Q),
        Tensor(4, "size_b", (2,), "int32", None, np.array([9, 11], np.int32)),
        Tensor(5, "b", (1, 9, 11, 8), "int8", Q),
    ]
    ops = [
        Operator(0, "RESIZE_BILINEAR", (0, 1), (2,), {"align_corners": False, "half_pixel_centers": True}),
        Operator(1, "RESIZE_BILINEAR", (3, 4), (5,), {"align_corners": True, "half_pixel_centers": False}),
    ]
    return Graph(t, ops, (0, 3), (2, 5), name="two_resizes")


@pytest.mark.emulator
def test_fast_bilinear_firmware_is_bit_exact_with_tflm(tmp_path):
    board = load_board("nucleo-f746")
    graph = two_resizes()
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, size=graph.tensor(i).shape, dtype=np.int8) for i in graph.inputs]
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core))
    assert [c.kernel for c in compiled.calls].count("resize_bilinear_s8_dsp") == 2
    got = TwinFirmware(tmp_path, board).run(compiled, xs)
    wanted = single_op.run_tflm(graph, xs)
    for k, out in enumerate(graph.outputs):
        want = np.asarray(wanted[k])
        np.testing.assert_array_equal(got[k].reshape(want.shape), want, err_msg=graph.tensor(out).name)
