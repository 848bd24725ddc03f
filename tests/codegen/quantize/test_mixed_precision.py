"""QuantMCU-style mixed precision, offline half: low-bit arithmetic, thresholds, VDQS, bit operations, and the
mixed-precision reference run (all patches int8 = today's int8 result)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from codegen.ir import Graph
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.quantize import mixed_precision as mp
from codegen.reference_executor import run_reference
from codegen.schedule.search import Schedule
from tests.support.model_factory import conv_chain

VWW = Path(__file__).resolve().parents[4] / "shared" / "models" / "mlperf_vww_96_int8.tflite"


def test_low_bit_format_and_requantization_by_hand():
    # ReLU-like map (z = -128), threshold 40 above the bottom: 4 bits need a step of 4 (levels 0..10).
    f = mp.low_bit_format(4, -128, -88)
    assert f == mp.LowBitFormat(bits=4, shift=2, zero_point=-128, m_lo=0, m_hi=10)
    q = np.array([-128, -119, -118, -88, 127], np.int8)  # q - z = 0, 9 (2.25), 10 (2.5: away from 0), 40, 255
    assert f.codes(q).tolist() == [0, 2, 3, 10, 10]
    assert f.requantize(q).tolist() == [-128, -120, -116, -88, -88]
    # Zero point 0, threshold 50, 2 bits: a step of 32 would leave -128 two steps out of reach, 64 covers it.
    f = mp.low_bit_format(2, 0, 50)
    assert f == mp.LowBitFormat(bits=2, shift=6, zero_point=0, m_lo=-2, m_hi=1)
    assert f.requantize(np.array([-100, 31, 32, 127], np.int8)).tolist() == [-128, 0, 64, 64]
    assert f.codes(np.array([-128, 127], np.int8)).tolist() == [0, 3]


def test_thresholds_are_percentiles_of_observed_maxima():
    maxima = {7: np.array([[1, 5, 3], [7, 2, 9]])}
    assert mp.calibrate_thresholds(maxima, 50) == {7: 5}  # between 3 and 5: the higher observed value
    assert mp.calibrate_thresholds(maxima, 100) == {7: 9}
    assert mp.calibrate_thresholds(maxima, 0) == {7: 1}
    with pytest.raises(ValueError):
        mp.calibrate_thresholds(maxima, 101)


def test_thresholds_from_patch_maxima_of_a_toy_network():
    # Three 1x1 identity convolutions; stage 1 = the first two, 2x2 patches: each patch's maximum of y0 is its
    # quadrant's maximum of the input.
    graph = conv_chain()
    calls = lower_graph(graph)
    stage = mp.patch_stage(graph, calls, 1, (2, 2))
    assert stage.patches == 4 and stage.classified == stage.candidates[0]
    a = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1)  # quadrant maxima 5, 7, 13, 15
    b = -a  # quadrant maxima 0, -2, -8, -10
    stats = mp.collect_stats(stage, [[a], [b]])
    assert stats.maxima[stage.classified].tolist() == [[5, 7, 13, 15], [0, -2, -8, -10]]
    assert mp.calibrate_thresholds(stats.maxima, 50) == {stage.classified: 5}
    # sorted: -10 -8 -2 0 5 7 13 15; 75th at position 5.25 of 7, the higher observed value is 13
    assert mp.calibrate_thresholds(stats.maxima, 75) == {stage.classified: 13}


def test_mixed_run_classifies_patches_and_requantizes_low_ones():
    graph = conv_chain()
    calls = lower_graph(graph)
    stage = mp.patch_stage(graph, calls, 1, (2, 2))
    y0 = stage.classified
    x = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1) * 8  # quadrant maxima 40, 56, 104, 120
    # 2 bits, zero point 0, up to 56: a step of 32 (levels -1..2) would not reach -128, so the step is 64 (-2..1)
    plan = mp.MixedPrecisionPlan({y0: 2}, {y0: 56})
    (out,), low = mp.run_mixed(stage, plan, [x])
    assert low == [True, True, False, False]
    expected = x.astype(np.int64)
    top = expected[:, :2]  # the low patches: rounded to multiples of 64 (half away from zero), at most 64
    expected[:, :2] = np.minimum((top + 32) // 64, 1) * 64
    assert expected[0, :2, :, 0].tolist() == [[0, 0, 0, 0], [64, 64, 64, 64]]  # 0, 8, 16, 24 | 32, 40, 48, 56
    np.testing.assert_array_equal(out, expected)


def _all_int8_equals_reference(graph: Graph, split: int, grid: tuple[int, int], inputs: list[np.ndarray]):
    calls = lower_graph(graph)
    stage = mp.patch_stage(graph, calls, split, grid)
    want = run_reference(graph, inputs, calls)
    low_bits = dict.fromkeys(stage.candidates, 2)
    # Every patch over its threshold: the int8 path everywhere, however few bits the low path would use.
    got, low = mp.run_mixed(stage, mp.MixedPrecisionPlan(low_bits, dict.fromkeys(stage.candidates, mp.ALL_INT8)),
                            inputs)
    assert not any(low)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    # Thresholds above every value: every patch on the low-bit path, which at 8 bits is the int8 path too.
    got, low = mp.run_mixed(stage, mp.MixedPrecisionPlan(dict.fromkeys(stage.candidates, 8),
                                                        dict.fromkeys(stage.candidates, 127)), inputs)
    assert all(low)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    # ... and fewer bits do change the result (so the equalities above are not vacuous).
    got, _ = mp.run_mixed(stage, mp.MixedPrecisionPlan(low_bits, dict.fromkeys(stage.candidates, 127)), inputs)
    assert any(not np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_all_int8_patches_equal_the_int8_reference_on_a_toy_chain():
    x = np.random.default_rng(0).integers(-128, 128, (1, 6, 6, 1)).astype(np.int8)
    _all_int8_equals_reference(conv_chain(6, (3, 3, 1), scale=4.0), 1, (2, 3), [x])


@pytest.mark.skipif(not VWW.exists(), reason="needs ../shared/models/mlperf_vww_96_int8.tflite")
def test_all_int8_patches_equal_the_int8_reference_on_vww():
    from codegen.pipeline import read_model

    graph = fuse_pads(read_model(VWW)[0])
    x = np.random.default_rng(1).integers(-128, 128, (1, 96, 96, 3)).astype(np.int8)
    _all_int8_equals_reference(graph, 3, (2, 4), [x])


def test_bit_operations_count_halo_recomputation_by_hand():
    # 4x4 input, two 3x3 SAME convolutions in stage 1, split in 2 row patches of 2 rows. Each patch computes 3
    # rows of y0 (one row of halo) and 2 rows of y1: 3*4*9 = 108 and 2*4*9 = 72 MACs.
    graph = conv_chain(4, (3, 3, 1))
    stage = mp.patch_stage(graph, lower_graph(graph), 1, (2, 1))
    y0 = stage.classified
    int8, low = mp.patch_bitops(stage, {y0: 2})
    assert int8 == [(108 + 72) * 64] * 2
    assert low == [108 * 64 + 72 * 2 * 8] * 2
    assert stage.low_path_macs() == {y0: 144}


def test_vdqs_greedy_by_hand():
    entropies = {1: {8: 6.0, 4: 3.0, 2: 1.0}, 2: {8: 4.0, 4: 3.0, 2: 1.0}}  # total at 8 bits: 10
    macs = {1: 100, 2: 100}
    int8 = 200 * 64
    # lambda 0.5: map 2 to 4 bits scores -0.5 * 1/10 + 0.5 * (4 * 100 * 8 / 12800) = 0.075; then map 1's
    # 8 -> 4 scores -0.5 * 0.3 + 0.5 * 0.25 = -0.025 and map 2's 4 -> 2 -0.5 * 0.2 + 0.5 * 0.125 = -0.0375: stop.
    bits, steps = mp.vdqs(entropies, macs, int8, lam=0.5)
    assert bits == {1: 8, 2: 4}
    assert [(s.tensor, s.bits, s.bitops) for s in steps] == [(2, 4, 9600)]
    assert steps[0].score == pytest.approx(0.075)
    # lambda 0.2: 2 -> 4 (0.18), 1 -> 4 (0.14), then both 4 -> 2 score 0.06 (the lower index first).
    bits, steps = mp.vdqs(entropies, macs, int8, lam=0.2)
    assert bits == {1: 2, 2: 2}
    assert [(s.tensor, s.bits) for s in steps] == [(2, 4), (1, 4), (1, 2), (2, 2)]
    assert [s.score for s in steps] == pytest.approx([0.18, 0.14, 0.06, 0.06])
    # a bit-operation target of half the int8 figure stops after the first two steps
    bits, steps = mp.vdqs(entropies, macs, int8, lam=0.2, bitops_target=0.5)
    assert bits == {1: 4, 2: 4} and steps[-1].bitops == 6400
    # lambda 1 weighs entropy alone: nothing is ever lowered
    assert mp.vdqs(entropies, macs, int8, lam=1.0)[0] == {1: 8, 2: 8}


def test_vdqs_target_takes_steps_whatever_their_score_by_hand():
    entropies = {1: {8: 6.0, 4: 3.0, 2: 1.0}, 2: {8: 4.0, 4: 3.0, 2: 1.0}, 3: dict.fromkeys((8, 4, 2), 0.0)}
    # map 3 loses no entropy (S = 0 beats the negative steps) but no convolution reads it: it saves nothing and
    # is never lowered
    macs = {1: 100, 2: 100, 3: 0}
    int8 = 200 * 64
    # lambda 0.5 alone stops after map 2 -> 4 bits (test above); a target of half the int8 bit operations also
    # takes the best next step, map 1 -> 4 bits at S = -0.025 (map 2 -> 2 bits: -0.0375), reaching 6400.
    bits, steps = mp.vdqs(entropies, macs, int8, lam=0.5, bitops_target=0.5)
    assert bits == {1: 4, 2: 4, 3: 8}
    assert [(s.tensor, s.bits, s.bitops) for s in steps] == [(2, 4, 9600), (1, 4, 6400)]
    assert steps[1].score == pytest.approx(-0.025)
    # an unreachable target lowers every map that saves something to 2 bits, then stops
    bits, steps = mp.vdqs(entropies, macs, int8, lam=1.0, bitops_target=0.01)
    assert bits == {1: 2, 2: 2, 3: 8} and steps[-1].bitops == 200 * 2 * 8
    # the target is a fraction of int8 in (0, 1]; 1 takes no step
    assert mp.vdqs(entropies, macs, int8, lam=0.0, bitops_target=1.0) == ({1: 8, 2: 8, 3: 8}, [])
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="bit-operation target"):
            mp.vdqs(entropies, macs, int8, bitops_target=bad)


def test_entropy_table_by_hand():
    histogram = np.zeros(256, np.int64)
    histogram[[0, 1, 2, 3]] = 1  # q = -128..-125, z = -128: four equally likely values, 2 bits at 8 bits
    table = mp.entropy_table(histogram, -128, -125)
    assert table[8] == pytest.approx(2.0)
    assert table[4] == pytest.approx(2.0)  # 4 bits hold 0..3 exactly (step 1)
    assert table[2] == pytest.approx(2.0)  # and so do 2 bits
    table = mp.entropy_table(histogram, -128, -128 + 15)  # 2 bits for 0..15: step 8, all four values round to 0
    assert table[2] == pytest.approx(0.0)


def test_search_end_to_end_on_a_toy_chain():
    graph = conv_chain(4, (3, 3, 1), scale=4.0)
    stage = mp.patch_stage(graph, lower_graph(graph), 1, (2, 1))
    rng = np.random.default_rng(3)
    samples = [[rng.integers(-128, 128, (1, 4, 4, 1)).astype(np.int8)] for _ in range(8)]
    result = mp.search(stage, samples, mp.MixedPrecisionOptions(outlier_percentile=50, lam=0.0))
    y0 = stage.classified
    assert result.plan.bits == {y0: 2}  # lambda 0: bit operations alone, down to 2 bits
    assert 0 < result.low_bit_patch_share < 1
    assert result.bitops_int8 == 2 * (108 + 72) * 64
    assert result.bitops_low_path == 2 * (108 * 64 + 72 * 16)
    assert result.bitops_low_path < result.bitops < result.bitops_int8
    block = result.to_json()
    assert set(block) >= {"bits", "thresholds", "bitops_int8", "bitops", "low_bit_patch_share", "search_seconds"}
    assert block["bits"] == {"y0": 2}


def test_calibration_samples_quantize_floats_for_an_int8_input():
    graph = conv_chain()  # input scale 1, zero point 0
    x = np.array([[[[0.4], [1.6], [300.0], [-2.5]]] * 4], np.float32).reshape(1, 4, 4, 1)
    (sample,), = mp.calibration_samples({"x": x}, graph)
    assert sample.dtype == np.int8 and sample[0, 0, :, 0].tolist() == [0, 2, 127, -2]
    with pytest.raises(mp.CodegenError):
        mp.calibration_samples({"x": np.zeros((2, 5, 5, 1), np.float32)}, graph)
    with pytest.raises(mp.CodegenError):
        mp.calibration_samples({"y": x}, graph)


def test_report_keys_stay_distinct_when_maps_share_a_name():
    graph = conv_chain(4, (3, 3, 3, 1), scale=4.0)
    graph.tensors[graph.operators[1].outputs[0]].name = "y0"  # the second map named like the first
    stage = mp.patch_stage(graph, lower_graph(graph), 2, (2, 1))
    rng = np.random.default_rng(4)
    result = mp.search(stage, [[rng.integers(-128, 128, (1, 4, 4, 1)).astype(np.int8)]], mp.MixedPrecisionOptions())
    t0, t1 = stage.candidates
    assert set(result.to_json()["bits"]) == {f"y0 (t{t0})", f"y0 (t{t1})"}


def test_longest_picks_the_fitting_patch_schedule_with_most_stage_one_convolutions():
    graph = conv_chain(8, (3, 3, 3, 3, 1), scale=4.0)
    calls = lower_graph(graph)

    def schedule(split: int, arena: int, instructions: int, cached: bool = False) -> Schedule:
        return Schedule(split, (2, 2), f"y{split}", arena, 0, 0, cached=cached, predicted_instructions=instructions,
                        runtime_sram_bytes=0)

    chosen = schedule(1, 100, 10)  # two stage-1 convolutions: eligible, and the search's choice
    three, four = schedule(2, 100, 20), schedule(3, 100, 30)
    over, cached = schedule(4, 1000, 5), schedule(4, 100, 5, cached=True)  # five: over budget, cached bands
    weighed = [chosen, three, four, over, cached]
    assert mp.patch_schedule_of(graph, calls, chosen, weighed, 500) is chosen
    assert mp.patch_schedule_of(graph, calls, chosen, weighed, 500, longest=True) is four
    # among as many convolutions, the best-ranked (fewest predicted instructions)
    rival = schedule(3, 100, 25)
    assert mp.patch_schedule_of(graph, calls, chosen, [*weighed, rival], 500, longest=True) is rival
    assert mp.patch_schedule_of(graph, calls, chosen, weighed, 5000, longest=True) is over


# ---- low-bit range options: per-channel formats, clipping, integer steps, rounding offsets --------------------


def test_clip_tops_by_hand():
    h = np.zeros(256, np.int64)
    h[0], h[10 + 128], h[100 + 128] = 90, 9, 1  # values -128 (90x), 10 (9x), 100 (once)
    assert mp.clip_top(h, -128, 2, "threshold", 99.0, 55) == 55
    assert mp.clip_top(h, -128, 2, "percentile", 90.0, 55) == -128  # 90 of 100 at or below -128
    assert mp.clip_top(h, -128, 2, "percentile", 99.0, 55) == 10
    assert mp.clip_top(h, -128, 2, "percentile", 100.0, 55) == 100
    top = mp.clip_top(h, -128, 2, "mse", 99.0, 55)
    f = mp.low_bit_format(2, -128, top)
    q = np.arange(-128, 128)
    err = (h * (f.requantize(q).astype(np.int64) - q) ** 2).sum()
    full = mp.low_bit_format(2, -128, 127)
    assert err <= (h * (full.requantize(q).astype(np.int64) - q) ** 2).sum()  # never worse than the whole range
    h[100 + 128] = 0  # no outlier: values 0 and 138 above z fit a step of 64 exactly (levels 0..2 of 0..3)
    assert mp.low_bit_format(2, -128, mp.clip_top(h, -128, 2, "mse", 99.0, 127)).requantize(
        np.array([-128, 10], np.int8)).tolist() == [-128, 0]
    h[10 + 128], h[-118 + 128] = 0, 9  # values 0 and 10 above z: a step of 4 (10 -> 8 or 12), not 64 (-> 0)
    assert mp.low_bit_format(2, -128, mp.clip_top(h, -128, 2, "mse", 99.0, 127)).shift == 2
    assert mp.clip_top(np.zeros(256, np.int64), -128, 2, "mse", 99.0, 55) == 55  # nothing seen: qT
    with pytest.raises(ValueError):
        mp.MixedPrecisionOptions(clip="max").check()


def test_channel_formats_requantize_each_channel_on_its_own_range():
    f = mp.format_of(4, -128, (-88, 127))
    assert isinstance(f, mp.ChannelFormats) and f.bits == 4
    assert f.formats == (mp.low_bit_format(4, -128, -88), mp.low_bit_format(4, -128, 127))
    q = np.array([[-119, -119], [127, 127]], np.int8)  # channel 0: step 4 up to -88; channel 1: step 16
    assert f.requantize(q).tolist() == [[-120, -128 + 16], [-88, 112]]
    assert mp.format_of(4, -128, (-88,)) == mp.low_bit_format(4, -128, -88)
    assert f.to_json()["shift"] == [2, 4]
    with pytest.raises(ValueError):
        f.requantize(np.zeros((2, 3), np.int8))


def test_integer_steps_and_rounding_offsets_by_hand():
    f = mp.low_bit_format(2, -128, -98, integer_step=True)  # 30 above z in 3 steps: a step of 10
    assert (f.step, f.shift, f.m_lo, f.m_hi, f.unit) == (10, 0, 0, 3, 10)
    q = np.array([-128, -124, -123, -98, 127], np.int8)  # 0, 4, 5 (half: away from 0), 30, 255 above z
    assert f.requantize(q).tolist() == [-128, -128, -118, -98, -98]
    # 24 above z: the smallest integer step is 8, a power of two, held as a shift as before
    assert mp.low_bit_format(2, -128, -104, integer_step=True) == mp.low_bit_format(2, -128, -104)
    up = dataclasses.replace(f, offset=9)  # floor((x + 9) / 10): anything above z by 1 or more rounds up
    assert up.requantize(q).tolist() == [-128, -118, -118, -98, -98]
    h = np.zeros(256, np.int64)
    h[[0, 3, 4]] = (5, 5, 5)  # values -128, -125, -124: mean 3 above z
    assert mp.mean_offset(h, f) in range(10)
    kept = dataclasses.replace(f, offset=mp.mean_offset(h, f))
    qs = np.arange(-128, 128)
    assert abs((h * (kept.requantize(qs).astype(np.int64) - qs)).sum()) < abs((h * (f.requantize(qs).astype(
        np.int64) - qs)).sum())  # nearest rounding sends all three to -128, the offset keeps the mean closer


def test_per_channel_search_plans_each_channel_and_round_trips_through_the_report():
    from tests.codegen.quantize.test_mixed_precision_firmware import SCHEDULE, mp_graph

    graph = mp_graph()  # 8-channel maps
    calls = lower_graph(graph)
    stage = mp.patch_stage(graph, calls, SCHEDULE.split, SCHEDULE.grid)
    rng = np.random.default_rng(3)
    samples = [[rng.integers(-128, 128, (1, 16, 16, 3)).astype(np.int8)] for _ in range(4)]
    options = mp.MixedPrecisionOptions(outlier_percentile=100, lam=0.0, clip="mse", per_channel=True)
    result = mp.search(stage, samples, options)
    lowered = [t for t, b in result.plan.bits.items() if b < 8]
    assert lowered and all(len(result.plan.tops[t]) == 8 for t in lowered)
    assert all(isinstance(f, mp.ChannelFormats) for f in result.plan.formats(stage).values())
    block = result.to_json()
    assert len(block["tops"]) == len(lowered)
    again_stage, again = mp.stage_and_plan_of(graph, calls, block)
    assert again == result.plan
    plain = mp.search(stage, samples, mp.MixedPrecisionOptions(outlier_percentile=100, lam=0.0))
    assert not plain.plan.tops and "tops" not in plain.to_json()  # the default plan is what it was
    x = samples[0]
    out, low = mp.run_mixed(again_stage, again, x)
    assert all(low)
    assert not np.array_equal(out[0], mp.run_mixed(stage, plain.plan, x)[0][0])
