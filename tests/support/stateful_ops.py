"""Run a small graph for several invokes three ways, carrying state: the C kernels on the host (every call,
several outputs allowed, variable tensors kept between invokes as model_state keeps them), the NumPy
reference executor, and one TFLite Micro interpreter on the graph written with codegen.frontend.tflite_writer.
"""

from __future__ import annotations

import ctypes

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference

Invokes = list[list[np.ndarray]]  # per invoke, one array per graph input (or output)


def _array(graph: Graph, index: int, value: np.ndarray) -> np.ndarray:
    t = graph.tensor(index)
    # np.array, not np.ascontiguousarray: that makes a scalar 1-D, and TFLM checks the rank
    return np.array(np.asarray(value, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape), order="C")


def run_c(lib: ctypes.CDLL, graph: Graph, invokes: Invokes) -> Invokes:
    calls = lower_graph(graph)
    state = {t.index: np.zeros(t.shape, NUMPY_DTYPES[t.dtype]) for t in graph.tensors if t.is_variable}
    results = []
    for inputs in invokes:
        values = {i: _array(graph, i, v) for i, v in zip(graph.inputs, inputs, strict=True)} | state
        for call in calls:
            for o in call.outputs:
                if o not in values:  # garbage first, so unwritten bytes show
                    t = graph.tensor(o)
                    values[o] = np.full(t.nbytes, 0x5A, np.uint8).view(NUMPY_DTYPES[t.dtype]).reshape(t.shape)
            consts = [np.ascontiguousarray(c.data) for c in call.consts]
            args: list = [] if call.params is None else [ctypes.byref(call.params.to_ctypes())]
            args += [ctypes.c_void_p(values[i].ctypes.data) for i in call.inputs]
            args += [ctypes.c_void_p(c.ctypes.data) for c in consts]
            args += [ctypes.c_void_p(values[o].ctypes.data) for o in call.outputs]
            fn = getattr(lib, call.kernel)
            fn.restype = None
            fn(*args)
        results.append([values[i].copy() for i in graph.outputs])
    return results


def run_ref(graph: Graph, invokes: Invokes) -> Invokes:
    state: dict[int, np.ndarray] = {}
    return [[np.asarray(v) for v in run_reference(graph, inputs, state=state)] for inputs in invokes]


def run_tflm(graph: Graph, invokes: Invokes) -> Invokes:
    from tflite_micro.python.tflite_micro import runtime

    micro = runtime.Interpreter.from_bytes(write_tflite(graph), arena_size=65536 + 8 * sum(
        t.nbytes for t in graph.tensors))
    results = []
    for inputs in invokes:  # one interpreter: its op state carries from invoke to invoke
        for i, (index, x) in enumerate(zip(graph.inputs, inputs, strict=True)):
            micro.set_input(_array(graph, index, x), i)
        micro.invoke()
        results.append([micro.get_output(i).copy() for i in range(len(graph.outputs))])
    return results


def assert_same(got: Invokes, want: Invokes, what: str) -> None:
    assert len(got) == len(want)
    for k, (g_outs, w_outs) in enumerate(zip(got, want, strict=True)):
        for i, (g, w) in enumerate(zip(g_outs, w_outs, strict=True)):
            g, w = np.asarray(g), np.asarray(w)
            assert g.dtype == w.dtype and g.size == w.size, f"{what} invoke {k} output {i}: {g.dtype} {w.dtype}"
            np.testing.assert_array_equal(g.reshape(-1).view(np.uint8), w.reshape(-1).view(np.uint8),
                                          err_msg=f"{what} invoke {k} output {i}")
