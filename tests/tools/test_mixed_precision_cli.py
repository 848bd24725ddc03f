"""`codegen plan/build --mixed-precision`: the report block printed and written, the firmware built, and every
refusal as one line (a refused build writes nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from tests.support.model_factory import conv_chain
from tools.cli import main


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "chain.tflite"
    path.write_bytes(write_tflite(conv_chain(8, (3, 3, 1), scale=4.0)))
    return path


@pytest.fixture
def calib(tmp_path: Path) -> Path:
    path = tmp_path / "calib.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(-128, 128, (6, 8, 8, 1)).astype(np.int8))
    return path


def test_plan_prints_and_writes_the_mixed_precision_block(model, calib, tmp_path, capsys):
    report = tmp_path / "report.json"
    status = main(["plan", "--model", str(model), "--mixed-precision", "--calib", str(calib),
                   "--outlier-percentile", "50", "--mp-lambda", "0", "--mp-report", str(report)])
    out = capsys.readouterr().out
    assert status == 0
    assert "mixed precision on patches" in out and "bit operations of stage 1" in out
    info = json.loads(report.read_text())
    block = info["mixed_precision"]
    assert set(block) >= {"bits", "thresholds", "bitops_int8", "bitops", "low_bit_patch_share", "search_seconds"}
    assert info["schedule"]["kind"] == "patches"
    assert set(block["bits"].values()) == {2}  # lambda 0: bit operations alone
    assert block["bitops"] < block["bitops_int8"]
    assert 0 < block["low_bit_patch_share"] < 1


def test_plan_with_int8_subpatches_compiles_and_reports_them(model, calib, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert main(["plan", "--model", str(model), "--mixed-precision", "--calib", str(calib), "--sram-budget", "64k",
                 "--outlier-percentile", "50", "--mp-lambda", "0", "--mp-int8-subpatches", "2",
                 "--mp-report", str(report)]) == 0
    assert "int8 path on 2x2 sub-patches" in capsys.readouterr().out
    block = json.loads(report.read_text())["mixed_precision"]
    assert block["int8_subpatches"] == 2 and block["expected_stage1_macs"] > 0


def test_plan_bitops_target_lowers_bits_past_the_score(model, calib, tmp_path):
    # lambda 1 weighs entropy alone: no step scores above 0 and every map keeps 8 bits, unless a target asks
    # for fewer bit operations; an unreachable one lowers every map read by a stage-1 convolution to 2 bits.
    blocks = []
    for extra in ([], ["--mp-bitops-target", "0.01"]):
        report = tmp_path / "report.json"
        assert main(["plan", "--model", str(model), "--mixed-precision", "--calib", str(calib), "--mp-lambda", "1",
                     "--mp-report", str(report), *extra]) == 0
        blocks.append(json.loads(report.read_text())["mixed_precision"])
    kept, lowered = blocks
    assert set(kept["bits"].values()) == {8} and kept["bitops_low_path"] == kept["bitops_int8"]
    assert 2 in lowered["bits"].values() and lowered["bitops_low_path"] < lowered["bitops_int8"]


def test_plan_clip_options_reach_the_search_and_the_report(model, calib, tmp_path):
    report = tmp_path / "report.json"
    assert main(["plan", "--model", str(model), "--mixed-precision", "--calib", str(calib), "--mp-lambda", "0",
                 "--mp-clip", "percentile", "--mp-clip-percentile", "50", "--mp-report", str(report)]) == 0
    block = json.loads(report.read_text())["mixed_precision"]
    assert block["tops"] and all(len(v) == 1 for v in block["tops"].values())  # one-channel maps


@pytest.mark.parametrize(("extra", "message"), [
    (["--mp-per-channel"], "--mp-per-channel only work with --mixed-precision"),
    (["--mixed-precision"], "--mixed-precision needs --calib"),
    (["--outlier-percentile", "90"], "--outlier-percentile only work with --mixed-precision"),
    (["--mp-bitops-target", "0.5"], "--mp-bitops-target only work with --mixed-precision"),
    (["--mp-int8-subpatches", "2"], "--mp-int8-subpatches only work with --mixed-precision"),
    (["--mixed-precision", "--calib", "missing.npz"], "calibration data missing.npz does not exist"),
])
def test_plan_refusals(model, extra, message, capsys):
    assert main(["plan", "--model", str(model), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"codegen: {message}" or (err.startswith(f"codegen: {message}") and "\n" not in err)


@pytest.mark.parametrize("extra", [["--outlier-percentile", "150"], ["--mp-lambda", "-0.1"],
                                   ["--mp-lambda", "nan"], ["--mp-bitops-target", "0"],
                                   ["--mp-bitops-target", "1.5"], ["--mp-bitops-target", "nan"],
                                   ["--mp-bitops-target", "half"], ["--mp-int8-subpatches", "0"],
                                   ["--mp-int8-subpatches", "9"], ["--mp-int8-subpatches", "two"]])
def test_out_of_range_options_do_not_parse(model, extra, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--model", str(model), "--mixed-precision", *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codegen: argument") and "\n" not in err


def test_plan_refuses_calibration_data_of_another_shape(model, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 5, 5, 1), np.int8))
    assert main(["plan", "--model", str(model), "--mixed-precision", "--calib", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == ("codegen: calibration x has shape (2, 5, 5, 1); chain takes samples "
                                               "of shape (1, 8, 8, 1)")


def test_build_writes_the_mixed_precision_firmware_and_report(model, calib, tmp_path, capsys):
    out = tmp_path / "fw"
    assert main(["build", "--board", "nucleo-f746", "--model", str(model), "--out", str(out), "--no-measure",
                 "--mixed-precision", "--calib", str(calib), "--outlier-percentile", "50", "--mp-lambda", "0"]) == 0
    captured = capsys.readouterr()
    assert "mixed precision on patches" in captured.out and "ignored" not in captured.err
    report = json.loads((out / "report.json").read_text())
    block = report["mixed_precision"]
    assert set(block) >= {"bits", "thresholds", "bitops_int8", "bitops", "low_bit_patch_share", "search_seconds"}
    assert set(block["bits"].values()) == {2} and block["schedule"]["grid"] == report["schedule"]["grid"]
    source = (out / "model" / "model.c").read_text()
    assert "max_s8_dsp(" in source and "lowbit_requantize_s8(" in source  # Cortex-M7: the DSP check


@pytest.mark.parametrize(("extra", "message"), [
    (["--mixed-precision"], "--mixed-precision needs --calib"),
    (["--mp-lambda", "0.5"], "--mp-lambda only work with --mixed-precision"),
    (["--mp-bitops-target", "0.5"], "--mp-bitops-target only work with --mixed-precision"),
    (["--mixed-precision", "--calib", "missing.npz"], "calibration data missing.npz does not exist"),
    (["--mixed-precision", "--stream-input", "--calib", "CALIB"], "--mixed-precision runs patches with recomputed"),
])
def test_build_refusals_write_nothing(model, calib, tmp_path, extra, message, capsys):
    out = tmp_path / "fw"
    extra = [str(calib) if e == "CALIB" else e for e in extra]
    assert main(["build", "--board", "nucleo-f746", "--model", str(model), "--out", str(out), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"codegen: {message}") and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".fw*"))


def test_build_refuses_several_models(model, calib, tmp_path, capsys):
    out = tmp_path / "fw"
    assert main(["build", "--board", "nucleo-f746", "--model", str(model), "--model", str(model), "--out",
                 str(out), "--mixed-precision", "--calib", str(calib)]) == 1
    assert capsys.readouterr().err.strip() == "codegen: --mixed-precision takes one --model"
    assert not out.exists()


def test_build_refuses_calibration_data_of_another_shape(model, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 5, 5, 1), np.int8))
    out = tmp_path / "fw"
    assert main(["build", "--board", "nucleo-f746", "--model", str(model), "--out", str(out), "--mixed-precision",
                 "--calib", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == ("codegen: calibration x has shape (2, 5, 5, 1); chain takes samples "
                                               "of shape (1, 8, 8, 1)")
    assert not out.exists() and not list(tmp_path.glob(".fw*"))


def test_build_refuses_a_model_without_a_stage_one_feature_map(tmp_path, calib, capsys):
    path = tmp_path / "short.tflite"
    path.write_bytes(write_tflite(conv_chain(8, (3, 1), scale=4.0)))
    out = tmp_path / "fw"
    assert main(["build", "--board", "nucleo-f746", "--model", str(path), "--out", str(out), "--mixed-precision",
                 "--calib", str(calib)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("codegen: short: mixed precision runs on patches with recomputed halos") and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".fw*"))


def test_plan_refuses_a_model_without_a_stage_one_feature_map(tmp_path, calib, capsys):
    # One 3x3 convolution before a 1x1 one: the only split is right after the first convolution, so no stage-1
    # convolution reads a feature map that could run in fewer bits.
    path = tmp_path / "short.tflite"
    path.write_bytes(write_tflite(conv_chain(8, (3, 1), scale=4.0)))
    assert main(["plan", "--model", str(path), "--mixed-precision", "--calib", str(calib)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("codegen: short: mixed precision runs on patches with recomputed halos") and "\n" not in err
