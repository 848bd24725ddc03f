"""Patch-based execution of stage 1 is bit-exact with per-layer execution, for every split point and grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.boards import load_board
from codegen.build import EMULATED_DIR, build
from codegen.emit_c import emit_model
from codegen.fuse_pad import fuse_pads
from codegen.host_model import HostModel
from codegen.lowering import lower_graph
from codegen.memory_plan import check_plan, plan_memory
from codegen.patch_schedule import Region, expand, expand_cached, split_points, tiles
from codegen.pipeline import compile_file
from codegen.reference_executor import run_reference
from codegen.schedule_search import choose
from codegen.specialize import specialize
from codegen.target import HOST
from codegen.tflite_reader import read_tflite
from tests.model_factory import GraphBuilder, _conv2d, _depthwise, _int8_input, _pad, _pool, per_tensor
from tools.emulator import Emulator


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


def test_search_picks_least_macs_that_fit_and_refuses_the_impossible(shared_models):
    graph = fuse_pads(read_tflite(shared_models / "mlperf_vww_96_int8.tflite"))
    calls = lower_graph(graph)
    base, _ = choose(graph, calls, 10**6)
    assert base.split is None  # per-layer fits: nothing is recomputed
    chosen, weighed = choose(graph, calls, 48 * 1024)
    assert chosen.split is not None and chosen.peak_sram_bytes <= 48 * 1024
    fitting = [s for s in weighed if s.peak_sram_bytes <= 48 * 1024]
    assert chosen.macs == min(s.macs for s in fitting)
    with pytest.raises(Exception, match="smallest peak any schedule reaches is"):
        choose(graph, calls, 30 * 1024)


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


ZOO = ["mbv2-w0.3-r80_imagenet.json", "mcunet-10fps_imagenet.json"]


@pytest.mark.parametrize("config", ZOO)
def test_mcunet_config_networks_patch_schedules_match_per_layer(config, shared_models, tmp_path):
    """MobileNetV2 and MCUNet built from mcunet_configs (random weights): schedules in generated C, and the
    schedule the search picks under a tight budget in the emulated firmware, equal per-layer execution."""
    from codegen.model_zoo import mcunet_from_json
    from codegen.pipeline import compile_graph
    from codegen.tflite_writer import write_tflite

    graph = fuse_pads(mcunet_from_json(shared_models / "mcunet_configs" / config))
    calls = lower_graph(graph)
    x = np.random.default_rng(1).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    points = split_points(graph, calls)
    for g2, c2 in (expand(graph, calls, points[len(points) // 2], (3, 3)),
                   expand_cached(graph, calls, points[len(points) // 2], 8, 2)):
        c2 = specialize(g2, c2, HOST)
        out = HostModel(g2, emit_model(g2, c2, plan_memory(g2, c2), bytes(8)).files).run([x])[0]
        np.testing.assert_array_equal(out, expected)

    model = tmp_path / f"{config}.tflite"
    model.write_bytes(write_tflite(mcunet_from_json(shared_models / "mcunet_configs" / config)))
    per_layer = compile_graph(graph, b"", HOST).plan.arena_bytes
    budget = int(per_layer * 0.8)
    result = build(model, load_board("nucleo-f746"), tmp_path / "b", sram_budget=budget)
    assert result.compiled.schedule.split is not None and result.sram_used <= budget
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([x])
    np.testing.assert_array_equal(np.frombuffer(raw[0], np.int8).reshape(expected.shape), expected)
