"""TFLM's whole audio front end (tflm_audio_preprocessor_float: Window, FFT, Energy, filter bank, spectral
subtraction, PCAN, log) in the emulated firmware through `codegen run --sequence`: the 49 frames of each golden
clip invoked in order with the noise estimate carried give TFLM's 49 feature rows bit for bit; with RESET
between the frames they do not (the state matters)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tools.build import EMULATED_DIR
from tools.cli import main
from tools.link.emulator import Emulator

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


@pytest.fixture(scope="module")
def preprocessor(shared_models: Path) -> Path:
    path = shared_models / "tflm_audio_preprocessor_float.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.emulator
def test_both_clips_frame_by_frame_equal_tflm_and_need_the_state(preprocessor: Path, shared_models: Path,
                                                                  tmp_path: Path) -> None:
    build = tmp_path / "build"
    for clip in ("yes", "no"):
        golden = np.load(shared_models / "vectors" / f"tflm_audio_preprocessor_float__{clip}_1000ms.npz")
        frames, want = golden["in0"], golden["out0"]
        assert frames.shape == (49, 1, 480)
        np.save(tmp_path / f"{clip}.npy", frames)
        args = ["run", "--board", "nucleo-f746", "--emulate", "--model", str(preprocessor), "--sequence",
                "--input", str(tmp_path / f"{clip}.npy"), "--output", str(tmp_path / f"{clip}_out.npy")]
        # Each run starts a fresh QEMU: the state starts at zero, as the golden clips were made.
        assert main([*args, "--out", str(build)]) == 0
        got = np.load(tmp_path / f"{clip}_out.npy")
        assert got.shape == (49, 40) and got.dtype == np.float32  # (N, *output shape): the output is (40,)
        np.testing.assert_array_equal(got.reshape(49, 40), want.reshape(49, 40), err_msg=clip)

    golden = np.load(shared_models / "vectors" / "tflm_audio_preprocessor_float__yes_1000ms.npz")
    with Emulator(build / EMULATED_DIR / "firmware.elf") as emu:
        fresh = []
        for frame in golden["in0"][:8]:
            emu.link.reset_state()
            raw, _ = emu.link.infer([frame])
            fresh.append(np.frombuffer(raw[0], dtype=np.float32))
    fresh = np.stack(fresh)
    want = golden["out0"].reshape(49, 40)[:8]
    np.testing.assert_array_equal(fresh[0], want[0])  # the first frame starts from the reset state anyway
    changed = [k for k in range(1, 8) if not np.array_equal(fresh[k], want[k])]
    assert len(changed) >= 6, f"only frames {changed} depend on the carried noise estimate"
