"""The schedule search's speed-ups (per-plan caches, bounds checked before planning) change nothing it reports:
for a few models and budgets, held and streamed, refused or not, the chosen schedule and the figures of every
schedule `codegen plan` lists equal those recorded from the search before the speed-ups
(search_figures.json; `python -m tests.codegen.schedule.test_search_figures` records them again)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from codegen.frontend.model_zoo import mcunet_from_json, mobilenet_v2
from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.schedule.cost_model import load_default
from codegen.schedule.search import NoScheduleFits, Schedule, choose
from codegen.targets.boards import load_board
from codegen.targets.core import Target

FIGURES = Path(__file__).with_name("search_figures.json")
SHARED = Path(__file__).resolve().parents[4] / "shared" / "models"

# (case id, model, SRAM budget in bytes, --stream-input)
CASES: list[tuple[str, str, int, bool]] = [
    ("vww96-held-44k", "mlperf_vww_96_int8", 44 * 1024, False),
    ("vww96-held-refused", "mlperf_vww_96_int8", 41_000, False),
    ("vww96-streamed-24k", "mlperf_vww_96_int8", 24 * 1024, True),
    ("person-streamed-21k", "tflm_person_detect", 21_056, True),
    ("mcunet-vww-streamed-22k", "tinyengine_mcunet_vww", 22_000, True),
    ("mbv2-w0.35-r144-held-90k", "mbv2-w0.35-r144", 90_000, False),
    ("mbv2-w0.35-r144-streamed-33k", "mbv2-w0.35-r144", 33_000, True),
    ("mbv2-w0.35-r64-streamed-10k", "mbv2-w0.35-r64", 10_000, True),
]


def _graph(model: str) -> Graph:
    if model == "mbv2-w0.35-r144":
        return mcunet_from_json(SHARED / "mcunet_configs" / "mbv2-w0.35-r144_imagenet.json")
    if model == "mbv2-w0.35-r64":
        return mobilenet_v2(0.35, 64, num_classes=10)
    return read_tflite(SHARED / f"{model}.tflite")


def _row(s: Schedule) -> dict:
    # No flash predictor here (the default board's flash holds every schedule), so predicted_flash_bytes is
    # None throughout: left out, as in the figures recorded before the search weighed flash.
    fields = {k: v for k, v in s.to_json().items() if k != "predicted_flash_bytes"}
    return {"describe": s.describe(), **fields, "stage1_bytes": s.stage1_bytes, "peak_sram_bytes": s.peak_sram_bytes}


def figures(model: str, budget: int, stream_input: bool) -> dict:
    """What `codegen plan` (default board) reports: the chosen schedule, or the refusal's smallest peak and
    streamed arena, and every schedule weighed."""
    graph = fuse_pads(_graph(model))
    calls = lower_graph(graph)
    board = load_board("nucleo-f746")
    try:
        chosen, weighed = choose(graph, calls, budget, scratch_hint(Target(board.core)), load_default(), stream_input)
        result: dict = {"chosen": _row(chosen)}
    except NoScheduleFits as refused:
        weighed = refused.weighed
        result = {"refused": str(refused), "smallest": _row(refused.smallest),
                  "streamed_arena": refused.streamed_arena}
    rows = sorted((_row(s) for s in weighed), key=lambda r: json.dumps(r, sort_keys=True))
    # Every schedule weighed, as a digest (the full lists run to megabytes), and the rows `plan` shows first.
    result["weighed_count"] = len(rows)
    result["weighed_sha256"] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    result["weighed_smallest_peaks"] = sorted(rows, key=lambda r: (r["peak_sram_bytes"], r["macs"]))[:12]
    return result


# The suite checks two cases (about 25 s); CODEGEN_SLOW_TESTS=1 checks all eight (about 2.5 minutes), as after
# any change to the search.
SUITE_CASES = CASES if os.environ.get("CODEGEN_SLOW_TESTS") else [
    c for c in CASES if c[0] in ("vww96-held-44k", "mbv2-w0.35-r64-streamed-10k")]


@pytest.mark.parametrize(("case", "model", "budget", "stream_input"), SUITE_CASES, ids=[c[0] for c in SUITE_CASES])
def test_search_reports_the_recorded_figures(case, model, budget, stream_input):
    if not SHARED.is_dir():
        pytest.skip(f"shared models folder {SHARED} is absent")
    recorded = json.loads(FIGURES.read_text())[case]
    got = figures(model, budget, stream_input)
    assert got.get("chosen") == recorded.get("chosen")
    assert got.get("refused") == recorded.get("refused")
    assert got.get("smallest") == recorded.get("smallest")
    assert got.get("streamed_arena") == recorded.get("streamed_arena")
    assert got["weighed_smallest_peaks"] == recorded["weighed_smallest_peaks"]
    assert got["weighed_count"] == recorded["weighed_count"]
    assert got["weighed_sha256"] == recorded["weighed_sha256"]


def main(argv: list[str]) -> int:
    wanted = set(argv) or {c[0] for c in CASES}
    recorded = json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}
    for case, model, budget, stream_input in CASES:
        if case in wanted:
            recorded[case] = figures(model, budget, stream_input)
            print(case, recorded[case]["weighed_count"], "schedules")
    FIGURES.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
