"""The schedule search is complete: every family is weighed at every budget, and its pruning (split floors,
banding only while it can still win) never loses the best schedule. Checked against brute force: every
candidate at every split point, each also with its blocks in bands, planned for real."""

from __future__ import annotations

import pytest

from codegen.frontend.model_zoo import build_from_config, mobilenet_v2_config
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.schedule import cost_model
from codegen.schedule.patch_schedule import split_points
from codegen.schedule.search import (
    RUNTIME_SRAM_BYTES,
    NoScheduleFits,
    apply,
    candidates,
    choose,
    split_floor,
    with_banded_blocks,
)


def _rank(s):
    return (s.predicted_instructions or 0, s.macs, s.arena_bytes)


def _short_mobilenet_v2(width: float, resolution: int, blocks: int):
    """MobileNetV2's first `blocks` inverted-residual blocks (strided, expanded and residual ones), its
    feature mix and classifier: small enough to enumerate every schedule."""
    config = mobilenet_v2_config(width, num_classes=10)
    config["blocks"] = config["blocks"][:blocks]
    config["feature_mix_layer"]["in_channels"] = config["blocks"][-1]["mobile_inverted_conv"]["out_channels"]
    return build_from_config(config, resolution, 0, f"mbv2_w{width}_r{resolution}_b{blocks}")


@pytest.fixture(scope="module", params=[(0.35, 16, 3)], ids=["w0.35-r16-3blocks"])
def brute(request):
    """A short MobileNetV2, its calls, and every schedule there is (held and streamed, banded or not)."""
    graph = fuse_pads(_short_mobilenet_v2(*request.param))
    calls = lower_graph(graph)
    cost = cost_model.load()
    every = {}
    for streamed in (False, True):
        plain = candidates(graph, calls, cost, streamed)
        banded = [with_banded_blocks(graph, calls, s, cost) for s in plain if s.split is not None]
        every[streamed] = plain + banded
    return graph, calls, cost, every


def test_split_floor_bounds_every_schedule_at_its_split(brute):
    graph, calls, _, every = brute
    for streamed, schedules in every.items():
        for s in schedules:
            if s.split is not None:
                assert s.arena_bytes >= split_floor(graph, calls, s.split, s.streamed), s.describe()
            if s.banded:
                unbanded = next(u for u in schedules if not u.banded and (u.split, u.grid, u.cached, u.streamed)
                                == (s.split, s.grid, s.cached, s.streamed))
                # banding adds row shifts and smaller calls, never fewer MACs: the bound choose() prunes with
                assert _rank(s)[:2] >= _rank(unbanded)[:2], s.describe()
        assert streamed or not any(s.streamed for s in schedules)


@pytest.mark.parametrize("streamed", [False, True], ids=["held", "streamed"])
def test_chosen_schedule_is_never_beaten_by_any_that_fits(brute, streamed):
    graph, calls, cost, every = brute
    schedules = every[streamed]
    peaks = sorted({s.arena_bytes + RUNTIME_SRAM_BYTES for s in schedules})
    # Every distinct peak as a budget (the tightest budgets each family meets), plus a byte below the least.
    budgets = [peaks[0] - 1, *peaks[:: max(1, len(peaks) // 5)], peaks[-1]]
    for budget in budgets:
        fitting = [s for s in schedules if s.arena_bytes + RUNTIME_SRAM_BYTES <= budget]
        if not fitting:
            with pytest.raises(NoScheduleFits) as refused:
                choose(graph, calls, budget, cost=cost, stream_input=streamed)
            smallest = min(s.arena_bytes for s in schedules)
            assert refused.value.smallest.arena_bytes == smallest
            continue
        chosen, _ = choose(graph, calls, budget, cost=cost, stream_input=streamed)
        assert chosen.peak_sram_bytes <= budget
        best = min(fitting, key=_rank)
        assert _rank(chosen) <= _rank(best), f"budget {budget}: chose {chosen.describe()}, {best.describe()} is cheaper"


def test_pruned_split_points_are_the_ones_whose_floor_exceeds_the_budget(brute):
    graph, calls, cost, _ = brute
    points = split_points(graph, calls)
    budget = sorted(split_floor(graph, calls, k, False) for k in points)[len(points) // 2]
    weighed = candidates(graph, calls, cost, False, budget)
    kept = {s.split for s in weighed if s.split is not None}
    assert kept == {k for k in points if split_floor(graph, calls, k, False) <= budget}
    assert kept and kept != set(points)
    for s in weighed:
        if s.split is not None:
            apply(graph, calls, s)  # every weighed schedule is a real one
