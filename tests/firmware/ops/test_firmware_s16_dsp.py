"""The DSP kernels of the 16x8 CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV (SXTB16 + SMLALD), of the 16x8
DEPTHWISE_CONV_2D (SXTB16 + SMLAxy) and of the int8 TRANSPOSE_CONV (SXTAB16 + SMLAD) in firmware on nucleo-f746's
emulated Cortex-M7, the real instructions: a 16x8 chain through conv2d_s16_dsp, conv2d_s16_b32_dsp,
transpose_conv_s16_dsp, fully_connected_s16_dsp and fully_connected_s16_b32_dsp, a 16x8 depthwise chain through
depthwise_conv2d_s16_dsp's three forms (depth multipliers 1, 2, 4), and an int8 transpose convolution (builds of
one tree), bit-exact with TFLM; the two 16x8 chains again with negative and zero channel scales (negative and zero
multipliers in every DSP kernel)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_graph
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import run_tflm
from tests.support.s16_dsp_models import chain_graph, dw_chain_graph, model_input, tconv_s8_graph, with_signed_scales
from tests.support.twin_firmware import TwinFirmware

FAST = {
    "s16_dsp_chain": ["conv2d_s16_dsp", "conv2d_s16_b32_dsp", "transpose_conv_s16_dsp", "fully_connected_s16_dsp",
                      "fully_connected_s16_b32_dsp"],
    "tconv_s8_dsp": ["transpose_conv_s8_dsp"],
    "dw16_dsp_chain": ["depthwise_conv2d_s16_dsp"] * 3,
}
FAST["s16_dsp_chain_signed"] = FAST["s16_dsp_chain"]
FAST["dw16_dsp_chain_signed"] = FAST["dw16_dsp_chain"]


@pytest.mark.emulator
def test_dsp_conv_fc_depthwise_and_transpose_conv_kernels_in_the_firmware_equal_tflm(tmp_path):
    board = load_board("nucleo-f746")
    twin = TwinFirmware(tmp_path, board)
    signed = (with_signed_scales(chain_graph()), with_signed_scales(dw_chain_graph()))
    for graph in (chain_graph(), dw_chain_graph(), tconv_s8_graph(), *signed):
        model = write_tflite(graph)
        x = model_input(graph)
        compiled = compile_graph(graph, model, Target(board.core), use_cost_model=False)
        fast = [c for c in compiled.calls if c.kernel.endswith("_dsp")]
        assert [c.kernel for c in fast] == FAST[graph.name]
        if graph.name.endswith("_signed"):
            mults = [{a.role: a.data for a in c.consts}["mult"] for c in fast]
            assert all((m < 0).any() and (m == 0).any() and (m > 0).any() for m in mults)
        (got,) = twin.run(compiled, [x])
        (want,) = run_tflm(model, [x], graph)
        np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=graph.name)
        assert len(np.unique(want)) > want.size // 4
