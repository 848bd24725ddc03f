"""`codegen sweep`: 3 budgets x 2 boards as Ray tasks on a real local Ray instance (2 CPUs), every figure equal to
a single `codegen build` of the same combination; the local process pool; the Pareto marking; refusals."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from tests.tools.test_eval import needs_toolchain
from tools import cli
from tools.sweep import mark_pareto

ray = pytest.importorskip("ray", reason="Ray is the `cluster` extra that scripts/setup.sh installs")

REPO = Path(__file__).resolve().parents[2]
MODEL = "tflm_test_conv_model"  # small; 16k fits per-layer, 10k with cached bands, 4k not at all
BOARDS = ("nucleo-f746", "nucleo-l4r5zi")  # Cortex-M7 and Cortex-M4 twins: different instruction counts
BUDGETS = (4096, 10240, 16384)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "sweep.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.emulator
@needs_toolchain
def test_sweep_on_ray_matches_single_builds(local_ray: None, shared_models: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = shared_models / f"{MODEL}.tflite"
    # Two single `codegen build` runs, real processes, meanwhile: the figures the sweep must reproduce.
    singles = {board: subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "build", "--board", board, "--model", str(model), "--sram-budget",
         "10k", "--out", str(tmp_path / board)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)}) for board in BOARDS}
    out = tmp_path / "sweep"
    code = cli.main(["sweep", "--model", str(model), "--board", BOARDS[0], "--board", BOARDS[1], "--sram-budget",
                     ",".join(str(b) for b in BUDGETS), "--ray", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for board, process in singles.items():
        log = process.communicate(timeout=600)[0].decode()
        assert process.returncode == 0, f"{board}: {log}"

    rows = read_rows(out)
    assert [(r["model"], r["board"], int(r["sram_budget_bytes"])) for r in rows] == [
        (MODEL, b, s) for b in BOARDS for s in BUDGETS]
    assert list(rows[0]) == ["model", "board", "sram_budget_bytes", "stream_input", "status", "schedule",
                             "sram_used_bytes", "arena_bytes", "flash_bytes", "macs", "instructions", "pareto",
                             "reason"]
    by = {(r["board"], int(r["sram_budget_bytes"])): r for r in rows}
    for board in BOARDS:
        refused = by[board, 4096]
        assert refused["status"] == "refused" and refused["sram_used_bytes"] == refused["instructions"] == ""
        assert "4,096" in refused["reason"], refused["reason"]
        single = json.loads((tmp_path / board / "report.json").read_text())
        row = by[board, 10240]
        assert row["status"] == "built" and row["reason"] == ""
        assert row["schedule"].startswith("1 strips x 3 cached bands") and row["schedule"] != "per-layer"
        assert int(row["sram_used_bytes"]) == single["sram_used_bytes"]
        assert int(row["arena_bytes"]) == single["arena_bytes"]
        assert int(row["flash_bytes"]) == single["flash_bytes"]
        assert int(row["macs"]) == single["macs"]
        assert int(row["instructions"]) == single["instructions_per_inference"] > 0
        assert int(row["sram_used_bytes"]) <= 10240
        saved = json.loads((out / "reports" / f"{MODEL}-{board}-10k.json").read_text())
        assert saved["model_hash"] == single["model_hash"] and saved["schedule"] == single["schedule"]
        per_layer = by[board, 16384]
        assert per_layer["status"] == "built" and per_layer["schedule"] == "per-layer"
        # The trade-off the sweep exists to show: less SRAM under the tighter budget, more instructions.
        assert int(row["sram_used_bytes"]) < int(per_layer["sram_used_bytes"])
        assert int(row["instructions"]) > int(per_layer["instructions"])
    front = sorted((int(r["sram_used_bytes"]), int(r["instructions"])) for r in rows if r["pareto"] == "yes")
    assert len({sram for sram, _ in front}) >= 2  # a real front: each point buys speed with SRAM
    assert all(b[1] < a[1] for a, b in zip(front, front[1:], strict=False) if b[0] > a[0])
    assert all(r["pareto"] == "" for r in rows if r["status"] != "built")
    with Image.open(out / "pareto.png") as png:
        assert png.format == "PNG" and png.size[0] == 900 and png.size[1] >= 380
    assert "6/6" in captured.err and "wrote" in captured.out
    assert not list(out.glob(".sweep.partial-*"))


@needs_toolchain
def test_local_pool_reports_failures_by_row(shared_models: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without --ray, a process pool runs the rows; a model the compiler refuses fails its rows with the compiler's
    own reason, the sweep still writes its CSV, and exits with that refusal's code."""
    # micro_speech's LSTM with a RELU cell activation, which TFLM's kernel (and so the compiler) refuses
    graph = read_tflite(shared_models / "tflm_micro_speech_lstm.tflite")
    graph.operators[0].options["activation"] = "RELU"
    lstm = tmp_path / "lstm_relu.tflite"
    lstm.write_bytes(write_tflite(graph))
    code = cli.main(["sweep", "--model", str(lstm), "--board", "nucleo-f746", "--sram-budget", "32k,64k", "--jobs",
                     "2", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    rows = read_rows(tmp_path / "out")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("UNIDIRECTIONAL_SEQUENCE_LSTM" in r["reason"] for r in rows)
    assert captured.err.strip().splitlines()[-1].startswith("codegen: 2 of 2 builds failed")


def test_sweep_refusals_are_one_line(shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(shared_models / f"{MODEL}.tflite")
    cases = [
        (["--model", str(tmp_path / "none.tflite"), "--board", "nucleo-f746"], "no such file"),
        (["--model", model, "--board", "no-such-board"], "no-such-board"),
        (["--model", model, "--board", "nucleo-f746", "--jobs", "0"], "--jobs must be at least 1"),
        (["--model", model, "--board", "nucleo-f746", "--jobs", "2", "--ray"], "with --ray the cluster's CPUs"),
    ]
    for args, phrase in cases:
        code = cli.main(["sweep", *args, "--sram-budget", "32k", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1 and phrase in err, (args, err)
    assert not (tmp_path / "out").exists()  # nothing written
    with pytest.raises(SystemExit):  # argparse: two budgets the same
        cli.main(["sweep", "--model", model, "--board", "nucleo-f746", "--sram-budget", "32k,32768", "--out", "x"])
    capsys.readouterr()


def test_pareto_front_per_model() -> None:
    def row(model: str, sram: int, instr: int | None, status: str = "built") -> dict:
        return {"model": model, "status": status, "sram_used_bytes": sram, "instructions": instr}

    rows = [row("a", 10, 100), row("a", 20, 50), row("a", 20, 60), row("a", 30, 50), row("a", 10, 100),
            row("b", 40, 10), row("a", 5, None, "refused")]
    mark_pareto(rows)
    assert [r["pareto"] for r in rows] == ["yes", "yes", "no", "no", "yes", "yes", ""]
