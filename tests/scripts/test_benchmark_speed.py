"""scripts/benchmark_speed.py: the table's arithmetic, and one real run on a small model."""

from __future__ import annotations

import re

import pytest

from codegen.targets.boards import load_board
from scripts import benchmark_speed
from scripts.benchmark_speed import SpeedRow, format_table


def test_table_ratios_and_columns():
    board = load_board("nucleo-f746")
    rows = [
        SpeedRow("mlperf_ad01_int8", 264_192, 283_000, 1_943_160, 583_280, 3_272, 768, 7_000, 272_000),
        SpeedRow("other", 10, 50, None, None, 100, 8, 1, 2),
    ]
    text = format_table(rows, board)
    assert "QEMU twin mps2-an500 with -icount shift=0: SysTick ticks x 40" in text
    lines = text.splitlines()
    header = lines[3].split("|")
    ad01 = lines[5].split("|")
    assert len(ad01) == len(header)
    assert "| 283,000 | 1.07 | 583,280 | 2.06x | 1,943,160 | 6.87x |" in lines[5]
    assert "| n/a | n/a | not built | n/a |" in lines[6]


@pytest.mark.emulator
def test_script_measures_a_small_model(shared_models, capsys):
    assert benchmark_speed.main([str(shared_models / "tflm_hello_world_int8.tflite")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| tflm_hello_world_int8 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    macs, fast, portable = (int(cells[i].replace(",", "")) for i in (1, 2, 6))
    assert macs == 16 + 16 * 16 + 16 and 0 < fast < portable  # the DSP kernel beats the portable one
    assert re.fullmatch(r"\d+\.\d\dx", cells[7])
