"""A MobileNetV2 in the form a PyTorch conversion gives it (NCHW int8 input, TRANSPOSE to NHWC, explicit PADs)
in the emulated firmware: patch and band schedules with the layout TRANSPOSE folded into stage 1 (windows
copied straight from the held NCHW input, or each channel's row pieces asked of model_read_input() when
streamed) equal per-layer execution bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.converted_form import as_converted, as_reshaped
from codegen.frontend.model_zoo import mobilenet_v2
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import split_points
from codegen.schedule.search import Schedule
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.patch_op_models import int8_model
from tests.support.single_op import run_tflm
from tests.support.twin_firmware import TwinFirmware


@pytest.mark.emulator
def test_converted_mobilenet_v2_patch_schedules_match_per_layer_in_firmware(tmp_path):
    graph = as_converted(mobilenet_v2(0.35, 48, num_classes=10))
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    points = split_points(fused, calls)
    x = np.random.default_rng(5).integers(-128, 128, size=fused.tensor(fused.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(fused, [x], calls)[0]
    twin = TwinFirmware(tmp_path / "twin", load_board("mps2plus-an500"))
    target = Target("cortex-m7")
    np.testing.assert_array_equal(twin.run(compile_graph(graph, b"", target), [x])[0], expected)
    schedules = [
        Schedule(points[2], (2, 2), "", 0, 0, 0),
        Schedule(points[-1], (6, 2), "", 0, 0, 0, cached=True),
        Schedule(points[-1], (6, 3), "", 0, 0, 0, cached=True, streamed=True),
        Schedule(points[4], (12, 1), "", 0, 0, 0, cached=True, streamed=True, banded=True),
    ]
    for schedule in schedules:
        compiled = compile_graph(graph, b"", target, schedule=schedule)
        kernels = {c.kernel for c in compiled.calls}
        assert ("read_input_planar" if schedule.streamed else "copy_window_planar") in kernels
        np.testing.assert_array_equal(twin.run(compiled, [x])[0], expected, err_msg=schedule.describe())



@pytest.mark.emulator
def test_folded_input_reshape_matches_tflm_in_firmware(tmp_path):
    """A flat input RESHAPEd to NHWC (or to NCHW, then the layout TRANSPOSE): the reshape folded into stage 1,
    held (aliased, read whole) and streamed (each band's rows asked of model_read_input() at their byte offsets
    in the flat input), equal to TFLite Micro in the emulated firmware (one twin tree: the library builds once)."""
    twin = TwinFirmware(tmp_path / "twin", load_board("mps2plus-an500"))
    target = Target("cortex-m7")
    runs = (("flat", False), ("flat", True), ("flat_nchw", True))
    for form, streamed in runs:
        graph = as_reshaped(int8_model("RELU"), form)
        fused = fuse_pads(graph)
        calls = lower_graph(fused)
        x = np.random.default_rng(6).integers(-128, 128, size=fused.tensor(fused.inputs[0]).shape, dtype=np.int8)
        expected = run_tflm(graph, [x])[0]
        np.testing.assert_array_equal(run_reference(fused, [x], calls)[0], expected)
        split = split_points(fused, calls)[-1]
        schedule = (Schedule(split, (4, 2), "", 0, 0, 0, cached=True, streamed=True) if streamed
                    else Schedule(split, (2, 2), "", 0, 0, 0))
        compiled = compile_graph(graph, b"", target, schedule=schedule)
        kernels = [c.kernel for c in compiled.calls]
        reader = "read_input_planar" if form == "flat_nchw" else "read_input_window"
        assert (reader in kernels) == streamed and ("copy_bytes" in kernels) != streamed
        np.testing.assert_array_equal(twin.run(compiled, [x])[0], expected, err_msg=f"{form} {schedule.describe()}")
