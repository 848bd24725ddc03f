"""Patch-based stage 1 with the newly patchable operators, in the emulated firmware (nucleo-f746's twin, every exact
fast kernel): an int8 chain (LEAKY_RELU, PRELU, SUB of a depthwise branch, LOGISTIC, ADD of a per-channel
constant, SQUARED_DIFFERENCE) and a 16x8 chain (QUANTIZE to int16, CONV_2D, LEAKY_RELU, ADD, MUL by a constant,
AVERAGE_POOL_2D, DEPTHWISE_CONV_2D on int16) run in patches and in cached bands split after the stride-2
depthwise convolution; every firmware output equals tflite-runtime's reference kernels (TFLM's pre-release
Python build rounds LEAKY_RELU differently on rare values: codegen/kernels/activation/leaky_relu.py)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.schedule.search import Schedule
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import run_builtin_ref
from tests.support.patch_op_models import int8_model, int16_model, model_input
from tests.support.twin_firmware import TwinFirmware

CHAINS = {
    "int8": lambda: int8_model("LEAKY_RELU", 3, "PRELU", "SUB", "LOGISTIC", "ADD_CONST", "SQUARED_DIFFERENCE"),
    "int16": lambda: int16_model("LEAKY_RELU", 3, "ADD", "MUL_CONST", "AVERAGE_POOL_2D"),
}


def _schedule(graph, cached: bool) -> Schedule:
    """Stage 1 up to the stride-2 depthwise convolution: 2x2 patches, or 4 cached bands x 2 strips."""
    calls = lower_graph(fuse_pads(graph))
    dw = max(k for k, c in enumerate(calls) if c.kernel.startswith("depthwise_conv2d"))
    return Schedule(dw, (4, 2) if cached else (2, 2), "dw", 0, 0, 0, cached=cached)


@pytest.mark.emulator
def test_patched_new_operators_in_the_firmware_equal_the_reference_kernels(tmp_path):
    board = load_board("nucleo-f746")
    twin = TwinFirmware(tmp_path, board)
    for (dtype, make), cached in zip(CHAINS.items(), (False, True), strict=True):
        graph = make()
        model = write_tflite(graph)
        x = model_input(graph)
        (want,) = run_builtin_ref(model, [x])
        assert len(np.unique(want)) > want.size // 8
        schedule = _schedule(graph, cached)
        compiled = compile_graph(graph, model, Target(board.core), use_cost_model=False, schedule=schedule)
        dw_op = next(op.index for op in graph.operators if op.op_type == "DEPTHWISE_CONV_2D" and
                     op.options["stride_h"] == 2)
        pieces = [sum(c.op_index == i for c in compiled.calls) for i in range(dw_op + 1)]
        assert min(pieces) > 1, pieces  # every stage-1 operator ran in patches or bands
        (got,) = twin.run(compiled, [x])
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"{dtype} {schedule.describe()}")
