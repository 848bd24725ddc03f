"""`codegen build` when the flash prediction was low: a schedule whose linked firmware measures over the board's
flash is searched away (its measured flash replaces the prediction) and the next is built; when none is left the
build stops with one line saying the smallest flash measured, and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from codegen.emit import firmware_tree
from codegen.errors import BudgetError, RegionOverflow
from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.paths import BOARDS_DIR
from codegen.pipeline import compile_file
from codegen.schedule.search import per_layer, schedule_key
from codegen.targets.boards import MemoryRegion, load_board
from codegen.targets.core import Target
from tests.support.patch_op_models import int8_model
from tools import build as build_module
from tools.build import build

needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    graph = int8_model("RELU")  # conv 3x3 -> RELU -> depthwise s2 -> max pool on 24x16x4: a quick search
    path = tmp_path_factory.mktemp("model") / "patch_relu.tflite"
    path.write_bytes(write_tflite(graph))
    fused = fuse_pads(graph)
    budget = per_layer(fused, lower_graph(fused)).peak_sram_bytes - 1_000  # per-layer does not fit
    return path, budget


def _board_without_twin(flash_bytes: int | None = None):
    """nucleo-f746, built without its emulated twin (one link per schedule) and with a 1 kB stack (the search's
    estimate of the SRAM besides the arena then holds without measuring it), optionally with less flash."""
    board = dataclasses.replace(load_board("nucleo-f746"), emulator_layer=None, stack_bytes=1024)
    if flash_bytes is not None:
        board = dataclasses.replace(board, flash=MemoryRegion(board.flash.origin, flash_bytes))
    return board


@needs_arm_gcc
def test_a_schedule_linked_over_the_flash_is_searched_away(tmp_path, small_model, monkeypatch):
    """The first choice's link is made to fail by 100 bytes of FLASH (as a low prediction would): the build
    searches again without it and builds the next schedule for real."""
    path, budget = small_model
    board = _board_without_twin()
    first = compile_file(path, Target(board.core), budget, flash_bytes=board.flash.size).schedule
    real_make, links = build_module.make, []

    def make(root, *args, **kwargs):
        links.append(root)
        if len(links) == 1:
            raise RegionOverflow("test firmware does not fit: FLASH by 100 bytes (the linker's region check)",
                                 {"FLASH": 100})
        return real_make(root, *args, **kwargs)

    monkeypatch.setattr(build_module, "make", make)
    result = build(path, board, tmp_path / "out", budget, measure_run=False)
    assert len(links) == 2
    chosen = result.compiled.schedule
    assert schedule_key(chosen) != schedule_key(first) and chosen.peak_sram_bytes <= budget
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["schedules_over_flash_at_build"] == [{"schedule": first.to_json(),
                                                        "measured_flash_bytes": board.flash.size + 100}]
    assert "measured over the 1,048,576 B of flash" in build_module.format_report(result)
    assert not list(tmp_path.glob(".out*"))


@needs_arm_gcc
def test_nothing_left_within_the_flash_stops_the_build_in_one_line(tmp_path, small_model, monkeypatch):
    """A board whose linker script has exactly the flash predicted for the per-layer firmware (which measures a
    little more): the link fails, the search has nothing else (per-layer fits the SRAM), and the build says so."""
    path, _ = small_model
    target = Target("cortex-m7")
    predicted = compile_file(path, target, 1 << 20, flash_bytes=1 << 20).schedule.flash_bytes
    boards = tmp_path / "boards"
    shutil.copytree(BOARDS_DIR / "common", boards / "common")
    shutil.copytree(BOARDS_DIR / "nucleo-f746", boards / "nucleo-f746")
    ld = boards / "nucleo-f746" / "board.ld"
    ld.write_text(ld.read_text().replace("LENGTH = 1024K", f"LENGTH = {predicted}"))
    monkeypatch.setattr(firmware_tree, "BOARDS_DIR", boards)
    with pytest.raises(BudgetError) as refused:
        build(path, _board_without_twin(predicted), tmp_path / "out", measure_run=False)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("patch_relu does not fit: FLASH by ") and ", measured by a build (" in message
    assert "the smallest, per-layer, needs " in message and " B measured (its firmware did not link)" in message
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
