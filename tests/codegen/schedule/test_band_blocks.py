"""Row bands after the patch stage (blocks, residual sums over their shortcuts) and streamed input rows: each
bit-exact with per-layer execution in the NumPy reference and in the generated C on the host, and each lowering
the arena it was chosen for."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.model_zoo import mobilenet_v2
from codegen.memory.planner import check_plan, plan_memory
from codegen.passes.depthwise_in_place import place_depthwise_in_place
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.residual_in_place import band_residuals
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.schedule.band_segments import band_blocks, block_segments
from codegen.schedule.patch_schedule import can_stream_input, expand_cached, split_points
from codegen.schedule.search import NoScheduleFits, choose, smallest_streamed_arena
from codegen.targets.core import HOST
from tools.host_model import HostModel


@pytest.fixture(scope="module")
def mbv2():
    graph = fuse_pads(mobilenet_v2(0.35, 64, num_classes=10))
    calls = lower_graph(graph)
    x = np.random.default_rng(3).integers(-128, 128, graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    return graph, calls, x, run_reference(graph, [x], calls)


def _arena(graph, calls):
    plan = plan_memory(graph, calls)
    graph, plan = place_depthwise_in_place(graph, calls, plan)
    check_plan(plan)
    return graph, plan


def _exact(graph, calls, x, expected):
    for got, want in zip(run_reference(graph, [x], calls), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    graph, plan = _arena(graph, calls)
    from codegen.emit.c_source import emit_model

    host = HostModel(graph, emit_model(graph, calls, plan, b"bandtest").files)
    for got, want in zip(host.run([x]), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    return host


def test_blocks_in_bands_are_exact_and_smaller(mbv2):
    graph, calls, x, expected = mbv2
    segments = block_segments(graph, calls)
    assert len(segments) >= 10 and all(a <= b for a, b in segments)
    banded, banded_calls = band_blocks(graph, calls)
    assert len(banded_calls) > len(calls)
    assert _arena(banded, banded_calls)[1].arena_bytes < _arena(graph, calls)[1].arena_bytes
    assert sum(c.macs for c in banded_calls) == sum(c.macs for c in calls)  # one strip: nothing recomputed
    _exact(banded, banded_calls, x, expected)


def test_residual_sums_land_on_the_shortcut(mbv2):
    graph, calls, x, expected = mbv2
    summed, summed_calls = band_residuals(graph, calls)
    adds = [c for c in calls if c.kernel == "add_s8"]
    assert adds and len(summed_calls) >= len(calls)
    # every sum is a view of its shortcut's buffer, so no tensor of its own is planned for it
    assert all(a.outputs[0] in summed.views for a in adds)
    _exact(summed, summed_calls, x, expected)


@pytest.mark.parametrize("bands, strips", [(4, 1), (8, 2), (3, 3)])
def test_streamed_input_is_read_once_per_strip_and_never_held(mbv2, bands, strips):
    graph, calls, x, expected = mbv2
    split = split_points(graph, calls)[2]
    assert can_stream_input(graph, calls, split)
    held, held_calls = expand_cached(graph, calls, split, bands, strips)
    streamed, streamed_calls = expand_cached(graph, calls, split, bands, strips, stream_input=True)
    assert streamed.streamed_inputs == graph.inputs
    plan = plan_memory(streamed, streamed_calls)
    assert graph.inputs[0] not in plan.tensor_offsets
    held_plan = plan_memory(held, held_calls)  # the peak may be in stage 2; stage 1 holds less
    assert plan.arena_bytes <= held_plan.arena_bytes and plan.live_bytes[0] < held_plan.live_bytes[0]
    host = _exact(streamed, streamed_calls, x, expected)
    # One strip reads every input byte exactly once; more strips re-read only their horizontal halos.
    assert host.streamed_bytes_read >= x.nbytes
    assert (host.streamed_bytes_read == x.nbytes) == (strips == 1)


def test_stream_input_refused_where_later_layers_read_the_input(mbv2):
    graph, calls, _, _ = mbv2
    with pytest.raises(ValueError, match="cannot be streamed"):
        expand_cached(graph, calls, split_points(graph, calls)[0], 2, 1, stream_input=True, start=1)


@pytest.mark.slow
def test_tight_budget_takes_streamed_bands_and_banded_blocks(mbv2):
    graph, calls, x, expected = mbv2
    loose, _ = choose(graph, calls, 10**7)
    assert loose.split is None
    held_floor = min(s.peak_sram_bytes for s in choose(graph, calls, 10**7, stream_input=False)[1])
    with pytest.raises(NoScheduleFits, match="smallest peak") as refused:
        choose(graph, calls, 20_000)
    streamed, weighed = choose(graph, calls, 20_000, stream_input=True)
    # The refusal says what streaming the input would reach: the least streamed arena there is.
    least = smallest_streamed_arena(graph, calls)
    assert least <= streamed.arena_bytes and refused.value.streamed_arena == least
    assert f"with --stream-input {least + 4096:,} bytes" in str(refused.value)
    assert streamed.streamed and streamed.peak_sram_bytes <= 20_000 < held_floor
    # Without a cost model the fewest MACs win, blocks in bands weighed beside the rest (complete search).
    assert streamed.macs == min(s.macs for s in weighed if s.peak_sram_bytes <= 20_000)
    chosen, _ = choose(graph, calls, 14_000, stream_input=True)  # below every stage-2 peak: blocks in bands
    assert chosen.streamed and chosen.banded and chosen.peak_sram_bytes <= 14_000
    compiled = compile_graph(mobilenet_v2(0.35, 64, num_classes=10), b"", HOST, 14_000, stream_input=True)
    assert compiled.schedule.describe() == chosen.describe() and compiled.graph.streamed_inputs
    assert compiled.plan.arena_bytes + 4096 <= 14_000
    got = HostModel(compiled.graph, compiled.sources.files).run([x])
    np.testing.assert_array_equal(got[0], expected[0])


@pytest.mark.emulator
def test_streamed_banded_firmware_is_exact_within_its_budget(tmp_path, mbv2):
    """Built for nucleo-f746 under a budget only streamed input and banded blocks meet, with the fast kernels,
    run in the emulated M7 with the host serving input rows: outputs equal per-layer execution, and the SRAM
    measured (static RAM + stack high-water) stays within the budget."""
    from codegen.frontend.tflite_writer import write_tflite
    from codegen.targets.boards import load_board
    from tools.build import EMULATED_DIR, build
    from tools.link.emulator import Emulator

    graph, _, x, expected = mbv2
    model = tmp_path / "mbv2.tflite"
    model.write_bytes(write_tflite(mobilenet_v2(0.35, 64, num_classes=10)))
    budget = 14_000
    result = build(model, load_board("nucleo-f746"), tmp_path / "b", sram_budget=budget, stream_input=True)
    schedule = result.compiled.schedule
    assert schedule.streamed and schedule.banded and result.sram_used <= budget
    assert any("_dsp" in c.kernel for c in result.compiled.calls)
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, stats = emu.link.infer([x])
        assert emu.link.counters.input_requests > 0 and stats.input_ticks > 0
    np.testing.assert_array_equal(np.frombuffer(raw[0], np.int8).reshape(expected[0].shape), expected[0])


def test_plan_command_streams_the_input_only_when_asked(shared_models):
    from tests.tools.test_cli_errors import run_cli

    model = str(shared_models / "mlperf_vww_96_int8.tflite")
    held = run_cli("plan", "--model", model, "--sram-budget", "26k")
    assert held.returncode == 3 and "smallest peak any schedule reaches is 42,592 bytes" in held.stderr
    streamed = run_cli("plan", "--model", model, "--sram-budget", "26k", "--stream-input")
    assert streamed.returncode == 0, streamed.stderr
    chosen = next(line for line in streamed.stdout.splitlines() if line.startswith("*"))
    assert "input streamed" in chosen


def test_plan_command_on_a_model_whose_per_layer_schedule_runs_depthwise_in_place(tmp_path):
    """`plan` searches the graph as read (PADs fused), not the per-layer compilation's graph, which already has
    its depthwise layers' tensors turned into views of shared buffers (planning patches over those failed)."""
    from codegen.frontend.tflite_writer import write_tflite
    from tests.tools.test_cli_errors import run_cli

    graph = mobilenet_v2(0.5, 32, num_classes=10)
    assert compile_graph(graph, b"").graph.views  # per layer, depthwise layers run in place
    model = tmp_path / "mbv2.tflite"
    model.write_bytes(write_tflite(graph))
    result = run_cli("plan", "--model", str(model), "--sram-budget", "16000")
    assert result.returncode == 0, result.stderr
    chosen = next(line for line in result.stdout.splitlines() if line.startswith("*"))
    assert "per-layer" not in chosen
