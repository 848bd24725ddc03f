"""`codegen run --emulate` on the SSD-like detector (tests/support/ssd_model.py): the firmware on nucleo-f746's
emulated twin returns three outputs of different dtypes and shapes (float32 boxes, int8 class logits, float32
scores), prints them in graph order and saves each to its --output, bit-exact with TFLite Micro; the build report
lists the outputs in the same order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from tests.support.model_factory import run_tflm
from tests.support.ssd_model import ssd_graph, ssd_input
from tools.cli import main


@pytest.mark.emulator
def test_codegen_run_returns_mixed_float_and_int8_outputs_bit_exact(tmp_path, capsys):
    graph, x = ssd_graph(), ssd_input()
    model = tmp_path / "ssd.tflite"
    model.write_bytes(write_tflite(graph))
    np.save(tmp_path / "x.npy", x)
    outputs = [tmp_path / f"out{i}.npy" for i in range(3)]
    argv = ["run", "--board", "nucleo-f746", "--model", str(model), "--emulate", "--input", str(tmp_path / "x.npy"),
            "--out", str(tmp_path / "build")]
    for path in outputs:
        argv += ["--output", str(path)]
    assert main(argv) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("output ")]
    assert [line.split(":")[0] for line in printed] == [
        "output 0 float32[1, 160, 4]", "output 1 int8[1, 160, 3]", "output 2 float32[1, 160, 3]"]
    want = run_tflm(model.read_bytes(), [x], graph)
    for path, w in zip(outputs, want, strict=True):
        got = np.load(path)
        assert got.dtype == w.dtype and got.shape == w.shape
        np.testing.assert_array_equal(got, w)
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    assert [(o["name"], o["dtype"], o["shape"], o["bytes"]) for o in report["outputs"]] == [
        ("boxes", "float32", [1, 160, 4], 2560), ("class_logits", "int8", [1, 160, 3], 480),
        ("scores", "float32", [1, 160, 3], 1920)]
    assert report["inputs"] == [{"name": "input", "dtype": "int8", "shape": [1, 16, 16, 3], "bytes": 768}]
