"""Run a graph with the NumPy reference kernels: the host-side oracle for the C kernels and firmware."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import REFERENCES
from codegen.kernels.base import KernelCall
from codegen.passes.lowering import lower_graph


def run_reference(
    graph: Graph, inputs: list[np.ndarray], calls: list[KernelCall] | None = None,
    state: dict[int, np.ndarray] | None = None,
    transform: Callable[[KernelCall, np.ndarray], np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Execute the graph on `inputs` (one per graph input, in order); returns the graph outputs.

    Variable tensors (SVDF's state) start as zeros, like model_reset() in the generated C; pass the same
    `state` dict to consecutive calls to carry them from one invoke to the next (it is updated in place).
    `transform(call, result)`, when given, sees each single-output call's result and returns what is written
    (mixed precision requantizes low-bit patches' feature maps through it: codegen/quantize/mixed_precision.py).
    """
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    calls = lower_graph(graph) if calls is None else calls
    values: dict[int, np.ndarray] = {}
    for index, array in zip(graph.inputs, inputs, strict=True):
        t = graph.tensor(index)
        values[index] = np.asarray(array, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape).copy()
    for t in graph.tensors:
        if t.is_variable:
            kept = None if state is None else state.get(t.index)
            values[t.index] = np.zeros(t.shape, NUMPY_DTYPES[t.dtype]) if kept is None else kept.copy()

    def read(index: int) -> np.ndarray:
        if index not in graph.views:
            return values[index]
        base, offset = graph.views[index]
        t = graph.tensor(index)
        raw = _bytes_of(values, graph, base)[offset : offset + t.nbytes]
        return raw.view(NUMPY_DTYPES[t.dtype]).reshape(t.shape).copy()

    def write(index: int, array: np.ndarray) -> None:
        t = graph.tensor(index)
        array = np.asarray(array).astype(NUMPY_DTYPES[t.dtype], copy=False).reshape(t.shape)
        if index not in graph.views:
            values[index] = array
            return
        base, offset = graph.views[index]
        _bytes_of(values, graph, base)[offset : offset + t.nbytes] = np.ascontiguousarray(array).reshape(-1).view(
            np.uint8)

    for call in calls:
        args = [read(i) for i in call.inputs] + [c.data for c in call.consts]
        if len(call.outputs) != 1:
            # A call with several outputs (one C output pointer each): its reference returns one array per output.
            results = REFERENCES[call.kernel](call.params, *args)
            if len(results) != len(call.outputs):
                raise ValueError(f"{call.kernel} returned {len(results)} arrays for {len(call.outputs)} outputs")
            for index, array in zip(call.outputs, results, strict=True):
                write(index, array)
            continue
        (out_index,) = call.outputs
        # An operator lowered to several calls writing one output (CONCATENATION): each call's reference
        # gets the output written so far and fills in its own part.
        partial = out_index in values or (out_index in graph.views and graph.views[out_index][0] in values)
        kwargs = {"out": read(out_index)} if partial and out_index in values else {}
        result = REFERENCES[call.kernel](call.params, *args, **kwargs)
        write(out_index, result if transform is None else transform(call, result))
    if state is not None:
        state.update({t.index: values[t.index] for t in graph.tensors if t.is_variable})
    return [values[i] for i in graph.outputs]


def _bytes_of(values: dict[int, np.ndarray], graph: Graph, base: int) -> np.ndarray:
    """The base tensor's storage as a writable byte array (created zeroed on first use, like arena memory)."""
    t = graph.tensor(base)
    if base not in values:
        values[base] = np.zeros(t.shape, dtype=NUMPY_DTYPES[t.dtype])
    return values[base].reshape(-1).view(np.uint8)
