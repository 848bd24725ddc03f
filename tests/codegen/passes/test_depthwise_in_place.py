"""Depthwise convolutions run in place (output lagging its input in one buffer) where that lowers the arena, and
stay bit-exact with every kernel variant: portable and fast C on the host, the assembly in the emulated M7."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.memory.planner import plan_memory
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from codegen.targets.core import HOST, PORTABLE
from tests.support.model_factory import GraphBuilder, per_tensor
from tools.build import EMULATED_DIR, build
from tools.host_model import HostModel
from tools.link.emulator import Emulator


def _conv1x1(b: GraphBuilder, x: int, channels: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    _, h, w, c = b.shape(x)
    filt = b.tensor("w", (channels, 1, 1, c), "int8", per_tensor(0.02, 0), rng.integers(-90, 91, (channels, 1, 1, c)))
    bias = b.tensor("b", (channels,), "int32", per_tensor(0.001, 0), rng.integers(-500, 500, channels))
    y = b.tensor("pw", (1, h, w, channels), "int8", per_tensor(0.06, -3))
    b.op("CONV_2D", (x, filt, bias), (y,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="RELU")
    return y


def _depthwise(b: GraphBuilder, x: int, k: int, seed: int, stride: int = 1) -> int:
    rng = np.random.default_rng(seed)
    _, h, w, c = b.shape(x)
    filt = b.tensor("dw", (1, k, k, c), "int8", per_tensor(0.03, 0), rng.integers(-100, 101, (1, k, k, c)))
    bias = b.tensor("db", (c,), "int32", per_tensor(0.0018, 0), rng.integers(-800, 800, c))
    y = b.tensor("dwo", (1, -(-h // stride), -(-w // stride), c), "int8", per_tensor(0.05, 2))
    b.op("DEPTHWISE_CONV_2D", (x, filt, bias), (y,), padding="SAME", stride_h=stride, stride_w=stride,
         dilation_h=1, dilation_w=1, depth_multiplier=1, activation="RELU6")
    return y


def inverted_residual_chain() -> Graph:
    """Narrow -> wide -> depthwise 3x3 / 5x5 / 7x7 -> narrow: each depthwise step holds two wide tensors."""
    b = GraphBuilder("dw_in_place")
    x = first = b.tensor("input", (1, 11, 9, 4), "int8", per_tensor(0.05, 1))
    for i, k in enumerate((3, 5, 7)):
        x = _conv1x1(b, _depthwise(b, _conv1x1(b, x, 24, 10 * i), k, 10 * i + 1), 4, 10 * i + 2)
    return b.build((first,), (x,))


def strided_chain() -> Graph:
    """Wide -> depthwise 3x3 / 5x5 stride 2 -> narrow, on even (no top padding) and odd (one row) inputs."""
    b = GraphBuilder("dw_s2_in_place")
    x = first = b.tensor("input", (1, 14, 13, 4), "int8", per_tensor(0.05, 1))
    for i, k in enumerate((3, 5)):
        x = _conv1x1(b, _depthwise(b, _conv1x1(b, x, 32, 10 * i), k, 10 * i + 1, stride=2), 8, 10 * i + 2)
    return b.build((first,), (x,))


@pytest.mark.parametrize("target", [PORTABLE, HOST], ids=["portable", "fast"])
def test_strided_depthwise_in_place_stays_exact(target):
    graph = strided_chain()
    compiled = compile_graph(graph, b"", target)
    assert len(compiled.graph.views) == 4  # both stride-2 layers
    assert compiled.plan.arena_bytes < plan_memory(graph, compiled.calls).arena_bytes
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-128, 128, size=(1, 14, 13, 4), dtype=np.int8)
        got = HostModel(compiled.graph, compiled.sources.files).run([x])[0]
        np.testing.assert_array_equal(got, run_reference(graph, [x])[0])


def test_lag_is_the_least_that_keeps_later_reads_intact():
    """Stride 1: pad_h * width + pad_w pixels; stride 2 without top padding: none; with it, the brute-force
    minimum over every output (a pixel is clobbered only after the last output that reads it)."""
    from types import SimpleNamespace

    from codegen.passes.depthwise_in_place import _lag_pixels

    def lag(h, w, s, pad):
        return _lag_pixels(SimpleNamespace(in_h=h, in_w=w, out_h=-(-h // s), out_w=-(-w // s), stride_h=s,
                                           stride_w=s, pad_h=pad, pad_w=pad))

    assert lag(28, 28, 1, 1) == 29 and lag(11, 9, 1, 3) == 30
    assert lag(28, 28, 2, 0) == 0 and lag(7, 7, 2, 1) == 0
    for h, w, s, pad, k in [(9, 7, 2, 2, 5), (8, 8, 1, 1, 3), (6, 10, 2, 1, 3)]:
        oh, ow = -(-h // s), -(-w // s)
        brute = 0
        for q in range(oh * ow):  # outputs after q read rows from (oy*s - pad) on: none may sit at q - L
            later = [max(y * s - pad, 0) * w + max(x * s - pad, 0) for y in range(oh) for x in range(ow)][q + 1 :]
            if later:
                brute = max(brute, q - min(later) + 1)
        assert lag(h, w, s, pad) == brute, (h, w, s, pad, k)


@pytest.mark.parametrize("target", [PORTABLE, HOST], ids=["portable", "fast"])
def test_in_place_depthwise_shrinks_the_arena_and_stays_exact(target):
    graph = inverted_residual_chain()
    compiled = compile_graph(graph, b"", target)
    wide = 11 * 9 * 24
    assert len(compiled.graph.views) == 6  # all three layers: input and output of each
    assert compiled.plan.arena_bytes < 2 * wide  # a depthwise step no longer holds two wide tensors
    separate = plan_memory(graph, compiled.calls).arena_bytes  # the same calls, tensors apart
    assert separate >= 2 * wide > compiled.plan.arena_bytes
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 11, 9, 4), dtype=np.int8)
    expected = run_reference(graph, [x])[0]
    got = HostModel(compiled.graph, compiled.sources.files).run([x])[0]
    np.testing.assert_array_equal(got, expected)


def test_not_in_place_where_it_would_not_help(shared_models):
    """vww_96's peak is elsewhere: nothing changes (the planner's what-if measures 0 bytes saved)."""
    from codegen.pipeline import compile_file

    compiled = compile_file(shared_models / "mlperf_vww_96_int8.tflite", HOST)
    assert not compiled.graph.views and compiled.plan.arena_bytes == 55_296


@pytest.mark.emulator
@pytest.mark.parametrize("make_graph, views", [(inverted_residual_chain, 6), (strided_chain, 4)],
                         ids=["stride1", "stride2"])
def test_in_place_depthwise_in_the_emulated_firmware(tmp_path, make_graph, views):
    graph = make_graph()
    model = tmp_path / "dw_in_place.tflite"
    model.write_bytes(write_tflite(graph))
    result = build(model, load_board("nucleo-f746"), tmp_path / "b", measure_run=False)
    assert len(result.compiled.graph.views) == views
    assert any(c.kernel.startswith("depthwise_conv2d_s8_dsp") for c in result.compiled.calls)
    x = np.random.default_rng(6).integers(-128, 128, size=graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf") as emu:
        raw, _ = emu.link.infer([x])
    expected = run_reference(graph, [x])[0]
    np.testing.assert_array_equal(np.frombuffer(raw[0], np.int8).reshape(expected.shape), expected)
