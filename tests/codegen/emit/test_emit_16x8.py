"""The emitter with 16x8 models: int16 activations get int16_t pointers, int64 biases int64_t arrays (with
INT64_MIN spelled out, since -9223372036854775808 is no C literal)."""

from __future__ import annotations

import numpy as np

from codegen.emit.c_source import _format_values
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES
from codegen.pipeline import compile_graph
from tests.codegen.test_16x8_chain import chain_graph


def test_int64_min_is_written_as_its_macro():
    line = " ".join(_format_values(np.array([-(2**63), 7, 2**63 - 1], dtype=np.int64)))
    assert "INT64_MIN, 7, 9223372036854775807" in line


def test_int16_tensors_and_int64_biases_have_their_c_types():
    graph = chain_graph()
    compiled = compile_graph(graph, write_tflite(graph))
    model_c, weights_h = compiled.sources.files["model.c"], compiled.sources.files["model_weights.h"]
    assert "conv2d_s16(&" in model_c and "(const int16_t *)" in model_c and "(int16_t *)" in model_c
    assert "extern const int64_t" in weights_h
    # The planner aligns every buffer (8 bytes), so typed pointers into the arena are aligned for any type.
    for index, offset in compiled.plan.tensor_offsets.items():
        assert offset % np.dtype(NUMPY_DTYPES[graph.tensor(index).dtype]).itemsize == 0, index
