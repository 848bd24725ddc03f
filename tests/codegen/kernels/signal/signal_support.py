"""Helpers for the signal-library tests: one-op graphs, the C kernels on the host for calls with several
outputs, and TFLite Micro (which registers the Signal* custom ops) as the golden reference."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Tensor
from codegen.kernels import LOWERINGS
from codegen.kernels.base import KernelCall
from codegen.reference_executor import run_reference
from tests.support.single_op import run_tflm as run_tflm_once


def one_op_graph(op_type: str, ins: list[tuple[tuple[int, ...], str, np.ndarray | None]],
                 outs: list[tuple[tuple[int, ...], str]], **options: Any) -> Graph:
    """`ins`: (shape, dtype, constant data or None); the non-constant ones become the graph inputs."""
    tensors: list[Tensor] = []
    for i, (shape, dtype, data) in enumerate(ins):
        arr = None if data is None else np.asarray(data, NUMPY_DTYPES[dtype]).reshape(shape)
        tensors.append(Tensor(i, f"in{i}", tuple(shape), dtype, None, arr))
    for j, (shape, dtype) in enumerate(outs):
        tensors.append(Tensor(len(ins) + j, f"out{j}", tuple(shape), dtype))
    op = Operator(0, f"CUSTOM:{op_type}", tuple(range(len(ins))), tuple(range(len(ins), len(tensors))), options)
    graph_inputs = tuple(i for i, (_, _, d) in enumerate(ins) if d is None)
    return Graph(tensors, [op], graph_inputs, op.outputs, name=op_type.lower())


def lower(graph: Graph) -> list[KernelCall]:
    return [c for op in graph.operators for c in LOWERINGS[op.op_type](op, graph)]


def run_ref(graph: Graph, inputs: list[np.ndarray], state: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
    return [np.asarray(v) for v in run_reference(graph, inputs, lower(graph), state=state)]


def run_c(host_runtime: Any, graph: Graph, inputs: list[np.ndarray],
          state: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:
    """Every call through the host build of mcu_runtime; fresh outputs start as 0x5A bytes so unwritten ones
    show. Variable tensors come from and go back to `state` (zeros when absent), as model_state does."""
    values: dict[int, np.ndarray] = {i: np.ascontiguousarray(v) for i, v in zip(graph.inputs, inputs, strict=True)}
    for t in graph.tensors:
        if t.is_variable:
            kept = None if state is None else state.get(t.index)
            values[t.index] = np.zeros(t.shape, NUMPY_DTYPES[t.dtype]) if kept is None else kept.copy()
    for call in lower(graph):
        for index in call.outputs:
            t = graph.tensor(index)
            if index not in values:
                values[index] = np.full(t.nbytes, 0x5A, np.uint8).view(NUMPY_DTYPES[t.dtype]).reshape(t.shape)
        arrays = [values[i] for i in call.inputs] + [np.ascontiguousarray(c.data) for c in call.consts]
        fn = getattr(host_runtime.lib, call.kernel)
        fn.restype = None
        struct = call.params.to_ctypes() if call.params is not None else None
        args: list[Any] = [ctypes.byref(struct)] if struct is not None else []
        args += [ctypes.c_void_p(a.ctypes.data) for a in arrays]
        args += [ctypes.c_void_p(values[i].ctypes.data) for i in call.outputs]
        scratch = np.zeros(call.scratch_bytes, np.int8) if call.scratch_bytes else None
        if scratch is not None:
            args.append(ctypes.c_void_p(scratch.ctypes.data))
        fn(*args)
    if state is not None:
        state.update({t.index: values[t.index].copy() for t in graph.tensors if t.is_variable})
    return [values[i] for i in graph.outputs]


def run_tflm(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(v) for v in run_tflm_once(graph, inputs)]


def run_tflm_sequence(graph: Graph, inputs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Consecutive invokes of one TFLM interpreter (its persistent state carried)."""
    from tflite_micro.python.tflite_micro import runtime

    from codegen.frontend.tflite_writer import write_tflite

    arena = 65536 + 16 * sum(t.nbytes for t in graph.tensors)
    micro = runtime.Interpreter.from_bytes(write_tflite(graph), arena_size=arena)
    results = []
    for xs in inputs:
        for i, x in enumerate(xs):
            micro.set_input(np.ascontiguousarray(x), i)
        micro.invoke()
        results.append([np.array(micro.get_output(i)) for i in range(len(graph.outputs))])
    return results


def assert_equal(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape or got.size == expected.size, f"{what}: {got.shape} vs {expected.shape}"
    np.testing.assert_array_equal(got.reshape(-1), expected.reshape(-1).astype(got.dtype), err_msg=what)
    if got.dtype == expected.dtype:  # bit for bit: float -0.0 against 0.0 counts as a difference
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes(), what
