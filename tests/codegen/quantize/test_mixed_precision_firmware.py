"""Mixed-precision patches (QuantMCU) in firmware: a small tflite_writer model whose stage 1 holds three
convolutions, built with each patch's VDPC branch (the low-bit path on packed maps, DSP low-bit kernels) and
run in QEMU on the nucleo-f746 twin. The firmware's outputs equal the NumPy reference `run_mixed` with every
patch forced onto the int8 path (then also TFLite Micro, bit for bit), every patch forced onto the low-bit
path, and calibrated thresholds that mix the two."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.quantize import mixed_precision as mp
from codegen.quantize.mixed_patches import mixed_patches
from codegen.schedule.search import Schedule
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import GraphBuilder, f32, per_tensor, run_tflm
from tests.support.twin_firmware import TwinFirmware

BOARD = "nucleo-f746"
BUDGET = 1 << 20
# stage 1 up to conv2 (calls: conv1, dw, conv2) in 8 x 1 patches: the interior patches' branches fold into a
# loop of six, the first and last patches' branches stay straight-line
SCHEDULE = Schedule(2, (8, 1), "conv2", 0, 0, 0)


def _conv(b: GraphBuilder, rng: np.random.Generator, x: int, name: str, cout: int, k: int, out_q: tuple[float, int],
          stride: int = 1, depthwise: bool = False) -> int:
    cin = b.shape(x)[3]
    h = -(-b.shape(x)[1] // stride)
    in_scale = b.quant(x).scale[0]
    shape = (1, k, k, cin) if depthwise else (cout, k, k, cin)
    channels = cin if depthwise else cout
    w_scales = tuple(f32(s) for s in rng.uniform(0.002, 0.004, channels))
    w = b.tensor(f"{name}_w", shape, "int8", Quantization(w_scales, (0,) * channels, 3 if depthwise else 0),
                 rng.integers(-127, 128, shape))
    bias = b.tensor(f"{name}_b", (channels,), "int32",
                    Quantization(tuple(f32(in_scale * s) for s in w_scales), (0,) * channels, 0),
                    rng.integers(-300, 300, channels))
    y = b.tensor(name, (1, h, h, channels), "int8", per_tensor(*out_q))
    options = dict(padding="SAME", stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1, activation="RELU")
    if depthwise:
        b.op("DEPTHWISE_CONV_2D", (x, w, bias), (y,), depth_multiplier=1, **options)
    else:
        b.op("CONV_2D", (x, w, bias), (y,), **options)
    return y


def mp_graph() -> Graph:
    """16x16x3 -> conv 3x3 (8) -> depthwise 3x3 -> conv 1x1 (8) -> conv 3x3 stride 2 (4): the patch schedule's
    stage 1 runs the first three, so the classified map and the depthwise output may take fewer bits."""
    rng = np.random.default_rng(16)
    b = GraphBuilder("mp_chain")
    x = b.tensor("input", (1, 16, 16, 3), "int8", per_tensor(0.02, -5))
    y = _conv(b, rng, x, "conv1", 8, 3, (0.04, -128))
    y = _conv(b, rng, y, "dw", 8, 3, (0.01, -128), depthwise=True)
    y = _conv(b, rng, y, "conv2", 8, 1, (0.006, -128))
    y = _conv(b, rng, y, "conv3", 4, 3, (0.004, -128), stride=2)
    return b.build((x,), (y,))


def _samples(seed: int, n: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, (1, 16, 16, 3)).astype(np.int8)] for _ in range(n)]


# per-channel tops of the low-bit ranges (8 channels): runs of equal formats, clipped channels, a full-range one
CHANNEL_TOPS = (-100, -100, -60, 0, 40, 127, -128, 20)


def _forced(stage: mp.PatchStage, result: mp.MixedPrecisionResult, threshold: int | None,
            per_channel: bool = False) -> mp.MixedPrecisionResult:
    """The searched result with 4 and 2 bits alternating over the candidates, and every threshold `threshold`
    (None: the calibrated ones); `per_channel`: each map with CHANNEL_TOPS (ChannelFormats)."""
    bits = {t: (4, 2)[k % 2] for k, t in enumerate(stage.candidates)}
    q = result.plan.q_thresholds if threshold is None else dict.fromkeys(stage.candidates, threshold)
    tops = dict.fromkeys(stage.candidates, CHANNEL_TOPS) if per_channel else {}
    return dataclasses.replace(result, plan=mp.MixedPrecisionPlan(bits, q, tops))


@pytest.mark.emulator
def test_firmware_equals_run_mixed_on_each_path(tmp_path: Path):
    graph = mp_graph()
    model = write_tflite(graph)
    board = load_board(BOARD)
    calib, tests = _samples(0, 8), _samples(1, 4)
    twin = TwinFirmware(tmp_path / "twin", board)
    seen: dict[str, list[bool]] = {}
    changed = 0  # low-bit outputs that differ from int8: the requantization ran
    # s = 2: the int8 path runs each 2 x 16 tile as 2 x 2 sub-patches (mixed_split.py); per-channel formats run
    # the unpacked path (every low-bit map requantized in place), here with sub-patches too
    for label, threshold, s in (("int8", mp.ALL_INT8, 1), ("low-bit", 127, 1), ("calibrated", None, 1),
                                ("int8, sub-patches", mp.ALL_INT8, 2), ("calibrated, sub-patches", None, 2),
                                ("per-channel", 127, 1), ("per-channel, sub-patches", 127, 2)):
        def search(stage: mp.PatchStage, threshold: int | None = threshold,
                   per_channel: bool = label.startswith("per-channel")) -> mp.MixedPrecisionResult:
            options = mp.MixedPrecisionOptions(outlier_percentile=50, lam=0.0)
            return _forced(stage, mp.search(stage, calib, options), threshold, per_channel)

        compiled = compile_graph(graph, model, Target(board.core), BUDGET, schedule=SCHEDULE, mixed=search,
                                 int8_subpatches=s)
        stage, plan = compiled.mixed_precision.stage, compiled.mixed_precision.plan
        assert len(stage.candidates) == 2 and set(plan.bits.values()) == {2, 4}
        text = compiled.sources.files["model.c"]
        assert stage.patches == 8 and "lowbit_requantize_s8(" in text
        if label.startswith("per-channel"):  # one call per run of channels sharing a format: 7 in CHANNEL_TOPS
            assert all(isinstance(f, mp.ChannelFormats) for f in plan.formats(stage).values())
            assert "_c6_params" in text and "_c1_params" not in text and "lowbit_dsp(" not in text
        else:  # the classified map (4 bits) is requantized in place; the depthwise output (2 bits) is held
            # packed: written by the depthwise's low-bit twin, read by the 1x1 convolution's, which writes int8
            assert "depthwise_conv2d_lowbit_dsp(" in text and "conv2d_lowbit_dsp(" in text
        if s == 1:
            assert text.count("if (peak > ") == 3 and text.count("for (uint32_t i = 0; i < 6u; ++i)") == 1
        else:  # four sub-patch stores per patch in the int8 bodies, one coarse store in the low-bit ones
            assert sum(c.kernel == "copy_window" for c in compiled.calls) == 8 * 5 and "if (peak > " in text
        got = twin.run_each(compiled, tests)
        seen[label] = []
        for inputs, out in zip(tests, got, strict=True):
            expected, low = mp.run_mixed(stage, plan, inputs)
            np.testing.assert_array_equal(out[0], expected[0], err_msg=f"{label}: firmware differs from run_mixed")
            seen[label] += low
            tflm = run_tflm(model, inputs, graph)[0]
            if label.startswith("int8"):
                np.testing.assert_array_equal(out[0], tflm)
            else:
                changed += int(not np.array_equal(out[0], tflm))
    assert not any(seen["int8"]) and not any(seen["int8, sub-patches"]) and all(seen["low-bit"])
    assert all(seen["per-channel"]) and all(seen["per-channel, sub-patches"])
    assert any(seen["calibrated"]) and not all(seen["calibrated"])  # both paths taken
    assert seen["calibrated, sub-patches"] == seen["calibrated"]
    assert changed >= len(tests)


def pool_graph() -> Graph:
    """16x16x3 -> conv 3x3 (8) -> max pool 2x2 -> conv 3x3 (8) -> conv 1x1 (8) -> conv 3x3 stride 2 (4)."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("mp_pool")
    x = b.tensor("input", (1, 16, 16, 3), "int8", per_tensor(0.02, -5))
    y = _conv(b, rng, x, "conv1", 8, 3, (0.04, -128))
    pooled = b.tensor("pool", (1, 8, 8, 8), "int8", b.quant(y))
    b.op("MAX_POOL_2D", (y,), (pooled,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    y = _conv(b, rng, pooled, "conv2", 8, 3, (0.01, -128))
    y = _conv(b, rng, y, "conv3", 8, 1, (0.006, -128))
    y = _conv(b, rng, y, "conv4", 4, 3, (0.004, -128), stride=2)
    return b.build((x,), (y,))


def test_only_maps_of_kernels_with_low_bit_twins_are_lowered():
    """A pooled map (MAX_POOL_2D has no low-bit twin) is not packed: like the classified map it keeps an int8
    buffer, requantized in place; the maps around it may be packed, and the low-bit path of every patch swaps
    exactly the calls touching a packed map (no firmware run: host only)."""
    graph = pool_graph()
    calls = lower_graph(fuse_pads(graph))
    split = next(k for k, c in enumerate(calls) if graph.tensor(c.outputs[0]).name == "conv3")
    stage = mp.patch_stage(fuse_pads(graph), calls, split, (2, 1))
    names = [graph.tensor(t).name for t in stage.candidates]
    assert names == ["conv1", "pool", "conv2"]  # not the split tensor conv3
    assert [graph.tensor(t).name for t in stage.packed] == ["conv2"]
    plan = mp.MixedPrecisionPlan(dict.fromkeys(stage.candidates, 2), dict.fromkeys(stage.candidates, 127))
    branches = mixed_patches(stage, plan, dsp=False).branches
    assert len(branches) == 2
    for branch in branches:
        in_place = [stage.expanded_calls[p].kernel for p in branch.requantize]
        assert list(branch.requantize)[0] == branch.check and in_place == ["conv2d_s8", "max_pool2d_s8"]
        kernels = [(stage.expanded_calls[p].kernel, t.kernel, t.params.in_bits, t.params.out_bits)
                   for p, t in sorted(branch.twins.items())]
        assert kernels == [("conv2d_s8", "conv2d_lowbit", 8, 2), ("conv2d_s8", "conv2d_lowbit", 2, 8)]


def test_planner_weighs_grids_and_int8_subpatches_under_the_budget(monkeypatch: pytest.MonkeyPatch):
    """`--mp-int8-subpatches auto`: every pair weighed is reported; the chosen one fits and has the fewest expected
    stage-1 MACs of those that fit; int8 sub-patches cost MACs (recomputed halos) and save arena (host only)."""
    from codegen.quantize import mixed_plan

    monkeypatch.setattr(mixed_plan, "SUBPATCHES", (1, 2, 4))
    monkeypatch.setattr(mixed_plan, "MAX_GRIDS", 2)
    graph = mp_graph()
    board = load_board(BOARD)
    calib = _samples(0, 8)

    def search(stage: mp.PatchStage) -> mp.MixedPrecisionResult:
        options = mp.MixedPrecisionOptions(outlier_percentile=50, lam=0.0)
        return _forced(stage, mp.search(stage, calib, options), None)

    budget = 7600
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core), budget, mixed=search, int8_subpatches=0)
    choices = compiled.mixed_choices
    assert len(choices) == 2 * 3 and compiled.mixed_choice in choices
    chosen = compiled.mixed_choice
    assert chosen.fits and chosen.peak_sram_bytes <= budget and chosen.s == compiled.int8_subpatches
    assert chosen.expected_macs == min(c.expected_macs for c in choices if c.fits)
    assert compiled.plan.arena_bytes == chosen.arena_bytes
    first = [c for c in choices if (c.grid, c.split) == (choices[0].grid, choices[0].split)]
    assert [c.s for c in first] == [1, 2, 4]
    assert first[0].expected_macs < first[1].expected_macs < first[2].expected_macs
    assert first[2].arena_bytes < first[0].arena_bytes


@pytest.mark.emulator
def test_firmware_with_a_pooled_low_bit_map_equals_run_mixed(tmp_path: Path):
    """The pooled map (2 bits, no twin reads or writes it packed) requantized in place between packed maps: the
    firmware equals run_mixed with every patch on the low-bit path, int8 sub-patches included."""
    graph = pool_graph()
    model = write_tflite(graph)
    board = load_board(BOARD)
    split = next(k for k, c in enumerate(lower_graph(fuse_pads(graph))) if graph.tensor(c.outputs[0]).name == "conv3")
    twin = TwinFirmware(tmp_path / "twin", board)
    tests = _samples(3, 3)
    for s in (1, 2):
        def search(stage: mp.PatchStage) -> mp.MixedPrecisionResult:
            options = mp.MixedPrecisionOptions(outlier_percentile=50, lam=0.0)
            result = mp.search(stage, _samples(0, 4), options)
            bits = dict.fromkeys(stage.candidates, 2)
            return dataclasses.replace(result, plan=mp.MixedPrecisionPlan(bits, dict.fromkeys(bits, 127)))

        compiled = compile_graph(graph, model, Target(board.core), BUDGET, schedule=Schedule(split, (2, 1), "conv3",
                                 0, 0, 0), mixed=search, int8_subpatches=s)
        stage, plan = compiled.mixed_precision.stage, compiled.mixed_precision.plan
        assert [graph.tensor(t).name for t in stage.packed] == ["conv2"]
        text = compiled.sources.files["model.c"]
        assert text.count("lowbit_requantize_s8(") >= 2 and "conv2d_lowbit_dsp(" in text
        for inputs, out in zip(tests, twin.run_each(compiled, tests), strict=True):
            expected, low = mp.run_mixed(stage, plan, inputs)
            assert all(low)
            np.testing.assert_array_equal(out[0], expected[0], err_msg=f"s={s}: firmware differs from run_mixed")
            assert not np.array_equal(out[0], run_tflm(model, inputs, graph)[0])
