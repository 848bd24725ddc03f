"""Test and benchmark models: a hand-built int8 graph rewritten in the form a PyTorch -> TFLite conversion
produces: an NCHW graph input followed by a TRANSPOSE (perm 0, 2, 3, 1) to NHWC, and every convolution with a
kernel larger than 1 padded by an explicit PAD (PyTorch's symmetric k // 2 on each side) in front of a VALID
convolution."""

from __future__ import annotations

import dataclasses

import numpy as np

from codegen.ir import Graph, Operator, Quantization, Tensor

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


# How a converter may feed a flat or differently shaped input to an NHWC network (as_reshaped's `form`):
RESHAPED_FORMS = (
    "flat",  # [1, H*W*C] -> RESHAPE -> [1, H, W, C]
    "rows",  # [1, H, W*C] -> RESHAPE -> [1, H, W, C]
    "flat_nchw",  # [1, C*H*W] -> RESHAPE -> [1, C, H, W] -> TRANSPOSE (0, 2, 3, 1)
    "float_flat",  # float32 [1, H*W*C] -> RESHAPE -> QUANTIZE to int8 [1, H, W, C]
    "flat_swapped",  # [1, W*H*C] -> RESHAPE -> [1, W, H, C] -> TRANSPOSE (0, 2, 1, 3): not row-local
    "requantized",  # int8 [1, H, W, C] of another scale -> DEQUANTIZE -> QUANTIZE
    "cast",  # int16 [1, H, W, C] -> CAST to int8
    "quantize_then_flat",  # float32 [1, H*W*C] -> QUANTIZE -> RESHAPE: the reshape of a computed tensor
)


def as_reshaped(graph: Graph, form: str) -> Graph:
    """`graph` (one NHWC int8 input) fed through the leading RESHAPE (and TRANSPOSE, QUANTIZE) of `form`."""
    tensors = list(graph.tensors)
    ops: list[Operator] = []

    def add(name: str, shape: tuple[int, ...], dtype: str, quant=None, data=None) -> int:
        tensors.append(Tensor(len(tensors), name, tuple(shape), dtype, quant, data))
        return len(tensors) - 1

    def reshape(src: int, shape: tuple[int, ...], dst: int | None = None) -> int:
        t = tensors[src]
        dst = add(f"{t.name}_reshaped", shape, t.dtype, t.quant) if dst is None else dst
        ops.append(Operator(len(ops), "RESHAPE", (src, add(f"shape{len(ops)}", (len(shape),), "int32",
                                                              data=np.array(shape, np.int32))), (dst,), {}))
        return dst

    def transpose(src: int, perm: tuple[int, ...], dst: int) -> None:
        ops.append(Operator(len(ops), "TRANSPOSE", (src, add(f"perm{len(ops)}", (4,), "int32",
                                                               data=np.array(perm, np.int32))), (dst,), {}))

    (nhwc,) = graph.inputs
    x = graph.tensor(nhwc)
    _, h, w, c = x.shape
    if form == "flat":
        first = add(f"{x.name}_flat", (1, h * w * c), x.dtype, x.quant)
        reshape(first, x.shape, nhwc)
    elif form == "rows":
        first = add(f"{x.name}_rows", (1, h, w * c), x.dtype, x.quant)
        reshape(first, x.shape, nhwc)
    elif form == "flat_nchw":
        first = add(f"{x.name}_flat", (1, c * h * w), x.dtype, x.quant)
        transpose(reshape(first, (1, c, h, w)), (0, 2, 3, 1), nhwc)
    elif form == "flat_swapped":
        first = add(f"{x.name}_flat", (1, w * h * c), x.dtype, x.quant)
        transpose(reshape(first, (1, w, h, c)), (0, 2, 1, 3), nhwc)
    elif form == "float_flat":
        first = add(f"{x.name}_float", (1, h * w * c), "float32")
        ops.append(Operator(len(ops), "QUANTIZE", (reshape(first, x.shape),), (nhwc,), {}))
    elif form == "requantized":
        first = add(f"{x.name}_q", x.shape, "int8", Quantization((0.03125,), (5,), 0))
        wide = add(f"{x.name}_f", x.shape, "float32")
        ops.append(Operator(len(ops), "DEQUANTIZE", (first,), (wide,), {}))
        ops.append(Operator(len(ops), "QUANTIZE", (wide,), (nhwc,), {}))
    elif form == "cast":
        first = add(f"{x.name}_i16", x.shape, "int16")
        ops.append(Operator(len(ops), "CAST", (first,), (nhwc,), {}))
    elif form == "quantize_then_flat":
        first = add(f"{x.name}_float", (1, h * w * c), "float32")
        flat = add(f"{x.name}_flat", (1, h * w * c), x.dtype, x.quant)
        ops.append(Operator(len(ops), "QUANTIZE", (first,), (flat,), {}))
        reshape(flat, x.shape, nhwc)
    else:
        raise ValueError(f"unknown form {form!r} (one of {', '.join(RESHAPED_FORMS)})")
    ops += [dataclasses.replace(op, index=len(ops) + k) for k, op in enumerate(graph.operators)]
    return dataclasses.replace(graph, tensors=tensors, operators=ops, inputs=(first,), name=f"{graph.name}_{form}")
