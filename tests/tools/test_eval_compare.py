"""`codegen eval --compare OTHER_BUILD_DIR` (issue 16): the same samples on two builds in QEMU, side by side.
One small conv chain built twice (int8, and --mixed-precision with every low-bit map at 2 bits), no measuring
run: int8 against itself agrees fully; mixed against int8 reports the top-1 agreement and bit-identical share
that the NumPy references (run_mixed, run_reference) give on the same inputs; refusals are one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codegen.emit.c_source import model_hash
from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.quantize import mixed_precision as mp
from codegen.reference_executor import run_reference
from tests.support.model_factory import conv_chain
from tools.cli import main

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                       reason="arm-none-eabi-gcc or qemu-system-arm missing"),
]
SAMPLES = 24


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The int8 and the mixed-precision build of the chain, a labelled dataset, and the model."""
    root = tmp_path_factory.mktemp("compare")
    model = root / "chain.tflite"
    model.write_bytes(write_tflite(conv_chain(8, (3, 3, 1), scale=4.0)))
    rng = np.random.default_rng(0)
    np.savez(root / "calib.npz", x=rng.integers(-128, 128, (6, 8, 8, 1)).astype(np.int8))
    np.savez(root / "data.npz", x=rng.integers(-128, 128, (SAMPLES, 8, 8, 1)).astype(np.int8),
             y=rng.integers(0, 64, SAMPLES))
    common = ["build", "--board", "nucleo-f746", "--model", str(model), "--no-measure"]
    assert main([*common, "--out", str(root / "int8")]) == 0
    assert main([*common, "--out", str(root / "mixed"), "--mixed-precision", "--calib", str(root / "calib.npz"),
                 "--outlier-percentile", "50", "--mp-lambda", "0"]) == 0
    return {"int8": root / "int8", "mixed": root / "mixed", "data": root / "data.npz", "model": model}


def _eval(builds: dict[str, Path], first: str, second: str | Path, *extra: str) -> int:
    other = builds[second] if isinstance(second, str) else second
    return main(["eval", str(builds[first]), "--emulate", "--data", str(builds["data"]), "--compare", str(other),
                 *extra])


def test_int8_against_itself_agrees_fully(builds, tmp_path: Path, capsys):
    report = tmp_path / "eval.json"
    assert _eval(builds, "int8", "int8", "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert f"top-1 agreement  {SAMPLES}/{SAMPLES} = 100.00%" in out
    assert f"bit-identical    {SAMPLES}/{SAMPLES} samples" in out
    info = json.loads(report.read_text())
    other = info["compare"]["other"]
    assert info["precision"] == other["precision"] == "int8"
    assert info["accuracy"] == other["accuracy"] and info["accuracy"]["total"] == SAMPLES
    assert info["mean_instructions"] == other["mean_instructions"] > 0


def test_mixed_against_int8_agreement_equals_the_numpy_references(builds, tmp_path: Path, capsys):
    report = tmp_path / "eval.json"
    assert _eval(builds, "mixed", "int8", "--jobs", "2", "--report", str(report)) == 0
    out = capsys.readouterr().out
    info = json.loads(report.read_text())
    # the mixed firmware equals run_mixed bit for bit (eval's exit 0), the int8 one run_reference
    assert info["agreement"]["bit_exact"] == info["compare"]["other"]["agreement"]["bit_exact"] == SAMPLES
    assert "run_mixed" in info["agreement"]["reference"]

    block = json.loads((builds["mixed"] / "report.json").read_text())["mixed_precision"]
    graph = fuse_pads(conv_chain(8, (3, 3, 1), scale=4.0))
    calls = lower_graph(graph)
    stage = mp.patch_stage(graph, calls, block["schedule"]["split_call"], tuple(block["schedule"]["grid"]))
    bits = dict(zip(stage.candidates, block["bits"].values(), strict=True))
    plan = mp.MixedPrecisionPlan(bits, dict(zip(stage.candidates, block["int8_thresholds"].values(), strict=True)))
    assert set(bits.values()) == {2}
    data = np.load(builds["data"])
    top1 = identical = 0
    for x in data["x"]:
        mixed = mp.run_mixed(stage, plan, [x.reshape(1, 8, 8, 1)])[0][0].reshape(-1)
        int8 = run_reference(graph, [x.reshape(1, 8, 8, 1)], calls)[0].reshape(-1)
        top1 += int(np.argmax(mixed) == np.argmax(int8))
        identical += int(np.array_equal(mixed, int8))
    assert 0 < top1 < SAMPLES and identical < SAMPLES  # the low-bit path changed some argmaxes
    assert info["compare"]["top1_agreement"]["same"] == top1
    assert info["compare"]["bit_identical"]["same"] == identical
    assert info["precision"] == "mixed precision (bits 2)" and info["compare"]["other"]["precision"] == "int8"
    assert info["schedule"].startswith("patches ") and " up to " in info["schedule"]
    assert f"top-1 agreement  {top1}/{SAMPLES} = {100 * top1 / SAMPLES:.2f}%" in out
    accuracies = [f"{r['accuracy']['correct']}/{SAMPLES}" for r in (info, info["compare"]["other"])]
    row = next(line for line in out.splitlines() if line.startswith("accuracy (top-1)"))
    assert all(a in row for a in accuracies)
    assert "mixed precision (bits 2)" in out and "int8" in out


def _one_line(capsys, phrase: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"codegen: {phrase}") and "\n" not in err, err


def test_another_input_shape_is_refused(builds, tmp_path: Path, capsys):
    # a copy of the int8 build whose model (and report hash) take 6x6 inputs: refused before anything runs
    other = tmp_path / "other"
    shutil.copytree(builds["int8"], other)
    data = write_tflite(conv_chain(6, (3, 3, 1), scale=4.0))
    (other / "model.tflite").write_bytes(data)
    report = json.loads((other / "report.json").read_text())
    report["model_hash"] = model_hash(data).hex()
    (other / "report.json").write_text(json.dumps(report))
    assert _eval(builds, "int8", other) == 1
    _one_line(capsys, "--compare needs two builds with the same inputs and outputs")


def test_port_and_missing_dir_are_refused(builds, tmp_path: Path, capsys):
    assert main(["eval", str(builds["int8"]), "--port", "socket://127.0.0.1:9", "--data", str(builds["data"]),
                 "--compare", str(builds["mixed"])]) == 1
    _one_line(capsys, "--compare runs both builds on their emulated twins")
    assert _eval(builds, "int8", tmp_path / "missing") == 1
    _one_line(capsys, f"{tmp_path / 'missing'} is not a codegen build directory")
