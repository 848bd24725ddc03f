"""scripts/benchmark_patches.py: --plan-only on a tiny model (no firmware), --builds, and the built table's cells."""

from __future__ import annotations

import pytest

from scripts import benchmark_patches
from scripts.benchmark_patches import BUILT_HEADER, PLAN_HEADER, ROWS, Built


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_plan_only_times_the_search_without_building(capsys, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("--plan-only built firmware")

    monkeypatch.setattr(benchmark_patches, "build", no_build)
    assert benchmark_patches.main(["--plan-only", "--only", "tiny SE"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == PLAN_HEADER.splitlines()
    rows = [_cells(line) for line in lines[2:]]
    assert [r[1] for r in rows] == ["held", "streamed"]
    for _, _, board, budget, seconds in rows:
        assert board == "nucleo-f746"
        assert int(budget.replace(",", "")) > 4096  # an arena plus the runtime estimate
        assert float(seconds) >= 0.0  # a CPU time, not a refusal


def test_builds_option_names_the_kinds():
    with pytest.raises(SystemExit):
        benchmark_patches.main(["--builds", "per-layer,sideways"])


def test_built_cells_match_the_header():
    width = len(_cells(BUILT_HEADER.splitlines()[0]))
    cells = Built("streamed", "nucleo-f746", 23_408, "SRAM over budget", "15.2").cells()
    assert len(cells) + 1 == width  # the model name comes first
    assert cells[2] == "23,408" and cells[3] == "not built: SRAM over budget" and cells[-1] == "15.2"
    assert Built("per-layer", "nucleo-f767zi", None, "x", "0.1").cells()[2] == "board SRAM"


def test_rows_have_distinct_names_and_known_boards():
    names = [row.name for row in ROWS]
    assert len(set(names)) == len(names)
    assert {row.board for row in ROWS} <= {"nucleo-f746", "nucleo-f767zi", "mps2plus-an500"}
    assert any("converted" in n for n in names) and any("SE" in n for n in names)
