"""Error paths of `run --sequence` and `eval --stateful`: one `codegen: ...` line, a non-zero exit, nothing built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from tests.codegen.kernels.sequence.test_svdf_model import _two_svdfs
from tools.cli import main


@pytest.fixture(scope="module")
def svdf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "two_svdfs.tflite"
    path.write_bytes(write_tflite(_two_svdfs()))
    return path


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], phrase: str, code: int = 1) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codegen: ") and phrase in err[0], err


@pytest.mark.parametrize(("array", "phrase"), [
    (np.zeros(24, np.int8), "has shape (24,), expected (N, 1, 24)"),
    (np.zeros((3, 1, 25), np.int8), "has shape (3, 1, 25), expected (N, 1, 24)"),
    (np.zeros((0, 1, 24), np.int8), "has shape (0, 1, 24)"),
    (np.zeros((3, 1, 24), np.int16), "is int16, the model takes int8"),
])
def test_run_sequence_refuses_wrong_inputs(svdf_model: Path, tmp_path: Path, array: np.ndarray, phrase: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", array)
    _fails(["run", "--board", "nucleo-f746", "--emulate", "--model", str(svdf_model), "--sequence",
            "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "b")], capsys, phrase)
    assert not (tmp_path / "b").exists()


def test_eval_stateful_refuses_several_devices(tmp_path: Path, svdf_model: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    build = tmp_path / "b"  # what eval reads before starting anything: report.json and the model
    build.mkdir()
    (build / "report.json").write_text('{"model": "two_svdfs", "board": "nucleo-f746"}')
    (build / "model.tflite").write_bytes(svdf_model.read_bytes())
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 24), np.int8))
    _fails(["eval", str(build), "--emulate", "--jobs", "2", "--stateful", "--data", str(tmp_path / "d.npz")], capsys,
           "--stateful runs the samples in order on one device")


def test_run_model_index_out_of_range(svdf_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 24), np.int8))
    for models, index in (([svdf_model, svdf_model], 2), ([svdf_model], 1), ([svdf_model, svdf_model], -1)):
        argv = ["run", "--board", "nucleo-f746", "--emulate", "--input", str(tmp_path / "x.npy"),
                "--model-index", str(index), "--out", str(tmp_path / "b")]
        for model in models:
            argv += ["--model", str(model)]
        _fails(argv, capsys, f"--model-index {index}: the firmware carries {len(models)} model(s), indices 0..")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("extra", "phrase"), [
    (["--sram-budget", "64k"], "--sram-budget, --stream-input and --plot take one model"),
    (["--stream-input"], "--sram-budget, --stream-input and --plot take one model"),
    (["--calib", "c.npz"], "several --model take int8 .tflite models"),
])
def test_build_several_models_refuses_single_model_options(svdf_model: Path, tmp_path: Path, extra: list[str],
                                                           phrase: str, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["build", "--board", "nucleo-f746", "--model", str(svdf_model), "--model", str(svdf_model),
            "--out", str(tmp_path / "b"), *extra], capsys, phrase)
    assert not (tmp_path / "b").exists()


def test_eval_refuses_a_several_model_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = tmp_path / "b"
    build.mkdir()
    (build / "report.json").write_text('{"models": [{"model": "a"}, {"model": "b"}], "board": "nucleo-f746"}')
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 24), np.int8))
    _fails(["eval", str(build), "--emulate", "--data", str(tmp_path / "d.npz")], capsys,
           "is a firmware with 2 models: eval takes a one-model build")
