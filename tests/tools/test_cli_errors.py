"""Every error path of the CLI, run as a real process: one clear line per problem, a non-zero exit code, and
no output directory left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor

CODEGEN = [sys.executable, "-m", "tools.cli"]
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CODEGEN, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def build_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--board", "nucleo-f746", "--model", str(model), "--out", str(out), *extra]


def _fc_model(in_features: int, out_features: int) -> bytes:
    """One int8 FULLY_CONNECTED layer with in x out weights (i.e. that many bytes of flash)."""
    q = Quantization((0.02,), (0,))
    rng = np.random.default_rng(0)
    tensors = [
        Tensor(0, "x", (1, in_features), "int8", q),
        Tensor(1, "w", (out_features, in_features), "int8", Quantization((0.01,), (0,)),
               rng.integers(-127, 128, (out_features, in_features), dtype=np.int8)),
        Tensor(2, "y", (1, out_features), "int8", Quantization((0.5,), (0,))),
    ]
    op = Operator(0, "FULLY_CONNECTED", (0, 1, -1), (2,), {"activation": "NONE", "weights_format": 0,
                                                          "keep_num_dims": False})
    return write_tflite(Graph(tensors, [op], (0,), (2,), name="fc"))


def _pad_model(hw: int) -> bytes:
    """PAD of a 1 x hw x hw x 4 int8 tensor: about 2 * 4 * hw^2 bytes of activations."""
    q = Quantization((0.02,), (0,))
    tensors = [
        Tensor(0, "x", (1, hw, hw, 4), "int8", q),
        Tensor(1, "pads", (4, 2), "int32", None, np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)),
        Tensor(2, "y", (1, hw + 2, hw + 2, 4), "int8", q),
    ]
    return write_tflite(Graph(tensors, [Operator(0, "PAD", (0, 1), (2,))], (0,), (2,), name="pad"))


def assert_clean_failure(result: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    assert first.startswith("codegen: ")


def test_truncated_model(tmp_path, shared_models):
    data = (shared_models / "mlperf_ic_resnet8_int8.tflite").read_bytes()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[: len(data) // 3])
    result = run_cli(*build_args(bad, tmp_path / "out"))
    assert_clean_failure(result, 2, "truncated")
    assert not (tmp_path / "out").exists()


def test_corrupt_and_foreign_files(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(os.urandom(4096))
    result = run_cli(*build_args(garbage, tmp_path / "out"))
    assert_clean_failure(result, 2, "not a TFLite flatbuffer")
    onnx = tmp_path / "net.onnx"
    onnx.write_bytes(b"\x08\x07")
    assert_clean_failure(run_cli(*build_args(onnx, tmp_path / "out")), 2, "unsupported model format")
    assert_clean_failure(run_cli(*build_args(tmp_path / "missing.tflite", tmp_path / "out")), 2, "cannot read")
    assert not (tmp_path / "out").exists()


def test_corrupted_offsets_are_refused(tmp_path, shared_models):
    """Flipping bytes inside the flatbuffer tables must give a one-line error, never a crash."""
    data = bytearray((shared_models / "tflm_hello_world_int8.tflite").read_bytes())
    rng = np.random.default_rng(7)
    for trial in range(12):
        corrupt = bytearray(data)
        for pos in rng.integers(8, 400, size=6):
            corrupt[pos] ^= 0xFF
        path = tmp_path / f"c{trial}.tflite"
        path.write_bytes(bytes(corrupt))
        result = run_cli(*build_args(path, tmp_path / "out", "--no-measure"))
        assert result.returncode in (0, 2), result.stderr
        assert "Traceback" not in result.stderr


def test_unsupported_ops_are_named_with_their_index(tmp_path, shared_models):
    result = run_cli(*build_args(shared_models / "tflm_person_detect_vela.tflite", tmp_path / "out"))
    assert_clean_failure(result, 2, "operator 0 (CUSTOM:ethos-u): unsupported custom op")
    result = run_cli(*build_args(shared_models / "mlperf_ic_pretrainedResnet.tflite", tmp_path / "out"))
    assert_clean_failure(result, 2, "operator 0 (CONV_2D)", "float32")
    assert not (tmp_path / "out").exists()


def test_model_too_large_for_flash_says_by_how_much(tmp_path):
    model = tmp_path / "big_fc.tflite"
    model.write_bytes(_fc_model(1100, 1000))  # 1.1 MB of weights for a 1 MB flash
    result = run_cli(*build_args(model, tmp_path / "out"))
    assert_clean_failure(result, 3, "does not fit", "FLASH by")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*")), "staging directory left behind"


def test_model_too_large_for_sram_says_by_how_much(tmp_path):
    model = tmp_path / "big_pad.tflite"
    model.write_bytes(_pad_model(200))  # 160 kB in + 165 kB out, both live: over 320 kB with the stack
    result = run_cli(*build_args(model, tmp_path / "out"))
    assert_clean_failure(result, 3, "does not fit", "RAM by")
    assert not (tmp_path / "out").exists()


def test_sram_budget_below_need_is_refused(tmp_path):
    model = tmp_path / "pad.tflite"
    model.write_bytes(_pad_model(32))
    result = run_cli(*build_args(model, tmp_path / "out", "--sram-budget", "8k"))
    assert_clean_failure(result, 3, "cannot run in 8,192 bytes of SRAM: the smallest peak any schedule reaches is")
    assert not (tmp_path / "out").exists()


def test_missing_toolchain_says_how_to_install(tmp_path, shared_models):
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    result = run_cli(*build_args(shared_models / "tflm_hello_world_int8.tflite", tmp_path / "out"), env=env)
    assert_clean_failure(result, 4, "arm-none-eabi-gcc not found", "apt-get install gcc-arm-none-eabi")
    assert not (tmp_path / "out").exists()


def test_unknown_board(tmp_path, shared_models):
    result = run_cli("build", "--board", "arduino-uno", "--model",
                     str(shared_models / "tflm_hello_world_int8.tflite"), "--out", str(tmp_path / "o"))
    assert_clean_failure(result, 1, "unknown board 'arduino-uno'", "nucleo-f746")


def test_out_dir_that_is_not_a_build_is_never_overwritten(tmp_path, shared_models):
    precious = tmp_path / "src"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = run_cli(*build_args(shared_models / "tflm_hello_world_int8.tflite", precious))
    assert_clean_failure(result, 1, "is not a codegen build directory")
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.emulator
def test_run_emulate_prints_and_saves_outputs(tmp_path, shared_models):
    data = np.load(shared_models / "vectors" / "tflm_simple_add_model.npz")
    np.save(tmp_path / "a.npy", data["in0"])
    np.save(tmp_path / "b.npy", data["in1"])
    result = run_cli("run", "--board", "nucleo-f746", "--emulate", "--model",
                     str(shared_models / "tflm_simple_add_model.tflite"), "--input", str(tmp_path / "a.npy"),
                     "--input", str(tmp_path / "b.npy"), "--output", str(tmp_path / "y.npy"))
    assert result.returncode == 0, result.stderr
    assert "instructions per inference" in result.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), data["out0"])


def test_run_rejects_inputs_of_the_wrong_shape_or_count(tmp_path, shared_models):
    np.save(tmp_path / "x.npy", np.zeros((1, 5), np.int8))
    model = str(shared_models / "tflm_hello_world_int8.tflite")
    result = run_cli("run", "--board", "nucleo-f746", "--emulate", "--model", model, "--input", str(tmp_path / "x.npy"))
    assert_clean_failure(result, 1, "has shape (1, 5), the model takes (1, 1)")
    np.save(tmp_path / "f.npy", np.zeros((1, 1), np.float32))
    result = run_cli("run", "--board", "nucleo-f746", "--emulate", "--model", model, "--input", str(tmp_path / "f.npy"))
    assert_clean_failure(result, 1, "is float32, the model takes int8")
    result = run_cli("run", "--board", "nucleo-f746", "--emulate", "--model", model,
                     "--input", str(tmp_path / "f.npy"), "--input", str(tmp_path / "f.npy"))
    assert_clean_failure(result, 1, "takes 1 input(s); 2 --input given")
