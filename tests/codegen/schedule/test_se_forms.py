"""Squeeze-and-excite forms other than the 1x1-conv one in two-pass stage-1 schedules (se_two_pass.py).

The model zoo's tiny SE network in every SE form (1x1 CONV_2D; FULLY_CONNECTED after a MEAN without keep_dims,
the 1 x C gate broadcast by the MUL; RESHAPE, FULLY_CONNECTED x 2, RESHAPE back) with every gate (Keras's hard
sigmoid with ReLU6 fused into the ADD or as an operator, LOGISTIC) equals TFLM per layer; ordinary split points
stop at the MEAN, two-pass ones go past the block and their expansions equal per-layer execution. The search
picks a two-pass schedule of the FULLY_CONNECTED form under a budget only those meet. Keras's MobileNetV3Small
layout (hard swish, SE in block 0, the first block after the stem) gets two-pass split points, its expansions
equal TFLM, and in QEMU a two-pass build equals TFLM."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.model_zoo import SE_FORMS, SE_GATES, mobilenet_v3_small, tiny_se
from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.schedule.cost_model import load_default
from codegen.schedule.patch_schedule import split_points
from codegen.schedule.se_two_pass import (
    expand_two_pass,
    squeeze_excite_in,
    squeeze_excites_in,
    two_pass_split_points,
)
from codegen.schedule.search import Schedule, apply, candidates, choose
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.model_factory import run_tflm
from tests.support.twin_firmware import TwinFirmware

# The excitation's kernels, between the MEAN and the MUL onto the map, per form and gate.
_EXCITATION = {
    "conv": ["conv2d_s8", "conv2d_s8"],
    "fc": ["fully_connected_s8", "fully_connected_s8"],
    "fc_reshape": ["copy_bytes", "fully_connected_s8", "fully_connected_s8", "copy_bytes"],
    "two_means": ["mean_s8", "conv2d_s8", "conv2d_s8"],
}
_GATE = {"hard_sigmoid": ["add_s8", "mul_s8"], "hard_sigmoid_relu6": ["add_s8", "lut_s8", "mul_s8"],
         "sigmoid": ["logistic_s8"]}


def _check_two_pass(graph, calls, x, expected, splits_and_grids) -> None:
    for split, grid in splits_and_grids:
        g, c = expand_two_pass(graph, calls, split, grid)
        np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=f"{split} {grid}")
        kernels = [k.kernel for k in c]
        sums = kernels.count("mean_sum_s8") + kernels.count("mean_lines_s8")
        assert sums == grid[0] * grid[1] and kernels.count("mean_finish_s8") == 1
        assert "mean_s8" not in kernels[: kernels.index("mean_finish_s8") + 1]


def _per_layer_equals_tflm(graph, seed: int):
    """A random 32x32x3 input, the fused graph, its calls and their per-layer result, checked against TFLM."""
    x = np.random.default_rng(seed).integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    (golden,) = run_tflm(write_tflite(graph), [x], graph)
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    (expected,) = run_reference(fused, [x], calls)
    np.testing.assert_array_equal(expected.reshape(golden.shape), golden)
    return x, fused, calls, expected


@pytest.mark.parametrize("form", SE_FORMS)
@pytest.mark.parametrize("gate", SE_GATES)
def test_every_form_and_gate_runs_in_two_passes_bit_exact(form, gate):
    graph = tiny_se(form=form, gate=gate)
    x, fused, calls, expected = _per_layer_equals_tflm(graph, seed=2)
    points = two_pass_split_points(fused, calls)
    assert points, f"{form} {gate}: no two-pass split point"
    se = squeeze_excite_in(fused, calls, points[-1])
    assert [c.kernel for c in calls[se.mean + 1 : se.scale]] == _EXCITATION[form] + _GATE[gate]
    assert min(points) == se.scale and max(split_points(fused, calls)) < se.mean
    values = {}
    run_reference(fused, [x], calls, transform=lambda c, r: values.setdefault(c.outputs[0], r))
    assert len(np.unique(values[se.gate])) > 4  # a gate that varies over channels, else the MUL proves little
    _check_two_pass(fused, calls, x, expected, ((se.scale, (2, 2)), (points[-1], (3, 2))))


@pytest.mark.parametrize("axis", (1, 2))
def test_line_sums_in_c_equal_the_reference_and_the_whole_mean(host_runtime, axis):
    """mean_lines_s8 (C, a stale sums buffer before the first patches) over 2x3 patches of a 7x5x6 map, then
    mean_finish_s8: the MEAN over H alone (axis 1) or W alone (axis 2), as mean_s8 computes it whole."""
    from codegen.ir import Graph, Operator, Quantization, Tensor
    from codegen.kernels.reduce.mean import mean_s8_ref
    from codegen.kernels.reduce.mean_patch import MeanLinesParams, finish_params, line_mean_axis, mean_lines_s8_ref
    from codegen.schedule.patch_schedule import tiles

    h, w, c = 7, 5, 6
    shape = (1, 1, w, c) if axis == 1 else (1, h, 1, c)
    graph = Graph([Tensor(0, "x", (1, h, w, c), "int8", Quantization((0.05,), (3,))),
                   Tensor(1, "axis", (1,), "int32", None, np.array([axis], np.int32)),
                   Tensor(2, "y", shape, "int8", Quantization((0.02,), (-5,)))],
                  [Operator(0, "MEAN", (0, 1), (2,), {"keep_dims": True})], (0,), (2,))
    (call,) = lower_graph(graph)
    assert line_mean_axis(call.params, (1, h, w, c)) == axis
    x = np.random.default_rng(5).integers(-128, 128, (1, h, w, c)).astype(np.int8)
    lines = w if axis == 1 else h
    sums = np.full(lines * c, 12345, np.int32)
    for tile in tiles(h, w, 2, 3):
        by_column = axis == 1
        p = MeanLinesParams(tile.h, tile.w, c, int((tile.y0 if by_column else tile.x0) == 0), int(not by_column),
                            int(by_column), tile.x0 if by_column else tile.y0, lines)
        patch = np.ascontiguousarray(x[:, tile.y0 : tile.y1, tile.x0 : tile.x1])
        expected = mean_lines_s8_ref(p, patch, out=sums)
        sums = host_runtime.run("mean_lines_s8", p, [patch], (lines * c,), np.int32, out=sums.copy())
        np.testing.assert_array_equal(sums, expected)
    got = host_runtime.run("mean_finish_s8", finish_params(call.params, lines * c), [sums], (lines * c,), np.int8)
    np.testing.assert_array_equal(got, mean_s8_ref(call.params, x).reshape(-1))


def test_search_picks_a_two_pass_schedule_of_the_fully_connected_form():
    graph = fuse_pads(tiny_se(form="fc", gate="sigmoid"))
    calls = lower_graph(graph)
    cost = load_default()
    weighed = candidates(graph, calls, cost)
    two_pass = min(s.peak_sram_bytes for s in weighed if s.two_pass)
    assert two_pass < min(s.peak_sram_bytes for s in weighed if not s.two_pass)
    chosen, _ = choose(graph, calls, two_pass + 2500, cost=cost, earlier=weighed)
    assert chosen.two_pass, chosen.describe()
    x = np.random.default_rng(3).integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    (expected,) = run_reference(graph, [x], calls)
    g, c = apply(graph, calls, chosen)
    np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=chosen.describe())


@pytest.fixture(scope="module")
def small_v3():
    graph = mobilenet_v3_small(0.5, 64, num_classes=10)
    x = np.random.default_rng(4).integers(-128, 128, (1, 64, 64, 3)).astype(np.int8)
    (golden,) = run_tflm(write_tflite(graph), [x], graph)
    fused = fuse_pads(graph)
    return graph, fused, lower_graph(fused), x, golden


def test_mobilenet_v3_small_two_pass_expansions_equal_tflm(small_v3):
    _, graph, calls, x, golden = small_v3
    kernels = [c.kernel for c in calls]
    assert "lut_s8" in kernels[:3]  # the stem's hard swish, an operator of its own, in stage 1
    (expected,) = run_reference(graph, [x], calls)
    np.testing.assert_array_equal(expected.reshape(golden.shape), golden)
    points = two_pass_split_points(graph, calls, max_blocks=1)
    se = squeeze_excite_in(graph, calls, points[-1])
    # The first SE block is block 0's: the MEAN of its depthwise output, 16 x 16 x 16 at r64.
    assert graph.tensor(se.feature).shape == (1, 16, 16, 16) and kernels.index("mean_s8") == se.mean
    _check_two_pass(graph, calls, x, expected, ((se.scale, (2, 2)), (points[-1], (2, 3))))


def test_two_squeeze_excite_blocks_chain_their_passes(small_v3):
    """Past block 3's SE (the second) stage 1 holds two blocks: three passes, each block's sums over its own
    map's tiles with the gates before it held, bit-exact; a third block ends the split points (MAX_SE_BLOCKS)."""
    _, graph, calls, x, _ = small_v3
    (expected,) = run_reference(graph, [x], calls)
    points = two_pass_split_points(graph, calls)
    chained = [k for k in points if len(squeeze_excites_in(graph, calls, k)) == 2]
    assert chained and max(len(squeeze_excites_in(graph, calls, k)) for k in points) == 2
    assert len(two_pass_split_points(graph, calls, max_blocks=1)) < len(points)
    first, second = squeeze_excites_in(graph, calls, chained[0])
    assert chained[0] == second.scale and graph.tensor(second.feature).shape[1] < graph.tensor(first.feature).shape[1]
    for split, grid in ((chained[0], (2, 2)), (chained[-1], (2, 1))):
        g, c = expand_two_pass(graph, calls, split, grid)
        np.testing.assert_array_equal(run_reference(g, [x], c)[0], expected, err_msg=f"{split} {grid}")
        kernels = [k.kernel for k in c]
        assert kernels.count("mean_sum_s8") == 2 * grid[0] * grid[1] and kernels.count("mean_finish_s8") == 2


@pytest.mark.emulator
def test_mobilenet_v3_small_two_pass_in_the_firmware_equals_tflm(small_v3, tmp_path):
    graph, fused, calls, x, golden = small_v3
    board = load_board("nucleo-f746")
    schedule = Schedule(two_pass_split_points(fused, calls, max_blocks=1)[-1], (2, 2), "", 0, 0, 0, two_pass=True)
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core), use_cost_model=False, schedule=schedule)
    kernels = [c.kernel for c in compiled.calls]
    assert kernels.count("mean_sum_s8") == 4 and kernels.count("mean_finish_s8") == 1
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    np.testing.assert_array_equal(got.reshape(golden.shape), golden)


@pytest.mark.emulator
def test_two_means_form_in_the_firmware_equals_tflm(tmp_path):
    """The MEAN over H, then over W (per-column sums in C, mean_lines_s8) in QEMU, with a sigmoid gate."""
    graph = tiny_se(form="two_means", gate="sigmoid")
    x = np.random.default_rng(6).integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    (golden,) = run_tflm(write_tflite(graph), [x], graph)
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    board = load_board("nucleo-f746")
    schedule = Schedule(two_pass_split_points(fused, calls)[-1], (2, 3), "", 0, 0, 0, two_pass=True)
    compiled = compile_graph(graph, write_tflite(graph), Target(board.core), use_cost_model=False, schedule=schedule)
    kernels = [c.kernel for c in compiled.calls]
    assert kernels.count("mean_lines_s8") == 6 and kernels.count("mean_finish_s8") == 1
    (got,) = TwinFirmware(tmp_path, board).run(compiled, [x])
    np.testing.assert_array_equal(got.reshape(golden.shape), golden)


def test_two_means_form_with_w_reduced_first():
    """The converter's other order, MEAN over W then over H: pass 1 keeps per-row sums; bit-exact with TFLM."""
    import dataclasses

    graph = tiny_se(form="two_means", gate="hard_sigmoid")
    first = next(op for op in graph.operators if op.op_type == "MEAN")
    second = next(op for op in graph.operators if op.op_type == "MEAN" and op.inputs[0] == first.outputs[0])
    tensors = list(graph.tensors)
    _, h, _, c = tensors[first.inputs[0]].shape
    tensors[first.inputs[1]] = dataclasses.replace(tensors[first.inputs[1]], data=np.array([2], np.int32))
    tensors[second.inputs[1]] = dataclasses.replace(tensors[second.inputs[1]], data=np.array([1], np.int32))
    tensors[first.outputs[0]] = dataclasses.replace(tensors[first.outputs[0]], shape=(1, h, 1, c))
    graph = dataclasses.replace(graph, tensors=tensors)
    x, fused, calls, expected = _per_layer_equals_tflm(graph, seed=7)
    points = two_pass_split_points(fused, calls)
    assert squeeze_excite_in(fused, calls, points[-1]).axis == 2
    _check_two_pass(fused, calls, x, expected, ((points[0], (2, 2)), (points[-1], (3, 2))))
    g, c = expand_two_pass(fused, calls, points[-1], (3, 2))
    lines = [k.params for k in c if k.kernel == "mean_lines_s8"]
    # Per row: the patches of the first column of patches start their rows' sums.
    assert [p.first for p in lines] == [1, 0] * 3 and all(p.row_step == 1 and p.col_step == 0 for p in lines)
