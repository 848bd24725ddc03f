"""Patch-based execution of stage 1 is bit-exact with per-layer execution, for every split point and grid."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.emit.c_source import emit_model
from codegen.errors import BudgetError
from codegen.frontend.tflite_reader import read_tflite
from codegen.kernels import SPECIALIZERS
from codegen.memory.planner import check_plan, plan_memory
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import specialize
from codegen.pipeline import compile_file, compile_graph
from codegen.reference_executor import run_reference
from codegen.schedule import cost_model
from codegen.schedule.patch_schedule import Region, expand, expand_cached, split_points, tiles
from codegen.schedule.search import RUNTIME_SRAM_BYTES, Schedule, apply, choose
from codegen.targets.boards import load_board
from codegen.targets.core import HOST, Target
from tests.support.model_factory import GraphBuilder, _conv2d, _depthwise, _int8_input, _pad, _pool, per_tensor
from tests.support.twin_firmware import TwinFirmware
from tools.build import EMULATED_DIR, build
from tools.host_model import HostModel
from tools.link.emulator import Emulator


@st.composite
def stage_graphs(draw):
    """Random chains of convolutions, depthwise convolutions, pools, PAD+conv and residual ADDs."""
    b = GraphBuilder("chain")
    h, w, c = draw(st.integers(6, 18)), draw(st.integers(6, 18)), draw(st.integers(1, 4))
    x = first = _int8_input(draw, b, (1, h, w, c))
    for _ in range(draw(st.integers(2, 5))):
        if min(b.shape(x)[1:3]) < 3:
            break
        kind = draw(st.sampled_from(["conv", "dw", "avg", "max", "padconv", "residual"]))
        if kind == "conv":
            x = _conv2d(draw, b, x)
        elif kind == "dw":
            x = _depthwise(draw, b, x)
        elif kind in ("avg", "max"):
            x = _pool(draw, b, x, "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D")
        elif kind == "padconv":
            x = _conv2d(draw, b, _pad(draw, b, x, spatial_only=True), padding="VALID")
        else:
            y = _depthwise(draw, b, x)
            if b.shape(y) == b.shape(x):
                out = b.tensor("residual", b.shape(x), "int8", per_tensor(draw(st.sampled_from([0.05, 0.1, 0.2])), 0))
                b.op("ADD", (x, y), (out,), activation="NONE")
                x = out
            else:
                x = y
    # Stage 2 needs at least one layer after any split.
    x = _pool(draw, b, x, "MAX_POOL_2D")
    return b.build((first,), (x,))


@settings(max_examples=60, deadline=None)
@given(stage_graphs(), st.integers(1, 4), st.integers(1, 4), st.data())
def test_every_split_and_grid_matches_per_layer(graph, rows, cols, data):
    graph = fuse_pads(graph)
    calls = lower_graph(graph)
    x = np.random.default_rng(0).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    points = split_points(graph, calls)
    if not points:
        return
    split = data.draw(st.sampled_from(points))
    split_shape = graph.tensor(calls[split].outputs[0]).shape
    grid = (min(rows, split_shape[1]), min(cols, split_shape[2]))
    g2, c2 = expand(graph, calls, split, grid)
    check_plan(plan_memory(g2, c2))
    np.testing.assert_array_equal(run_reference(g2, [x], c2)[0], expected)
    # The same split with line buffers: row bands x column strips, vertical halos cached, never recomputed.
    bands = data.draw(st.integers(2, max(split_shape[1], 2)))
    g3, c3 = expand_cached(graph, calls, split, bands, grid[1])
    check_plan(plan_memory(g3, c3))
    np.testing.assert_array_equal(run_reference(g3, [x], c3)[0], expected)
    if grid[1] == 1:
        assert sum(c.macs for c in c3) <= sum(c.macs for c in calls)  # no recomputation at all


def _pad_only_patch_graph():
    """conv 3x1 -> PAD 2 rows below -> 1x1 conv: the last rows of the fused conv read padding only, so a patch
    there needs no input rows at all (found by the random chains above)."""
    b = GraphBuilder("pad_only_patch")
    q = per_tensor(0.05, 3)
    x = b.tensor("input", (1, 6, 5, 4), "int8", q)
    w1 = b.tensor("w1", (8, 1, 1, 4), "int8", per_tensor(0.02, 0), np.arange(32).reshape(8, 1, 1, 4) % 7 - 3)
    b1 = b.tensor("b1", (8,), "int32", per_tensor(0.001, 0), np.arange(8) * 5 - 20)
    y1 = b.tensor("conv1", (1, 3, 5, 8), "int8", q)
    b.op("CONV_2D", (x, w1, b1), (y1,), padding="SAME", stride_h=2, stride_w=1, dilation_h=1, dilation_w=1,
         activation="NONE")
    pads = b.const_i32("paddings", [[0, 0], [0, 2], [0, 0], [0, 0]])
    y2 = b.tensor("pad", (1, 5, 5, 8), "int8", q)
    b.op("PAD", (y1, pads), (y2,))
    w3 = b.tensor("w3", (4, 1, 1, 8), "int8", per_tensor(0.02, 0), np.arange(32).reshape(4, 1, 1, 8) % 5 - 2)
    b3 = b.tensor("b3", (4,), "int32", per_tensor(0.001, 0), [7, -300, 40, 1000])
    y3 = b.tensor("conv3", (1, 5, 5, 4), "int8", per_tensor(0.04, -5))
    b.op("CONV_2D", (y2, w3, b3), (y3,), padding="VALID", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="NONE")
    y4 = b.tensor("pool", (1, 5, 5, 4), "int8", per_tensor(0.04, -5))
    b.op("MAX_POOL_2D", (y3,), (y4,), padding="SAME", stride_h=1, stride_w=1, filter_h=1, filter_w=1,
         activation="NONE")
    return b.build((x,), (y4,))


def test_patches_that_read_only_padding_are_exact():
    graph = fuse_pads(_pad_only_patch_graph())
    calls = lower_graph(graph)
    x = np.random.default_rng(3).integers(-128, 128, size=(1, 6, 5, 4), dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    split = split_points(graph, calls)[-1]
    assert graph.tensor(calls[split].outputs[0]).shape[1] == 5
    for g2, c2 in (expand(graph, calls, split, (5, 2)), expand_cached(graph, calls, split, 5, 2)):
        np.testing.assert_array_equal(run_reference(g2, [x], c2)[0], expected)
        c2 = specialize(g2, c2, HOST)
        out = HostModel(g2, emit_model(g2, c2, plan_memory(g2, c2), bytes(8)).files).run([x])[0]
        np.testing.assert_array_equal(out, expected)


def test_tiles_partition_the_tensor():
    for h, w, r, c in [(7, 5, 3, 2), (48, 48, 4, 4), (3, 10, 3, 4)]:
        cover = np.zeros((h, w), int)
        for t in tiles(h, w, r, c):
            cover[t.y0 : t.y1, t.x0 : t.x1] += 1
        assert (cover == 1).all()
    assert Region(0, 2, 0, 2).union(Region(1, 5, 3, 4)) == Region(0, 5, 0, 4)


@pytest.mark.parametrize("model", ["mlperf_vww_96_int8", "tflm_person_detect", "tinyengine_mcunet_vww"])
def test_real_models_patch_schedules_in_generated_c(model, shared_models):
    """Generated C (host build) for a sweep of split points and grids equals TFLM's golden output."""
    graph = fuse_pads(read_tflite(shared_models / f"{model}.tflite"))
    calls = lower_graph(graph)
    data = np.load(shared_models / "vectors" / f"{model}.npz")
    points = split_points(graph, calls)
    assert len(points) >= 4
    sweep = [(points[0], (1, 2)), (points[1], (2, 2)), (points[len(points) // 3], (3, 3)),
             (points[len(points) // 2], (4, 4)), (points[-1], (2, 3))]
    cached_sweep = [(points[1], (4, 1)), (points[len(points) // 3], (6, 2)), (points[-1], (3, 3))]
    expansions = [expand(graph, calls, s, g) + (f"patches {g} after call {s}",) for s, g in sweep]
    expansions += [expand_cached(graph, calls, s, *g) + (f"cached {g} after call {s}",) for s, g in cached_sweep]
    for g2, c2, what in expansions:
        c2 = specialize(g2, c2, HOST)
        plan = plan_memory(g2, c2)
        out = HostModel(g2, emit_model(g2, c2, plan, bytes(8)).files).run([data["in0"]])[0]
        np.testing.assert_array_equal(out, data["out0"], err_msg=what)


def sweep(graph, calls) -> list[Schedule]:
    """Split points from first to last, each with patch grids from 1x2 to 4x4, square and not, halo-cache bands
    with 1 to 4 strips, and (last) the input streamed with the later blocks in bands."""
    points = split_points(graph, calls)
    n = len(points)

    def fit(split, grid):
        shape = graph.tensor(calls[split].outputs[0]).shape
        return split, (min(grid[0], shape[1]), min(grid[1], shape[2]))

    patches = [fit(points[0], (1, 2)), fit(points[0], (2, 1)), fit(points[n // 4], (2, 2)), fit(points[n // 3], (3, 3)),
               fit(points[n // 2], (4, 4)), fit(points[n // 2], (2, 3)), fit(points[-1], (3, 4)),
               fit(points[-1], (4, 1))]
    bands = [fit(points[0], (99, 1)), fit(points[n // 3], (6, 2)), fit(points[n // 2], (4, 3)),
             fit(points[-1], (2, 4))]
    return ([Schedule(s, g, "", 0, 0, 0) for s, g in patches]
            + [Schedule(s, g, "", 0, 0, 0, cached=True) for s, g in bands]
            + [Schedule(*fit(points[n // 3], (6, 2)), "", 0, 0, 0, cached=True, streamed=True, banded=True)])


@pytest.mark.emulator
@pytest.mark.parametrize("model", ["mlperf_vww_96_int8", "tflm_person_detect",
                                   pytest.param("tinyengine_mcunet_vww", marks=pytest.mark.slow)])
def test_real_models_patch_schedules_in_the_emulated_firmware(model, shared_models, tmp_path):
    """A sweep of split points and grids (recomputed halos, square and not; cached bands; streamed input with
    blocks in bands) built with the fast kernels and run on the emulated Cortex-M7: each equals TFLM's golden
    output bit for bit. Late splits with many patches recompute a lot and need large line buffers (MCUNet-VWW
    cached at its last split: 550 kB), so the sweep runs on the MPS2+ AN500 (4 MB of SRAM; same core and
    kernels as the STM32F7 boards), which holds every schedule."""
    path = shared_models / f"{model}.tflite"
    graph = fuse_pads(read_tflite(path))
    calls = lower_graph(graph)
    data = np.load(shared_models / "vectors" / f"{model}.npz")
    board = load_board("mps2plus-an500")
    twin = TwinFirmware(tmp_path / "twin", board)
    schedules = sweep(graph, calls)
    assert len({(s.split, s.grid, s.cached, s.streamed) for s in schedules}) == len(schedules) == 13
    for schedule in schedules:
        compiled = compile_graph(read_tflite(path), path.read_bytes(), Target(board.core), schedule=schedule)
        assert len(compiled.calls) > len(calls)  # the patches are really there
        assert any("_dsp" in c.kernel for c in compiled.calls)
        out = twin.run(compiled, [data["in0"]])[0]  # mcunet_vww's output is float (DEQUANTIZE): compared exactly
        np.testing.assert_array_equal(out.reshape(data["out0"].shape), data["out0"],
                                      err_msg=f"{model}: {schedule.describe()} {schedule.grid}")


def test_search_picks_least_predicted_instructions_that_fit_and_refuses_the_impossible(shared_models):
    graph = fuse_pads(read_tflite(shared_models / "mlperf_vww_96_int8.tflite"))
    calls = lower_graph(graph)
    cost = cost_model.load()
    base, _ = choose(graph, calls, 10**6, cost=cost)
    assert base.split is None  # per-layer fits: nothing is recomputed
    chosen, weighed = choose(graph, calls, 48 * 1024, cost=cost)
    assert chosen.split is not None and chosen.peak_sram_bytes <= 48 * 1024
    fitting = [s for s in weighed if s.peak_sram_bytes <= 48 * 1024]
    assert all(s.predicted_instructions for s in weighed)
    cheapest = min(s.predicted_instructions for s in fitting)
    assert chosen.predicted_instructions == cheapest
    assert chosen.macs == min(s.macs for s in fitting if s.predicted_instructions == cheapest)  # the tie-break
    # Without a cost model the search ranks by MACs alone.
    by_macs, _ = choose(graph, calls, 48 * 1024)
    assert by_macs.predicted_instructions is None and by_macs.macs == min(s.macs for s in fitting)
    with pytest.raises(Exception, match="smallest peak any schedule reaches is"):
        choose(graph, calls, 30 * 1024)


def test_fast_kernels_scratch_never_breaks_the_promised_arena(shared_models):
    """Patch windows run the DSP kernels too; where their scratch would lift the arena above what the schedule
    promised, those calls (only those) keep the portable kernel."""
    graph = fuse_pads(read_tflite(shared_models / "mlperf_vww_96_int8.tflite"))
    calls = lower_graph(graph)
    schedule, _ = choose(graph, calls, 48 * 1024)
    g2, c2 = apply(graph, calls, schedule)
    promised = plan_memory(g2, c2).arena_bytes
    unlimited = specialize(g2, c2, HOST)
    assert plan_memory(g2, unlimited).arena_bytes > promised  # the first conv's scratch sits at the peak
    limited = specialize(g2, c2, HOST, arena_limit=promised)
    assert plan_memory(g2, limited).arena_bytes <= promised
    kept = [c for c in limited if c.kernel.endswith("_dsp") or "_dsp_" in c.kernel]
    reverted = [c for c, orig in zip(limited, c2, strict=True) if c is orig and c.kernel in SPECIALIZERS]
    assert len(kept) > len(reverted) > 0
    assert {c.kernel for c in reverted} == {"conv2d_s8"}  # only calls that carry scratch go back
    x = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")
    out = HostModel(g2, emit_model(g2, limited, plan_memory(g2, limited), bytes(8)).files).run([x["in0"]])[0]
    np.testing.assert_array_equal(out, x["out0"])


@pytest.mark.emulator
def test_patch_firmware_is_bit_exact_and_within_the_promised_budget(shared_models, tmp_path):
    budget = 48 * 1024
    board = load_board("nucleo-f746")
    result = build(shared_models / "mlperf_vww_96_int8.tflite", board, tmp_path / "b", sram_budget=budget)
    assert result.compiled.schedule.split is not None
    assert result.sram_used <= budget  # measured: static RAM + stack high-water painted in the emulator
    data = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([data["in0"]])
    assert np.frombuffer(raw[0], np.int8).tolist() == data["out0"].reshape(-1).tolist()
    assert compile_file(shared_models / "mlperf_vww_96_int8.tflite").plan.arena_bytes > result.compiled.plan.arena_bytes


@pytest.mark.emulator
def test_budgets_are_refused_and_met_with_the_measured_runtime_sram(shared_models, tmp_path):
    """The search starts from an estimate of the SRAM besides the arena (4,096 B); the build measures it on the
    emulated board and searches again. A budget below every schedule is refused with the peak the smallest
    schedule's firmware really has, and exactly that budget, which the estimate refuses, then builds."""
    model = shared_models / "mlperf_vww_96_int8.tflite"
    graph = fuse_pads(read_tflite(model))
    with pytest.raises(BudgetError, match="estimated") as estimated:
        choose(graph, lower_graph(graph), 41_000)
    floor = estimated.value.smallest
    board = load_board("nucleo-f746")
    with pytest.raises(BudgetError, match="measured on the emulated board") as measured:
        build(model, board, tmp_path / "c", sram_budget=41_000)
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".c*"))
    found = re.search(r"reaches is ([\d,]+) bytes \(arena ([\d,]+) \+ ([\d,]+)", str(measured.value))
    peak, arena, runtime = (int(g.replace(",", "")) for g in found.groups())
    assert 41_000 < peak == arena + runtime < floor.peak_sram_bytes and arena == floor.arena_bytes
    result = build(model, board, tmp_path / "b", sram_budget=peak)
    assert result.remeasured and result.sram_used == peak and result.compiled.plan.arena_bytes == arena
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["schedule"]["runtime_sram_bytes"] == report["runtime_sram_bytes"] == runtime < RUNTIME_SRAM_BYTES
    assert report["schedule_searched_with_measured_runtime"]
    data = np.load(shared_models / "vectors" / "mlperf_vww_96_int8.npz")
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([data["in0"]])
    assert np.frombuffer(raw[0], np.int8).tolist() == data["out0"].reshape(-1).tolist()


ZOO = ["mbv2-w0.3-r80_imagenet.json", "mcunet-10fps_imagenet.json"]


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("config", ZOO)
def test_mcunet_config_networks_patch_schedules_match_per_layer(config, shared_models, tmp_path):
    """MobileNetV2 and MCUNet built from mcunet_configs (random weights): the sweep of split points and grids,
    and the schedule the search picks under a tight budget, each in the emulated firmware, equal per-layer
    execution."""
    from codegen.frontend.model_zoo import mcunet_from_json
    from codegen.frontend.tflite_writer import write_tflite

    original = mcunet_from_json(shared_models / "mcunet_configs" / config)
    graph = fuse_pads(original)
    calls = lower_graph(graph)
    x = np.random.default_rng(1).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    twin = TwinFirmware(tmp_path / "twin", load_board("mps2plus-an500"))
    for schedule in sweep(graph, calls):
        compiled = compile_graph(original, b"", Target("cortex-m7"), schedule=schedule)
        assert len(compiled.calls) > len(calls)
        np.testing.assert_array_equal(twin.run(compiled, [x])[0], expected, err_msg=f"{schedule.describe()}")

    model = tmp_path / f"{config}.tflite"
    model.write_bytes(write_tflite(original))
    per_layer = compile_graph(graph, b"", HOST).plan.arena_bytes
    budget = int(per_layer * 0.8)
    result = build(model, load_board("nucleo-f746"), tmp_path / "b", sram_budget=budget)
    assert result.compiled.schedule.split is not None and result.sram_used <= budget
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([x])
    np.testing.assert_array_equal(np.frombuffer(raw[0], np.int8).reshape(expected.shape), expected)
