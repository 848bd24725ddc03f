"""Generated C (host build) for graphs whose tensors are not all int8: int16 activations through RELU, RELU6
and MAXIMUM, and int64 indices out of ARG_MAX, bit-exact with the NumPy reference and TFLite Micro."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tests.support.model_factory import GraphBuilder, per_tensor, run_builtin_ref, run_tflm
from tools.host_model import HostModel


def test_int16_activations_in_generated_c():
    rng = np.random.default_rng(2)
    b = GraphBuilder("int16_chain")
    q = per_tensor(0.001, 0)
    x = b.tensor("x", (1, 5, 7, 4), "int16", q)
    r = b.tensor("relu", (1, 5, 7, 4), "int16", per_tensor(0.0007, 0))
    b.op("RELU", (x,), (r,))
    c = b.tensor("floor", (4,), "int16", per_tensor(0.0007, 0), rng.integers(-3000, 9000, size=4))
    m = b.tensor("maximum", (1, 5, 7, 4), "int16", per_tensor(0.0007, 0))
    b.op("MAXIMUM", (r, c), (m,))
    y = b.tensor("relu6", (1, 5, 7, 4), "int16", per_tensor(0.0007, 0))
    b.op("RELU6", (m,), (y,))
    graph = b.build((x,), (y,))
    compiled = compile_graph(graph, b"int16-chain")
    assert [c.kernel for c in compiled.calls] == ["relu_s16", "maximum_s16", "relu_s16"]
    inp = rng.integers(-(2**15), 2**15, size=(1, 5, 7, 4), dtype=np.int16)
    want = run_tflm(write_tflite(graph), [inp], graph)[0]
    np.testing.assert_array_equal(run_reference(graph, [inp])[0], want)
    np.testing.assert_array_equal(HostModel(compiled.graph, compiled.sources.files).run([inp])[0], want)


def test_int64_arg_max_in_generated_c():
    rng = np.random.default_rng(3)
    b = GraphBuilder("arg_max_i64")
    x = b.tensor("x", (1, 6, 9), "int8", per_tensor(0.1, 0))
    axis = b.const_i32("axis", [2])
    y = b.tensor("index", (1, 6), "int64")
    b.op("ARG_MAX", (x, axis), (y,), output_type="int64")
    graph = b.build((x,), (y,))
    compiled = compile_graph(graph, b"arg-max-i64")
    inp = rng.integers(-128, 128, size=(1, 6, 9), dtype=np.int8)
    got = HostModel(compiled.graph, compiled.sources.files).run([inp])[0]
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, run_builtin_ref(write_tflite(graph), [inp])[0])  # TFLM: int32 only
    np.testing.assert_array_equal(got, inp.argmax(axis=2))
