"""How much planning the schedule search does, counted rather than timed (the project has no timed tests; the
planning time of the README's MobileNetV2 is measured by scripts/benchmark_patches.py): a search that plans
more than recorded here has lost a bound or a cache. And the shortcuts those counts rely on are exact: the
lifetimes a depthwise trial derives equal a fresh walk of the calls, the first fit's early stop places every
buffer where the full scan did, and the floor that skips un-banding a block never exceeds the arena the trial
would have found."""

from __future__ import annotations

import random

import pytest

from codegen.frontend.model_zoo import mobilenet_v2
from codegen.memory import planner
from codegen.memory.planner import Buffer, lifetimes
from codegen.passes import depthwise_in_place
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.schedule import band_segments
from codegen.schedule.band_segments import band_blocks
from codegen.schedule.patch_schedule import expand_cached, split_points


@pytest.fixture(scope="module")
def mbv2():
    graph = fuse_pads(mobilenet_v2(0.35, 64, num_classes=10))
    return graph, lower_graph(graph)


@pytest.mark.parametrize(("schedule", "placements", "walks"), [("per-layer", 143, 56), ("cached", 24, 9)])
def test_banding_plans_no_more_than_recorded(mbv2, monkeypatch, schedule, placements, walks):
    """Blocks in bands (the search's costliest step) for per-layer execution and a streamed 4 x 2 cached-band
    schedule: before these shortcuts 211 and 57 placements, each after its own walk of the calls; now 191 and
    39 placements (floors skip un-banding trials) and 56 and 9 walks (depthwise trials derive lifetimes); then
    143 and 24 placements (depthwise trials whose live bytes show they cannot win are not planned)."""
    graph, calls = mbv2
    if schedule == "cached":
        graph, calls = expand_cached(graph, calls, split_points(graph, calls)[3], 4, 2, True)
    counts = {"placements": 0, "walks": 0}
    place_best, walk = planner._place_best, planner.lifetimes

    def counted_place(buffers):
        counts["placements"] += 1
        return place_best(buffers)

    def counted_walk(g, c):
        counts["walks"] += 1
        return walk(g, c)

    monkeypatch.setattr(planner, "_place_best", counted_place)
    monkeypatch.setattr(planner, "lifetimes", counted_walk)
    monkeypatch.setattr(depthwise_in_place, "lifetimes", counted_walk)
    banded, banded_calls = band_blocks(graph, calls)
    # Per-layer keeps blocks in bands; the cached schedule's peak is in stage 1, so it ends unchanged.
    assert (len(banded_calls) > len(calls)) == (schedule == "per-layer")
    assert counts == {"placements": placements, "walks": walks}


def test_shared_lifetimes_equal_a_fresh_walk(mbv2):
    graph, calls = mbv2
    checked = 0
    for g, c in [(graph, calls), expand_cached(graph, calls, split_points(graph, calls)[3], 4, 2, True)]:
        spans = lifetimes(g, c)
        for pos in range(len(c)):
            if depthwise_in_place._eligible(g, c, pos):
                trial = depthwise_in_place._in_place(g, c, [pos])
                derived = spans.shared(c[pos].inputs[0], c[pos].outputs[0], len(g.tensors))
                walked = lifetimes(trial, c)
                assert list(derived.first.items()) == list(walked.first.items())  # same order: same ties
                assert derived.last == walked.last
                checked += 1
    assert checked >= 10


def _full_scan(ordered: list[Buffer]) -> list[int]:
    """First fit as the planner did it before the early stop: every placed buffer scanned, conflicts sorted."""
    placed: list[tuple[int, int, int, int]] = []
    for buf in ordered:
        conflicts = sorted((o, n) for f, la, o, n in placed if f <= buf.last and buf.first <= la)
        offset = 0
        for o, n in conflicts:
            if offset + buf.size <= o:
                break
            offset = max(offset, o + n)
        placed.append((buf.first, buf.last, offset, buf.size))
    return [p[2] for p in placed]


def test_first_fit_places_as_the_full_scan():
    rng = random.Random(7)
    for _ in range(300):
        buffers = []
        for _ in range(rng.randint(1, 40)):
            first = rng.randint(0, 20)
            buffers.append(Buffer(8 * rng.randint(0, 12), first, first + rng.randint(0, 8)))
        top = planner._place(buffers)
        assert [b.offset for b in buffers] == _full_scan(buffers)
        assert top == max(b.offset + b.size for b in buffers)


def test_unbanded_floor_never_exceeds_the_evaluated_arena(mbv2):
    """Every block's floor against the arena band_segments' evaluation finds with that block run whole (the
    others banded), on a streamed 4 x 2 cached-band schedule and on per-layer execution."""
    graph, calls = mbv2
    pruned = 0
    for g, c in [(graph, calls), expand_cached(graph, calls, split_points(graph, calls)[3], 4, 2, True)]:
        segments = band_segments.block_segments(g, c)
        floors = band_segments._unbanded_floors(g, c, segments)
        for segment in segments:
            trial, _ = band_segments._band(g, c, [s for s in segments if s != segment])
            arena = band_segments._arena_with_residuals(*trial)
            assert floors[segment] <= arena
            pruned += floors[segment] > 0
    assert pruned >= 5  # the floor is not trivially zero


def _all_orderings(buffers: list[Buffer]) -> tuple[int, list[int]]:
    """_place_best as it was before the lower-bound stop: every ordering placed, the first smallest kept."""
    orderings = [lambda b: (-b.size, b.first), lambda b: (-(b.size * (b.last - b.first + 1)), -b.size),
                 lambda b: (b.first, -b.size), lambda b: (-(b.last - b.first), -b.size)]
    best = None
    for key in orderings:
        arena = planner._place(sorted(buffers, key=key))
        if best is None or arena < best[0]:
            best = (arena, [b.offset for b in buffers])
    return best


def test_place_best_stopping_at_the_live_peak_places_as_all_orderings(monkeypatch):
    """The planner stops trying orderings once one reaches the most bytes live at one step (none can place
    below it): same arena and offsets as trying all four, and on these lists most stop after the first."""
    rng = random.Random(11)
    placements = []
    place = planner._place

    def counted(ordered):
        placements.append(len(ordered))
        return place(ordered)

    monkeypatch.setattr(planner, "_place", counted)
    for _ in range(300):
        buffers = []
        for _ in range(rng.randint(1, 40)):
            first = rng.randint(0, 20)
            buffers.append(Buffer(8 * rng.randint(0, 12), first, first + rng.randint(0, 8)))
        monkeypatch.setattr(planner, "_place", place)
        expected = _all_orderings(buffers)
        monkeypatch.setattr(planner, "_place", counted)
        assert (planner._place_best(buffers), [b.offset for b in buffers]) == expected
    assert len(placements) < 2 * 300  # all four orderings every time would be 1,200


def test_band_trials_reuse_the_blocks_banded_first(mbv2, monkeypatch):
    """A trial that un-bands one block starts from the chosen banding's state after the later blocks (banded
    first): the same graph and calls as banding every block of the trial again, with fewer expansions."""
    graph, calls = mbv2
    segments = band_segments.block_segments(graph, calls)
    (_, _), steps = band_segments._band(graph, calls, segments)
    expanded = []
    expand = band_segments.expand_cached

    def counted(*args, **kwargs):
        expanded.append(args[2])
        return expand(*args, **kwargs)

    monkeypatch.setattr(band_segments, "expand_cached", counted)
    for segment in segments:
        trial = [s for s in segments if s != segment]
        (g1, c1), _ = band_segments._band(graph, calls, trial, steps)
        reused = len(expanded)
        (g2, c2), _ = band_segments._band(graph, calls, trial)
        assert c1 == c2 and g1.views == g2.views
        assert [(t.index, t.name, t.shape) for t in g1.tensors] == [(t.index, t.name, t.shape) for t in g2.tensors]
        assert (reused, len(expanded) - reused) == (segments.index(segment), len(trial))  # only the earlier blocks
        expanded.clear()
    assert len(segments) >= 5


def test_depthwise_trials_skipped_unplanned_would_have_failed(mbv2):
    """Every in-place depthwise trial _cannot_win skips, planned in full, fails the test it would have faced (an
    arena no larger and fewer live bytes summed); on per-layer execution and a streamed 4 x 2 cached-band
    schedule, with the bound skipping some and not all."""
    graph, calls = mbv2
    skipped = planned = 0
    for g, c in [(graph, calls), expand_cached(graph, calls, split_points(graph, calls)[3], 4, 2, True)]:
        plan = planner.plan_memory(g, c)
        own, total = depthwise_in_place._own_buffers(plan), sum(plan.live_bytes)
        for pos in range(len(c)):
            if not depthwise_in_place._eligible(g, c, pos):
                continue
            x, y = c[pos].inputs[0], c[pos].outputs[0]
            trial = planner.plan_memory(depthwise_in_place._in_place(g, c, [pos]), c)
            wins = trial.arena_bytes <= plan.arena_bytes and sum(trial.live_bytes) < total
            shared = depthwise_in_place._shared_bytes(g, c[pos])
            if depthwise_in_place._cannot_win(plan, own, x, y, shared):
                assert not wins
                skipped += 1
            else:
                planned += 1
    assert skipped >= 5 and planned >= 1


def test_trial_live_bytes_equal_the_trial_plans(mbv2):
    """_trial_live's summed change equals the planned trial's, and its peak never exceeds the trial's arena: for
    each eligible depthwise layer alone and for all of them at once."""
    graph, calls = mbv2
    known = 0
    for g, c in [(graph, calls), expand_cached(graph, calls, split_points(graph, calls)[3], 4, 2, True)]:
        plan = planner.plan_memory(g, c)
        own = depthwise_in_place._own_buffers(plan)
        eligible = [pos for pos in range(len(c)) if depthwise_in_place._eligible(g, c, pos)]
        for positions in [[pos] for pos in eligible] + [eligible]:
            layers = [(c[p].inputs[0], c[p].outputs[0], depthwise_in_place._shared_bytes(g, c[p])) for p in positions]
            change = depthwise_in_place._trial_live(plan, own, layers)
            if change is None:
                continue
            trial = planner.plan_memory(depthwise_in_place._in_place(g, c, positions), c)
            assert change[0] == sum(trial.live_bytes) - sum(plan.live_bytes)
            assert change[1] <= trial.arena_bytes
            known += 1
    assert known >= 10
