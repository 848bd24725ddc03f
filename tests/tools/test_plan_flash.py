"""`codegen plan` says which schedules the search skipped for the board's flash, and the chosen one's flash."""

from __future__ import annotations

from codegen.schedule.search import Schedule
from tools.plan_command import format_candidates


def test_plan_lists_schedules_skipped_for_flash():
    over = Schedule(3, (12, 2), "t9 24x24x16", 30_000, 1_100, 1_000, cached=True, flash_bytes=70_000,
                    flash="70,000 B (weights 50,000 + code 20,000)", over_flash=True)
    chosen = Schedule(3, (2, 2), "t9 24x24x16", 31_000, 1_200, 1_000, flash_bytes=60_000,
                      flash="60,000 B (weights 50,000 + code 10,000)")
    others = [Schedule(None, None, "", 90_000, 1_000, 1_000)]
    text = format_candidates([over, chosen, *others], chosen, 40_000, 12, 65_536)
    lines = text.splitlines()
    assert any(line.startswith("f ") and "2 strips x 12 cached bands" in line for line in lines)
    assert any(line.startswith("* ") and "patches 2x2" in line for line in lines)
    assert ("skipped, over the board's 65,536 B of flash: 2 strips x 12 cached bands up to t9 24x24x16 needs "
            "70,000 B (weights 50,000 + code 20,000) (predicted)") in lines
    assert "chosen schedule's flash: 60,000 B (weights 50,000 + code 10,000) of 65,536 (predicted)" in lines
