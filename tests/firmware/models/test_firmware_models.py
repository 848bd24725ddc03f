"""Every tier A and B model of ../shared/models, built into firmware and run on the emulated board, matches its
golden output (TFLite Micro's) bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.ir import NUMPY_DTYPES
from codegen.targets.boards import load_board
from tests.support.model_catalog import TIER_AB, expected_output
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


@pytest.mark.emulator
@pytest.mark.parametrize("model", sorted(TIER_AB))
def test_firmware_output_is_bit_exact_with_tflm(model, shared_models, tmp_path):
    board = load_board("nucleo-f746")
    result = build(shared_models / f"{model}.tflite", board, tmp_path / "build", measure_run=False)
    graph = result.compiled.graph
    report = result.report()
    assert report["flash_weights_bytes"] > 0 and report["arena_bytes"] > 0
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(result.compiled.hash8, graph.name)
        for vector in TIER_AB[model]:
            data = np.load(shared_models / "vectors" / f"{vector}.npz")
            inputs = [data[f"in{i}"] for i in range(len(graph.inputs))]
            raw, stats = emu.link.infer(inputs)
            out = graph.tensor(graph.outputs[0])
            got = np.frombuffer(raw[0], dtype=NUMPY_DTYPES[out.dtype]).reshape(data["out0"].shape)
            want = expected_output(vector, data["out0"])
            np.testing.assert_array_equal(got, want, err_msg=f"{vector}: firmware differs from TFLM")
            assert stats.ticks > 0 and 0 < stats.stack_high_water < stats.stack_bytes


def test_build_measures_in_emulator(shared_models, tmp_path: Path):
    board = load_board("nucleo-f746")
    result = build(shared_models / "tflm_network_tester_model.tflite", board, tmp_path / "b")
    m = result.measurement
    assert m is not None and m.instructions == m.ticks * 40 > 0
    assert 0 < m.stack_high_water < board.stack_bytes
    assert (tmp_path / "b" / "report.json").is_file()


def test_report_counts_fast_kernel_scratch(shared_models, tmp_path: Path):
    """Speed must not cost SRAM silently: the report gives the fast kernels' scratch and the portable arena."""
    result = build(shared_models / "mlperf_vww_96_int8.tflite", load_board("nucleo-f746"), tmp_path / "b",
                   measure_run=False)
    report = result.report()
    compiled = result.compiled
    own = [c.scratch_bytes for c in compiled.calls if c.scratch_bytes]
    assert report["scratch"] == {"calls": len(own), "largest_bytes": max(own, default=0),
                                 "borrowing_calls": sum(c.kernel == "conv2d_s8_dsp_borrow" for c in compiled.calls)}
    assert report["scratch"]["borrowing_calls"] > 0
    # vww's fast convolutions need no SRAM of their own beyond what the portable kernels' plan holds.
    assert report["arena_portable_bytes"] == report["arena_bytes"] == 55_296
    assert (tmp_path / "b" / "firmware.hex").is_file() and (tmp_path / "b" / "platformio.ini").is_file()
