"""Run a small graph three ways: the C kernels on the host, the NumPy reference executor, and TFLite
(tflite-runtime BUILTIN_REF and TFLite Micro) on the same graph written with codegen.frontend.tflite_writer.

For operators with several outputs (SPLIT, UNPACK) and several calls writing one output (PACK).
"""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import LOWERINGS
from codegen.kernels.base import KernelCall
from codegen.reference_executor import run_reference


def lower(graph: Graph) -> list[KernelCall]:
    return [c for op in graph.operators for c in LOWERINGS[op.op_type](op, graph)]


def run_c(host_runtime, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Each call through the host build; output buffers start as garbage (0x5A) so unwritten bytes show."""
    values = {i: np.ascontiguousarray(v) for i, v in zip(graph.inputs, inputs, strict=True)}
    for call in lower(graph):
        (out_index,) = call.outputs
        t = graph.tensor(out_index)
        if out_index not in values:
            values[out_index] = np.full(t.nbytes, 0x5A, np.uint8).view(NUMPY_DTYPES[t.dtype]).reshape(t.shape)
        arrays = [values[i] for i in call.inputs] + [c.data for c in call.consts]
        host_runtime.run(call.kernel, call.params, arrays, t.shape, NUMPY_DTYPES[t.dtype], out=values[out_index])
    return [values[i] for i in graph.outputs]


def run_ref(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(v) for v in run_reference(graph, inputs, lower(graph))]


def run_tflite(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=write_tflite(graph), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for detail, x in zip(it.get_input_details(), inputs, strict=True):
        it.set_tensor(detail["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def run_tflm(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime

    arena = 65536 + 16 * sum(t.nbytes for t in graph.tensors)  # room for TFLM's scratch (int64 accumulators)
    micro = runtime.Interpreter.from_bytes(write_tflite(graph), arena_size=arena)
    for i, x in enumerate(inputs):
        micro.set_input(x, i)
    micro.invoke()
    return [micro.get_output(i) for i in range(len(graph.outputs))]


def run_tflm_steps(graph: Graph, xs: list[np.ndarray], model: bytes | None = None) -> list[np.ndarray]:
    """Output 0 of consecutive invokes of one TFLM interpreter (it keeps variable tensors across them), one per
    input of `xs` (the graph's single input); `model` is the graph's flatbuffer when the caller has it."""
    from tflite_micro.python.tflite_micro import runtime

    data = write_tflite(graph) if model is None else model
    micro = runtime.Interpreter.from_bytes(data, arena_size=32768 + 8 * sum(t.nbytes for t in graph.tensors))
    outs = []
    for x in xs:
        micro.set_input(x, 0)
        micro.invoke()
        outs.append(micro.get_output(0).copy())
    return outs


def assert_same(got: list[np.ndarray], expected: list[np.ndarray], what: str) -> None:
    assert len(got) == len(expected), what
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        g, e = np.asarray(g), np.asarray(e)
        assert (g.shape, g.dtype) == (e.shape, e.dtype), f"{what} output {i}: {g.shape} {g.dtype}, {e.shape} {e.dtype}"
        np.testing.assert_array_equal(np.ascontiguousarray(g).reshape(-1).view(np.uint8),
                                      np.ascontiguousarray(e).reshape(-1).view(np.uint8),
                                      err_msg=f"{what} output {i}")
