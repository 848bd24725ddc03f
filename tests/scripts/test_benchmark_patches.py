"""scripts/benchmark_patches.py: --plan-only on a tiny model (no firmware), --builds, the two-pass firmware's budget
and the built table's cells."""

from __future__ import annotations

import pytest

from codegen.errors import BudgetError
from codegen.frontend.model_zoo import build_from_config, tiny_se, tiny_se_config
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.schedule.cost_model import load_default
from scripts import benchmark_patches
from scripts.benchmark_patches import BUILDS, BUILT_HEADER, PLAN_HEADER, ROWS, Built, Row


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
    assert [r[1] for r in rows] == ["held", "streamed", "two-pass"]
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
    assert any("MobileNetV3-small" in n for n in names)


def test_two_pass_budget_only_two_pass_schedules_meet():
    graph = tiny_se(32)
    fused = fuse_pads(graph)
    _, before, lowest = benchmark_patches.se_floors(fused, lower_graph(fused), load_default())
    budget = benchmark_patches.two_pass_budget(graph)
    assert lowest is not None and lowest.two_pass and not before.two_pass
    assert lowest.peak_sram_bytes <= budget < before.peak_sram_bytes
    plain = build_from_config(tiny_se_config(se=False), 32, 0, "tiny_no_se_r32")
    assert benchmark_patches.two_pass_budget(plain) is None  # no SE: no two-pass firmware


def test_builds_skip_two_pass_without_its_budget_and_hold_its_input(monkeypatch):
    asked = []

    def refuse(model, board, out, sram_budget=None, compiled=None, stream_input=False):
        asked.append((out.name, sram_budget, stream_input))
        raise BudgetError("over")

    monkeypatch.setattr(benchmark_patches, "build", refuse)
    monkeypatch.setattr(benchmark_patches, "compile_file", lambda *args, **kwargs: None)
    monkeypatch.setattr(benchmark_patches, "_planning_seconds", lambda *args: "0.0")
    row, graph = Row("tiny", lambda: tiny_se(32)), tiny_se(32)
    built = benchmark_patches._builds(row, graph, {"held": 1, "streamed": 2}, BUILDS)
    assert [b.kind for b in built] == ["per-layer", "held", "streamed"]
    asked.clear()
    built = benchmark_patches._builds(row, graph, {"held": 1, "streamed": 2, "two-pass": 3}, ("two-pass",))
    assert [(b.kind, b.budget, b.result) for b in built] == [("two-pass", 3, "over")]
    assert asked == [("two-pass", 3, False)]
