"""A hand-built int8 graph rewritten in the form a PyTorch -> TFLite conversion produces: an NCHW graph input
followed by a TRANSPOSE (perm 0, 2, 3, 1) to NHWC, and every convolution with a kernel larger than 1 padded by
an explicit PAD (PyTorch's symmetric k // 2 on each side) in front of a VALID convolution."""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph, Operator, Tensor

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def as_converted(graph: Graph) -> Graph:
    tensors = list(graph.tensors)
    ops: list[Operator] = []

    def add(name: str, shape: tuple[int, ...], dtype: str, quant=None, data=None) -> int:
        tensors.append(Tensor(len(tensors), name, tuple(shape), dtype, quant, data))
        return len(tensors) - 1

    def op(op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...], **options) -> None:
        ops.append(Operator(len(ops), op_type, inputs, outputs, options))

    (nhwc,) = graph.inputs
    x = graph.tensor(nhwc)
    n, h, w, c = x.shape
    nchw = add(f"{x.name}_nchw", (n, c, h, w), x.dtype, x.quant)
    perm = add("perm_nchw_to_nhwc", (4,), "int32", data=np.array([0, 2, 3, 1], np.int32))
    op("TRANSPOSE", (nchw, perm), (nhwc,))
    for original in graph.operators:
        if original.op_type in _CONVS and graph.tensor(original.inputs[1]).shape[1] > 1:
            src = graph.tensor(original.inputs[0])
            kernel = graph.tensor(original.inputs[1]).shape[1]
            half = kernel // 2
            amounts = np.array([[0, 0], [half, half], [half, half], [0, 0]], np.int32)
            paddings = add(f"{src.name}/paddings", (4, 2), "int32", data=amounts)
            shape = (1, src.shape[1] + 2 * half, src.shape[2] + 2 * half, src.shape[3])
            padded = add(f"{src.name}/padded", shape, src.dtype, src.quant)
            op("PAD", (src.index, paddings), (padded,))
            out = graph.tensor(original.outputs[0])
            stride = original.options["stride_h"]
            expected = (shape[1] - kernel) // stride + 1
            if expected != out.shape[1]:  # PyTorch's size rule differs from SAME: resize the output
                tensors[out.index] = dataclasses.replace(out, shape=(1, expected, expected, out.shape[3]))
            options = {**original.options, "padding": "VALID"}
            op(original.op_type, (padded, *original.inputs[1:]), original.outputs, **options)
        else:
            op(original.op_type, original.inputs, original.outputs, **original.options)
    return dataclasses.replace(graph, tensors=tensors, operators=ops, inputs=(nchw,), name=f"{graph.name}_converted")
