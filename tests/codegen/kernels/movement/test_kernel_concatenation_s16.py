"""CONCATENATION of int16 (16x8) tensors: every axis of a rank-4 output, constant and variable inputs, bit for
bit against TFLite Micro and tflite-runtime (BUILTIN_REF); differing quantization is refused (TFLM copies the
values unchanged, which is right only when all tensors share one scale)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codegen.ir import Graph, Quantization
from codegen.kernels import LOWERINGS
from codegen.kernels.base import Unsupported
from tests.codegen.kernels.movement.test_kernel_movement import concat_graph, run_both_runtimes, run_calls_c


@pytest.mark.parametrize("axis", [-4, 1, 2, 3])
def test_int16_concatenation_matches_tflm_and_tflite(host_runtime, axis):
    from codegen.frontend.tflite_writer import write_tflite

    graph, arrays = concat_graph(4, axis, "int16", [2, 3, 2, 3], [1, 3, 2], [False, True, False], seed=axis + 7)
    calls = LOWERINGS["CONCATENATION"](graph.operators[0], graph)
    assert len(calls) == 3 and {c.params.inner_bytes % 2 for c in calls} == {0}
    values = {i: arrays[i] for i in graph.inputs}
    ours = run_calls_c(host_runtime, graph, calls, values)
    np.testing.assert_array_equal(ours, np.concatenate(arrays, axis=axis))
    assert ours.dtype == np.int16 and np.abs(ours).max() > 255  # values beyond one byte: the copy is 2 bytes wide
    for name, truth in run_both_runtimes(write_tflite(graph), [values[i] for i in graph.inputs]).items():
        np.testing.assert_array_equal(ours, truth, err_msg=name)


def test_int16_concatenation_with_differing_scales_is_refused():
    graph, _ = concat_graph(2, 1, "int16", [2, 3], [1, 2], [False, False], seed=0)
    tensors = list(graph.tensors)
    tensors[1] = dataclasses.replace(tensors[1], quant=Quantization((0.07,), (0,)))
    other = Graph(tensors, graph.operators, graph.inputs, graph.outputs)
    with pytest.raises(Unsupported, match="input 1 quantization"):
        LOWERINGS["CONCATENATION"](other.operators[0], other)
