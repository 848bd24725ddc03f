"""Every element-wise, activation and resize operator whose receptive field is local joins patch-based stage 1:
LEAKY_RELU, PRELU, RELU/RELU6/RELU_N1_TO_1, HARD_SWISH, TANH, LOGISTIC, SUB, ADD/MUL/SUB with a per-channel
constant, MINIMUM/MAXIMUM, SQUARED_DIFFERENCE, RESIZE_NEAREST_NEIGHBOR (x2) on int8, and the 16x8 scheme's int16
kernels (QUANTIZE to int16, CONV_2D, DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D, LEAKY_RELU, RELU, RELU6, ADD, SUB,
MUL, MAXIMUM). For each, a model with the operator between a convolution and a stride-2 depthwise convolution
(tests/support/patch_op_models.py): the search under a budget one byte below per-layer execution picks a
schedule that runs the operator in pieces (patches or bands), and that schedule, 3x2 patches and 5x2 cached bands
split after the depthwise convolution give exactly the per-layer result, which is TFLM's."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import expand, expand_cached, is_patchable, split_points
from codegen.schedule.search import apply, choose, per_layer
from tests.support.model_factory import run_builtin_ref, run_tflm
from tests.support.patch_op_models import INT8_KINDS, INT16_KINDS, int8_model, int16_model, model_input

CASES = [("int8", k) for k in INT8_KINDS] + [("int16", k) for k in INT16_KINDS]


@pytest.mark.parametrize(("dtype", "kind"), CASES, ids=[f"{d}-{k}" for d, k in CASES])
def test_operator_in_stage1_gets_a_patch_schedule_bit_exact_with_per_layer(dtype, kind):
    graph = fuse_pads(int8_model(kind) if dtype == "int8" else int16_model(kind))
    calls = lower_graph(graph)
    op_index = next(op.index for op in graph.operators if op.op_type == kind.removesuffix("_CONST"))
    (position,) = [k for k, c in enumerate(calls) if c.op_index == op_index]
    assert is_patchable(calls[position], graph), calls[position].kernel
    dw = max(k for k, c in enumerate(calls) if c.kernel.startswith("depthwise_conv2d"))
    assert dw > position and dw in split_points(graph, calls)
    x = model_input(graph)
    (expected,) = run_reference(graph, [x], calls)
    assert len(np.unique(expected)) > expected.size // 8  # not a saturated block
    model = write_tflite(graph)
    # The per-layer reference is TFLM's result; tflite-runtime's reference kernels' where TFLM lacks the op
    # (RELU_N1_TO_1) or its pre-release Python build rounds differently (LEAKY_RELU: see leaky_relu.py).
    by_tflite = kind in ("RELU_N1_TO_1", "LEAKY_RELU")
    (golden,) = run_builtin_ref(model, [x]) if by_tflite else run_tflm(model, [x], graph)
    np.testing.assert_array_equal(expected, golden)
    budget = per_layer(graph, calls).peak_sram_bytes - 1
    chosen, _ = choose(graph, calls, budget)
    assert (chosen.split is not None or chosen.banded) and chosen.peak_sram_bytes <= budget
    g1, c1 = apply(graph, calls, chosen)
    # The operator runs in pieces (patches or bands of stage 1, or of a banded block), not on whole tensors.
    assert sum(c.op_index == op_index for c in c1) > 1, chosen.describe()
    for g2, c2 in ((g1, c1), expand(graph, calls, dw, (3, 2)), expand_cached(graph, calls, dw, 5, 2)):
        np.testing.assert_array_equal(run_reference(g2, [x], c2)[0], expected, err_msg=chosen.describe())
