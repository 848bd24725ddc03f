"""The planned arena never exceeds the one TensorFlow Lite Micro plans for the same model."""

from __future__ import annotations

import pytest

from codegen.pipeline import compile_file
from tests.support.model_catalog import TIER_AB
from tools.tflm_arena import tflm_arena_bytes


@pytest.mark.parametrize("model", sorted(TIER_AB))
def test_arena_is_below_tflm(model, shared_models):
    path = shared_models / f"{model}.tflite"
    ours = compile_file(path).plan.arena_bytes
    theirs = tflm_arena_bytes(path)
    assert ours <= theirs, f"{model}: arena {ours} B, TFLM {theirs} B"


@pytest.mark.parametrize("model,max_ratio", [("mlperf_vww_96_int8", 0.6), ("tflm_person_detect", 0.7),
                                             ("tinyengine_mcunet_vww", 0.75)])
def test_arena_is_well_below_tflm_on_mobilenets(model, max_ratio, shared_models):
    """Guards the planner's quality, not just its correctness: these margins were measured, not guessed."""
    path = shared_models / f"{model}.tflite"
    assert compile_file(path).plan.arena_bytes <= max_ratio * tflm_arena_bytes(path)
