"""A squeeze-and-excite block inside patch-based stage 1, run in two passes (codegen/schedule/se_two_pass.py).

The model zoo's tiny SE network (32x32 input, SE in block 1: MEAN -> 1x1 CONV_2D + ReLU -> 1x1 CONV_2D -> ADD 3
+ ReLU6 -> MUL 1/6 -> MUL onto the map) equals TFLM per layer; ordinary split points stop at the MEAN, two-pass
ones go past the block; every two-pass expansion tried equals per-layer execution (so TFLM), its MACs count the
first pass's recomputation; under a budget only two-pass schedules meet, the search picks one that no
fitting schedule beats, and the firmware running a two-pass schedule in QEMU equals TFLM."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.model_zoo import tiny_se
from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.schedule.cost_model import load_default
from codegen.schedule.patch_schedule import split_points
from codegen.schedule.se_two_pass import expand_two_pass, squeeze_excite_in, two_pass_split_points
from codegen.schedule.search import (
    RUNTIME_SRAM_BYTES,
    Schedule,
    apply,
    candidates,
    choose,
    per_layer,
    with_banded_blocks,
)
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import run_tflm
from tests.support.twin_firmware import TwinFirmware


def _rank(s: Schedule) -> tuple[int, int, int]:
    return (s.predicted_instructions or 0, s.macs, s.arena_bytes)


@pytest.fixture(scope="module")
def model():
    graph = tiny_se()
    x = np.random.default_rng(1).integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    (golden,) = run_tflm(write_tflite(graph), [x], graph)
    fused = fuse_pads(graph)
    return graph, fused, lower_graph(fused), x, golden


def test_two_pass_expansions_equal_per_layer_and_tflm(model):
    _, graph, calls, x, golden = model
    (expected,) = run_reference(graph, [x], calls)
    np.testing.assert_array_equal(expected.reshape(golden.shape), golden)
    mean = next(k for k, c in enumerate(calls) if c.kernel == "mean_s8")
    # The gate is no constant: the excitation's output varies over channels (else the MUL proves nothing).
    gate = squeeze_excite_in(graph, calls, len(calls) - 2).gate
    values = {}
    run_reference(graph, [x], calls, transform=lambda c, r: values.setdefault(c.outputs[0], r))
    assert len(np.unique(values[gate])) > 4
    assert max(split_points(graph, calls)) < mean
    points = two_pass_split_points(graph, calls)
    se = squeeze_excite_in(graph, calls, points[-1])
    assert points and min(points) == se.scale and se.mean == mean
    per_layer_macs = sum(c.macs for c in calls)
    before_se = sum(c.macs for c in calls[:mean])
    for split, grid in ((se.scale, (2, 2)), (points[-1], (3, 2)), (points[-1], (1, 4)), (points[len(points) // 2],
                                                                                          (4, 4))):
        g, c = expand_two_pass(graph, calls, split, grid)
        np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=f"{split} {grid}")
        kernels = [k.kernel for k in c]
        assert kernels.count("mean_sum_s8") == grid[0] * grid[1] and kernels.count("mean_finish_s8") == 1
        assert "mean_s8" not in kernels
        # The first pass recomputes stage 1 up to the SE's input at least once more: its MACs are counted.
        assert sum(k.macs for k in c) >= per_layer_macs + before_se


def test_search_weighs_two_pass_and_picks_the_cheapest_that_fits(model):
    _, graph, calls, x, _ = model
    cost = load_default()
    weighed = candidates(graph, calls, cost)
    two_pass = min(s.peak_sram_bytes for s in weighed if s.two_pass)
    # Ending stage 1 before the SE gets no lower than per-layer execution here (the SE's 16x16x32 input and
    # output meet at the MUL), banded blocks to 20.5 kB: a budget of the smallest two-pass peak + 2.5 kB
    # leaves only two-pass schedules, several grids and splits of them.
    assert two_pass < min(s.peak_sram_bytes for s in weighed if not s.two_pass)
    budget = two_pass + 2500
    chosen, found = choose(graph, calls, budget, cost=cost, earlier=weighed)
    assert chosen.peak_sram_bytes <= budget and chosen.two_pass, chosen.describe()
    fitting = [s for s in found if s.peak_sram_bytes <= budget]
    assert len(fitting) > 1 and all(_rank(chosen) <= _rank(s) for s in fitting)
    assert chosen.macs > chosen.per_layer_macs and chosen.to_json()["two_pass"] is True
    (expected,) = run_reference(graph, [x], calls)
    g, c = apply(graph, calls, chosen)
    np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=chosen.describe())
    # With room for per-layer execution, nothing else is worth its recomputation.
    base = per_layer(graph, calls, cost)
    assert choose(graph, calls, base.peak_sram_bytes, cost=cost)[0].split is None


def test_plan_says_when_two_pass_was_weighed_or_chosen(capsys):
    from tools.plan_command import _print_two_pass

    base = Schedule(None, None, "", 20_000, 1000, 1000)
    two = Schedule(12, (2, 3), "t41 8x8x16", 9_000, 1700, 1000, two_pass=True)
    _print_two_pass([base], base)
    assert capsys.readouterr().out == ""  # no SE block: nothing to say
    _print_two_pass([base, two], two)
    out = capsys.readouterr().out
    assert "1 schedule(s) weighed, chosen: two-pass SE, patches 2x3 up to t41 8x8x16, 700 extra MACs (70.0%" in out
    assert "without it the smallest peak weighed is 24,096 B" in out
    _print_two_pass([base, two], base)
    assert "not chosen; the cheapest: two-pass SE" in capsys.readouterr().out


@pytest.mark.slow
def test_chosen_schedule_is_never_beaten_by_any_that_fits_brute_force(model):
    """test_search_complete's guarantee with the two-pass family: every schedule, each also with its blocks in
    bands, planned; at budgets from the smallest peak to per-layer, nothing that fits beats the choice."""
    _, graph, calls, _, _ = model
    cost = load_default()
    plain = candidates(graph, calls, cost)
    every = plain + [with_banded_blocks(graph, calls, s, cost) for s in plain if s.split is not None]
    peaks = sorted({s.arena_bytes + RUNTIME_SRAM_BYTES for s in every})
    for budget in peaks[:: max(1, len(peaks) // 6)]:
        fitting = [s for s in every if s.arena_bytes + RUNTIME_SRAM_BYTES <= budget]
        chosen, _ = choose(graph, calls, budget, cost=cost)
        assert chosen.peak_sram_bytes <= budget
        best = min(fitting, key=_rank)
        assert _rank(chosen) <= _rank(best), f"budget {budget}: chose {chosen.describe()}, {best.describe()} is cheaper"


@pytest.mark.emulator
def test_two_pass_schedule_in_the_firmware_equals_tflm(model, tmp_path):
    graph, fused, calls, x, golden = model
    board = load_board("nucleo-f746")
    schedule = Schedule(two_pass_split_points(fused, calls)[-1], (2, 3), "", 0, 0, 0, two_pass=True)
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core), use_cost_model=False, schedule=schedule)
    kernels = [c.kernel for c in compiled.calls]
    assert kernels.count("mean_sum_s8") == 6 and "mean_s8" not in kernels
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    np.testing.assert_array_equal(got.reshape(golden.shape), golden)
