"""A small model chaining the new data-movement and resampling operators, compiled whole: the generated C on the
host and the firmware in QEMU against tflite-runtime (BUILTIN_REF) on the same .tflite, with the planner's
aliases (SPLIT along rows, SQUEEZE, RESHAPE, UNPACK along the outermost axis) removing their copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.memory.planner import check_plan
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from codegen.targets.core import HOST
from tests.support.model_factory import GraphBuilder, per_tensor
from tests.support.single_op import assert_same, run_tflite
from tools.host_model import HostModel


def shape_ops_graph() -> Graph:
    """conv 3x3 -> RESIZE_NEAREST x2 (half-pixel) -> SPLIT rows -> [MAX_POOL | RESIZE_BILINEAR] -> SQUEEZE both ->
    PACK -> RESHAPE -> DEPTH_TO_SPACE -> SLICE -> GATHER channels -> SPLIT_V columns -> [UNPACK rows |
    SPACE_TO_DEPTH -> EXPAND_DIMS]."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("shape_ops")
    q_in, q = per_tensor(0.04, -7), per_tensor(0.09, 3)
    x = b.tensor("x", (1, 6, 6, 4), "int8", q_in)
    w = b.tensor("w", (8, 3, 3, 4), "int8", per_tensor(0.01, 0), rng.integers(-127, 128, (8, 3, 3, 4)))
    bias = b.tensor("bias", (8,), "int32", per_tensor(0.04 * 0.01, 0), rng.integers(-500, 500, 8))
    conv = b.tensor("conv", (1, 6, 6, 8), "int8", q)
    b.op("CONV_2D", (x, w, bias), (conv,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1, dilation_w=1,
         activation="NONE")
    up = b.tensor("up", (1, 12, 12, 8), "int8", q)
    b.op("RESIZE_NEAREST_NEIGHBOR", (conv, b.const_i32("up_size", [12, 12])), (up,), align_corners=False,
         half_pixel_centers=True)
    top, bottom = b.tensor("top", (1, 6, 12, 8), "int8", q), b.tensor("bottom", (1, 6, 12, 8), "int8", q)
    b.op("SPLIT", (b.const_i32("split_axis", [1]), up), (top, bottom), num_splits=2)
    pooled = b.tensor("pooled", (1, 3, 6, 8), "int8", q)
    b.op("MAX_POOL_2D", (top,), (pooled,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    smooth = b.tensor("smooth", (1, 3, 6, 8), "int8", q)
    b.op("RESIZE_BILINEAR", (bottom, b.const_i32("down_size", [3, 6])), (smooth,), align_corners=False,
         half_pixel_centers=True)
    sq = []
    for name, t in (("pooled_sq", pooled), ("smooth_sq", smooth)):
        sq.append(b.tensor(name, (3, 6, 8), "int8", q))
        b.op("SQUEEZE", (t,), (sq[-1],), squeeze_dims=(0,))
    packed = b.tensor("packed", (3, 6, 2, 8), "int8", q)
    b.op("PACK", tuple(sq), (packed,), values_count=2, axis=2)
    flat = b.tensor("flat", (1, 3, 6, 16), "int8", q)
    b.op("RESHAPE", (packed, b.const_i32("new_shape", [1, 3, 6, 16])), (flat,))
    d2s = b.tensor("d2s", (1, 6, 12, 4), "int8", q)
    b.op("DEPTH_TO_SPACE", (flat,), (d2s,), block_size=2)
    cut = b.tensor("cut", (1, 4, 8, 4), "int8", q)
    b.op("SLICE", (d2s, b.const_i32("begin", [0, 1, 2, 0]), b.const_i32("size", [1, 4, 8, -1])), (cut,))
    picked = b.tensor("picked", (1, 4, 8, 3), "int8", q)
    b.op("GATHER", (cut, b.const_i32("channels", [3, 0, 1])), (picked,), axis=3, batch_dims=0)
    left, right = b.tensor("left", (1, 4, 2, 3), "int8", q), b.tensor("right", (1, 4, 6, 3), "int8", q)
    b.op("SPLIT_V", (picked, b.const_i32("sizes", [2, -1]), b.const_i32("split_v_axis", [2])), (left, right),
         num_splits=2)
    rows = [b.tensor(f"row{i}", (2, 3), "int8", q) for i in range(4)]
    left_rows = b.tensor("left_rows", (4, 2, 3), "int8", q)
    b.op("SQUEEZE", (left,), (left_rows,), squeeze_dims=(0,))
    b.op("UNPACK", (left_rows,), tuple(rows), num=4, axis=0)
    s2d = b.tensor("s2d", (1, 2, 3, 12), "int8", q)
    b.op("SPACE_TO_DEPTH", (right,), (s2d,), block_size=2)
    expanded = b.tensor("expanded", (1, 1, 2, 3, 12), "int8", q)
    b.op("EXPAND_DIMS", (s2d, b.const_i32("expand_axis", [1])), (expanded,))
    return b.build((x,), (rows[0], rows[3], expanded))


def _input(graph: Graph, seed: int) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    return np.random.default_rng(seed).integers(-128, 128, t.shape).astype(np.int8)


def test_model_matches_tflite_on_the_host():
    graph = shape_ops_graph()
    compiled = compile_graph(graph, write_tflite(graph), HOST)
    check_plan(compiled.plan)
    kernels = [c.kernel for c in compiled.calls]
    ops = [compiled.graph.operator(c.op_index).op_type for c in compiled.calls]
    elided = sorted(ops[p] for p in compiled.plan.elided_calls)
    # Views: both halves of the row split, the squeezes, the reshape, EXPAND_DIMS, and the first row of the UNPACK
    # (the other rows start 6, 12 and 18 bytes in, off the 8-byte alignment, so they are copied).
    assert elided == sorted(["SPLIT"] * 2 + ["SQUEEZE"] * 3 + ["RESHAPE", "EXPAND_DIMS", "UNPACK"])
    assert {kernels[p] for p in compiled.plan.elided_calls} == {"slice_bytes", "copy_bytes"}
    model = HostModel(compiled.graph, compiled.sources.files)
    for seed in range(3):
        x = _input(graph, seed)
        truth = run_tflite(graph, [x])
        assert len(np.unique(truth[2])) > 20  # not saturated: the chain carries information
        assert_same(run_reference(graph, [x]), truth, "reference vs tflite-runtime")
        assert_same(model.run([x]), truth, "generated C vs tflite-runtime")


@pytest.mark.emulator
def test_model_firmware_matches_tflite(tmp_path: Path):
    from tools.build import EMULATED_DIR, build
    from tools.link.emulator import Emulator

    graph = shape_ops_graph()
    board = load_board("nucleo-f746")
    model = tmp_path / "shape_ops.tflite"
    model.write_bytes(write_tflite(graph))
    result = build(model, board, tmp_path / "build", measure_run=False)
    inputs = [_input(graph, seed) for seed in range(3)]
    with Emulator(result.out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine) as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        for x in inputs:
            raw, _ = emu.link.infer([x])
            got = [np.frombuffer(r, dtype=np.int8).reshape(graph.tensor(i).shape)
                   for r, i in zip(raw, graph.outputs, strict=True)]
            assert_same(got, run_tflite(graph, [x]), "firmware vs tflite-runtime")
