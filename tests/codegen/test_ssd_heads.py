"""The SSD-like detector of tests/support/ssd_model.py (two heads, RESHAPE + CONCATENATION, LOGISTIC, several
DEQUANTIZE outputs): the reference executor and the compiled C on the host return every output, in graph order,
with its own dtype and shape, equal to TFLite Micro's bit for bit."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tests.support.model_factory import run_tflm
from tests.support.ssd_model import ssd_graph, ssd_input
from tools.host_model import HostModel


def test_ssd_heads_return_every_output_in_order_bit_exact_with_tflm():
    graph, x = ssd_graph(), ssd_input()
    model = write_tflite(graph)
    want = run_tflm(model, [x], graph)
    assert [(w.dtype.name, w.shape) for w in want] == [
        ("float32", (1, 160, 4)), ("int8", (1, 160, 3)), ("float32", (1, 160, 3))]
    assert all(len(np.unique(w)) > 50 for w in want)  # not a saturated block
    for got, w in zip(run_reference(graph, [x]), want, strict=True):
        np.testing.assert_array_equal(got, w)
    compiled = compile_graph(graph, model)
    kernels = [c.kernel for c in compiled.calls]
    assert kernels.count("dequantize_s8_f32") == 2 and "logistic_s8" in kernels
    host = HostModel(compiled.graph, compiled.sources.files).run([x])
    assert len(host) == 3
    for got, w in zip(host, want, strict=True):
        assert got.dtype == w.dtype
        np.testing.assert_array_equal(got.reshape(w.shape), w)
