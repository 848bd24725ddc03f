"""The trained example end to end: scripts/train_digits.py trains the digits CNN (fewer epochs here), `codegen
build` quantizes it for nucleo-f746 from its .pt2 and calibration set, and `codegen eval` runs held-out digits
on the emulated board. The int8 model's held-out accuracy is within 1 point of the float model's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.model_factory import run_builtin_ref
from tools.cli import main

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from scripts.train_digits import train  # noqa: E402

EPOCHS = 6  # the README demo trains 15


@pytest.mark.emulator
def test_trained_digits_cnn_builds_and_keeps_its_accuracy(tmp_path, capsys):
    result = train(tmp_path / "digits", epochs=EPOCHS, log=False)
    assert result.float_accuracy >= 0.93
    build = tmp_path / "digits" / "fw"
    assert main(["build", "--board", "nucleo-f746", "--model", str(result.model), "--calib", str(result.calib),
                 "--out", str(build), "--no-measure"]) == 0
    assert "float vs int8 top-1 agreement" in capsys.readouterr().out

    # Accuracy of the int8 model on every held-out digit, under tflite-runtime's reference kernels (which the
    # firmware matches bit for bit: checked on the emulated board below).
    test = np.load(result.test)
    model = (build / "model.tflite").read_bytes()
    scores = np.concatenate([run_builtin_ref(model, [x[None]])[0] for x in test["x"]])
    int8_accuracy = float(np.mean(scores.argmax(axis=1) == test["y"]))
    assert abs(int8_accuracy - result.float_accuracy) <= 0.01, (int8_accuracy, result.float_accuracy)

    subset = tmp_path / "subset.npz"
    np.savez(subset, x=test["x"][:40], y=test["y"][:40])
    report = tmp_path / "eval.json"
    assert main(["eval", str(build), "--emulate", "--data", str(subset), "--jobs", "2", "--report", str(report)]) == 0
    evaluation = json.loads(report.read_text())
    assert evaluation["agreement"]["bit_exact"] == 40
    assert evaluation["accuracy"]["correct"] == int(np.sum(scores[:40].argmax(axis=1) == test["y"][:40]))
