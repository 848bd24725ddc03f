"""The audio preprocessor's tail (after SignalEnergy; tests/support/audio_front_end.py) built into firmware for
the nucleo-f746 twin (Cortex-M7 with FPU) and run in QEMU over the 49 frames of the 'yes' clip, one invoke per
frame with the noise estimate kept in model_state: bit for bit TFLite Micro's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.targets.boards import load_board
from tests.support.audio_front_end import tail_case
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


@pytest.mark.emulator
def test_front_end_tail_firmware_is_bit_exact_with_tflm(tmp_path: Path):
    case = tail_case()
    model = tmp_path / "preprocessor_tail.tflite"
    model.write_bytes(case.model)
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    compiled = result.compiled
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for k, (inputs, want) in enumerate(zip(case.inputs, case.wanted, strict=True)):
            raw, _ = emu.link.infer([np.ascontiguousarray(x) for x in inputs])
            got = np.frombuffer(raw[0], dtype=np.uint32)
            np.testing.assert_array_equal(got, want.reshape(-1).view(np.uint32), err_msg=f"frame {k}")
