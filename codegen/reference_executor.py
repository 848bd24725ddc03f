"""Run a graph with the NumPy reference kernels: the host-side oracle for the C kernels and firmware."""

from __future__ import annotations

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import REFERENCES
from codegen.kernels.base import KernelCall
from codegen.lowering import lower_graph


def run_reference(
    graph: Graph, inputs: list[np.ndarray], calls: list[KernelCall] | None = None
) -> list[np.ndarray]:
    """Execute the graph on `inputs` (one per graph input, in order); returns the graph outputs."""
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    calls = lower_graph(graph) if calls is None else calls
    values: dict[int, np.ndarray] = {}
    for index, array in zip(graph.inputs, inputs, strict=True):
        t = graph.tensor(index)
        values[index] = np.asarray(array, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape)
    for call in calls:
        args = [values[i] for i in call.inputs] + [c.data for c in call.consts]
        (out_index,) = call.outputs
        # An operator lowered to several calls writing one output (CONCATENATION): each call's reference
        # gets the output written so far and fills in its own part.
        kwargs = {"out": values[out_index]} if out_index in values else {}
        out = REFERENCES[call.kernel](call.params, *args, **kwargs)
        t = graph.tensor(out_index)
        values[out_index] = np.asarray(out).astype(NUMPY_DTYPES[t.dtype], copy=False).reshape(t.shape)
    return [values[i] for i in graph.outputs]
