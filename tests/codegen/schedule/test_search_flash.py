"""Flash in the schedule search: each schedule the search would pick is checked against the board's flash
(weights and code, predicted from its generated C), one over it is skipped for the next, and a model whose every
fitting schedule is over the flash is refused with the smallest prediction."""

from __future__ import annotations

import pytest

from codegen.frontend.model_zoo import mobilenet_v2
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.pipeline import compile_graph, flash_predictor
from codegen.schedule.cost_model import load_default
from codegen.schedule.search import FLASH_CHECKS, FlashLimit, NoScheduleFitsFlash, choose, per_layer
from codegen.targets.core import Target

TARGET = Target("cortex-m7")


@pytest.fixture(scope="module")
def small():
    graph = fuse_pads(mobilenet_v2(0.1, 32, num_classes=10))
    calls = lower_graph(graph)
    cost = load_default()
    budget = int(per_layer(graph, calls, cost).peak_sram_bytes * 0.8)
    return graph, calls, cost, budget, flash_predictor(graph, calls, TARGET, budget, cost)


def _choose(small, flash_bytes):
    graph, calls, cost, budget, predict = small
    return choose(graph, calls, budget, scratch_hint(TARGET), cost, flash=FlashLimit(flash_bytes, predict))


def test_the_chosen_schedule_carries_its_predicted_flash(small):
    graph, calls, cost, budget, predict = small
    chosen, _ = _choose(small, 4 << 20)
    assert chosen.split is not None and not chosen.over_flash
    built = compile_graph(graph, b"", TARGET, budget, schedule=chosen)
    # Weights are exact as emitted (each array aligned to 4 bytes); code is the fitted estimate.
    assert built.sources.weight_bytes <= chosen.flash_bytes - 9_000
    assert chosen.flash_bytes == predict(chosen)[0]


def _flash(needs):
    """A predictor that says `needs(schedule)` bytes (the real one emits C: slow for a search that checks many)."""
    return lambda s: (needs(s), f"{needs(s):,} B (test)")


def test_a_schedule_over_the_flash_is_skipped_for_the_next(small):
    graph, calls, cost, budget, _ = small
    first, plain = choose(graph, calls, budget, scratch_hint(TARGET), cost)
    big = first.describe()
    chosen, weighed = choose(graph, calls, budget, scratch_hint(TARGET), cost,
                             flash=FlashLimit(60_000, _flash(lambda s: 90_000 if s.describe() == big else 50_000)))
    assert chosen.describe() != big and chosen.flash_bytes == 50_000 and not chosen.over_flash
    assert [s.describe() for s in weighed if s.over_flash] == [big]
    # The next in the search's own order: what it picks with the first one gone.
    fitting = [s for s in plain if s.peak_sram_bytes <= budget and s.describe() != big]
    assert chosen.describe() in {s.describe() for s in fitting}
    assert chosen.predicted_instructions >= first.predicted_instructions


def test_nothing_within_the_flash_is_refused_with_the_smallest_prediction(small):
    graph, calls, cost, budget, _ = small
    refusal = (r"does not fit: FLASH by [\d,]+ bytes, predicted \(the 12 schedule\(s\) checked that fit the SRAM "
               r"budget all need more than the 60,000 bytes of flash")
    with pytest.raises(NoScheduleFitsFlash, match=refusal) as e:
        choose(graph, calls, budget, scratch_hint(TARGET), cost,
               flash=FlashLimit(60_000, _flash(lambda s: 70_000 + s.arena_bytes)))
    over = [s for s in e.value.weighed if s.over_flash]
    assert len(over) == FLASH_CHECKS and e.value.smallest.flash_bytes == min(s.flash_bytes for s in over)
    assert all(s.peak_sram_bytes <= budget for s in over)
