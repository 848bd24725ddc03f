"""`codegen plan` says which schedules the search skipped for the board's flash, the chosen one's flash, and
what stopped every split point it did not weigh."""

from __future__ import annotations

from codegen.frontend.converted_form import as_reshaped
from codegen.frontend.model_zoo import mobilenet_v2
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.schedule.search import Schedule, candidates
from tests.support.patch_op_models import int8_model
from tools.plan_command import format_candidates, format_unweighed


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


def test_plan_names_what_stopped_each_split_point_not_weighed():
    graph = fuse_pads(mobilenet_v2(0.1, 32, num_classes=10))
    calls = lower_graph(graph)
    budget = 15_000
    lines = format_unweighed(graph, calls, candidates(graph, calls, None, False, budget), budget, False).splitlines()
    assert lines[0] == "split points not weighed: 42" and lines[-1] == "  ... 30 more (--all lists them)"
    assert ("  after call 1 (depthwise_conv2d_s8, operator 1 DEPTHWISE_CONV_2D): t3 is also read after it, by call 3 "
            "(add_s8, operator 3 ADD)") in lines
    assert ("  after call 4 (conv2d_s8, operator 4 CONV_2D): its floor 15,360 B (split tensor + held input) exceeds "
            "the SRAM budget") in lines
    reshaped = fuse_pads(as_reshaped(int8_model("RELU"), "flat"))
    calls = lower_graph(reshaped)
    assert format_unweighed(reshaped, calls, candidates(reshaped, calls), 100_000, False).splitlines() == [
        "split points not weighed: 2",
        "  after call 0 (copy_bytes, operator 0 RESHAPE): a folded reshape of the input (its bytes, read by stage 1)",
        "  after call 4 (max_pool2d_s8, operator 4 MAX_POOL_2D): the last call"]
