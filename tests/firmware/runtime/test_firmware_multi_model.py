"""Several models in one firmware (`codegen build --model A --model B`): tflm_keyword_scrambled (SVDF, state) and
tflm_micro_speech_quantized (int8 CNN), each bit-exact with its golden vector, addressed by index over the
protocol; their activations share one arena no larger than the larger model's need."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import DeviceError
from codegen.ir import NUMPY_DTYPES
from codegen.pipeline import compile_file, read_model
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_catalog import expected_output
from tools.build import EMULATED_DIR
from tools.cli import main
from tools.link.emulator import Emulator

MODELS = ("tflm_keyword_scrambled", "tflm_micro_speech_quantized")

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


@pytest.fixture(scope="module")
def two_model_build(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in MODELS:
        if not (shared_models / f"{name}.tflite").is_file():
            pytest.skip(f"{name}.tflite is absent from {shared_models}")
    out = tmp_path_factory.mktemp("two") / "build"
    argv = ["build", "--board", "nucleo-f746", "--out", str(out)]
    for name in MODELS:
        argv += ["--model", str(shared_models / f"{name}.tflite")]
    assert main(argv) == 0
    return out


def _infer(link, graph, data) -> np.ndarray:
    raw, _ = link.infer([data["in0"]])
    out = graph.tensor(graph.outputs[0])
    return np.frombuffer(raw[0], dtype=NUMPY_DTYPES[out.dtype]).reshape(data["out0"].shape)


@pytest.mark.emulator
def test_both_models_bit_exact_in_one_firmware(two_model_build: Path, shared_models: Path) -> None:
    graphs = [read_model(shared_models / f"{name}.tflite")[0] for name in MODELS]
    vectors = [np.load(shared_models / "vectors" / f"{name}.npz") for name in MODELS]
    with Emulator(two_model_build / EMULATED_DIR / "firmware.elf") as emu:
        link = emu.link
        assert link.hello().model_name == graphs[0].name  # no index: model 0, as for one model
        for k in (1, 0, 1):
            info = link.hello(k)
            assert (info.model_index, info.model_count, info.model_name) == (k, 2, graphs[k].name)
            link.reset_state()
            np.testing.assert_array_equal(_infer(link, graphs[k], vectors[k]),
                                          expected_output(MODELS[k], vectors[k]["out0"]))
        # Model 1's inputs were written last: an INVOKE naming model 0 is refused (the arena is shared).
        link.model_index = 0
        with pytest.raises(DeviceError, match="NOT_READY: HELLO this model before writing its inputs"):
            link.invoke()
        with pytest.raises(DeviceError, match="BAD_INDEX: no such model"):
            link.hello(2)


def test_the_models_share_the_arena(two_model_build: Path, shared_models: Path) -> None:
    report = json.loads((two_model_build / "report.json").read_text())
    board = load_board("nucleo-f746")
    needs = [compile_file(shared_models / f"{name}.tflite", Target(board.core), board.sram.size).plan.arena_bytes
             for name in MODELS]
    assert [m["arena_bytes"] for m in report["models"]] == needs
    assert report["arena_bytes"] == max(needs) < sum(needs)
    assert report["models"][0]["state_bytes"] > 0 and report["models"][1]["state_bytes"] == 0
    assert all(m["instructions_per_inference"] > 0 for m in report["models"])
