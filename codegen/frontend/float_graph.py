"""The float IR every frontend produces: the ordinary Graph/Tensor/Operator dataclasses with float32 tensors
and float weights, TFLite op types and option keys (as codegen/frontend/tflite_reader.py spells them), NHWC layout.

A frontend appends tensors and operators through FloatGraphBuilder; codegen/frontend/float_passes.py then
folds BatchNorm and fuses activations, and codegen/quantize turns the result into an int8 graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Tensor

# Op types a float graph may hold: what the quantizer can turn into int8 ops this compiler lowers.
# RELU / RELU6 / RELU_N1_TO_1 that cannot be fused into their producer become int8 requantizations.
FLOAT_OPS: frozenset[str] = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "MEAN", "PAD", "RESHAPE", "CONCATENATION", "SOFTMAX", "LOG_SOFTMAX", "LOGISTIC", "TRANSPOSE",
    "RELU", "RELU6", "RELU_N1_TO_1",
})
ACTIVATION_OPS: frozenset[str] = frozenset({"RELU", "RELU6", "RELU_N1_TO_1"})


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite SAME padding (before, after) along one axis: output ceil(size / stride), extra pad after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def is_same_padding(size: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> bool:
    """Does explicit zero padding (before, after) compute exactly what TFLite's SAME padding does?

    Padding beyond what the last window reaches changes nothing, so it matches when `before` agrees and both
    give the same number of outputs.
    """
    effective = (kernel - 1) * dilation + 1
    out = (size + before + after - effective) // stride + 1
    return before == same_padding(size, kernel, stride, dilation)[0] and out == -(-size // stride)


def padding_mode(size: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> str | None:
    """'VALID' or 'SAME' when explicit zero padding (before, after) computes exactly that, else None."""
    effective = (kernel - 1) * dilation + 1
    out = (size + before + after - effective) // stride + 1
    if before == 0 and out == (size - effective) // stride + 1:
        return "VALID"
    if is_same_padding(size, kernel, stride, dilation, before, after):
        return "SAME"
    return None


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    return (size - effective) // stride + 1


@dataclass
class FloatGraphBuilder:
    """Appends tensors (index = position) and operators (index = position) of a float graph."""

    name: str
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)

    def activation(self, name: str, shape: tuple[int, ...] | list[int]) -> int:
        """A float32 tensor computed at run time."""
        index = len(self.tensors)
        self.tensors.append(Tensor(index, name, tuple(int(d) for d in shape), "float32"))
        return index

    def const(self, name: str, data: Any, dtype: str = "float32") -> int:
        array = np.ascontiguousarray(np.asarray(data, dtype=NUMPY_DTYPES[dtype]))
        index = len(self.tensors)
        self.tensors.append(Tensor(index, name, tuple(int(d) for d in array.shape), dtype, None, array))
        return index

    def op(self, op_type: str, inputs: tuple[int, ...] | list[int], outputs: tuple[int, ...] | list[int],
           **options: Any) -> Operator:
        op = Operator(len(self.operators), op_type, tuple(inputs), tuple(outputs), dict(options))
        self.operators.append(op)
        return op

    def shape(self, index: int) -> tuple[int, ...]:
        return self.tensors[index].shape

    def unary(self, op_type: str, x: int, name: str, shape: tuple[int, ...] | None = None,
              extra_inputs: tuple[int, ...] = (), **options: Any) -> int:
        """Append `op_type(x, *extra_inputs)` with a new output tensor; returns the output's index."""
        y = self.activation(name, self.shape(x) if shape is None else shape)
        self.op(op_type, (x, *extra_inputs), (y,), **options)
        return y

    def reshape(self, x: int, shape: tuple[int, ...], name: str) -> int:
        target = self.const(f"{name}/shape", np.asarray(shape, dtype=np.int32), "int32")
        return self.unary("RESHAPE", x, name, tuple(shape), (target,))

    def transpose(self, x: int, perm: tuple[int, ...], name: str) -> int:
        shape = tuple(self.shape(x)[p] for p in perm)
        p = self.const(f"{name}/perm", np.asarray(perm, dtype=np.int32), "int32")
        return self.unary("TRANSPOSE", x, name, shape, (p,))

    def pad(self, x: int, paddings: list[tuple[int, int]], name: str) -> int:
        shape = tuple(d + a + b for d, (a, b) in zip(self.shape(x), paddings, strict=True))
        p = self.const(f"{name}/paddings", np.asarray(paddings, dtype=np.int32).reshape(-1, 2), "int32")
        return self.unary("PAD", x, name, shape, (p,))

    def conv2d(self, x: int, weights: np.ndarray, bias: np.ndarray | None, name: str, stride: tuple[int, int],
               dilation: tuple[int, int], padding: str, activation: str = "NONE",
               depthwise: bool = False) -> int:
        """CONV_2D (weights O x kh x kw x I) or DEPTHWISE_CONV_2D (weights 1 x kh x kw x C*m), NHWC."""
        n, h, w, c = self.shape(x)
        cout = weights.shape[3] if depthwise else weights.shape[0]
        kh, kw = weights.shape[1], weights.shape[2]
        oh = conv_out_size(h, kh, stride[0], dilation[0], padding)
        ow = conv_out_size(w, kw, stride[1], dilation[1], padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"{name}: a {kh}x{kw} window does not fit a {h}x{w} input")
        b = np.zeros(cout, np.float32) if bias is None else bias
        wt = self.const(f"{name}/weights", weights)
        bt = self.const(f"{name}/bias", b)
        y = self.activation(name, (n, oh, ow, cout))
        options: dict[str, Any] = dict(padding=padding, stride_h=int(stride[0]), stride_w=int(stride[1]),
                                       dilation_h=int(dilation[0]), dilation_w=int(dilation[1]),
                                       activation=activation)
        if depthwise:
            self.op("DEPTHWISE_CONV_2D", (x, wt, bt), (y,), **options, depth_multiplier=cout // c)
        else:
            self.op("CONV_2D", (x, wt, bt), (y,), **options)
        return y

    def pool(self, op_type: str, x: int, name: str, filt: tuple[int, int], stride: tuple[int, int],
             padding: str) -> int:
        n, h, w, c = self.shape(x)
        oh = conv_out_size(h, filt[0], stride[0], 1, padding)
        ow = conv_out_size(w, filt[1], stride[1], 1, padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"{name}: a {filt[0]}x{filt[1]} window does not fit a {h}x{w} input")
        return self.unary(op_type, x, name, (n, oh, ow, c), padding=padding, stride_h=int(stride[0]),
                          stride_w=int(stride[1]), filter_h=int(filt[0]), filter_w=int(filt[1]),
                          activation="NONE")

    def fully_connected(self, x: int, weights: np.ndarray, bias: np.ndarray | None, name: str) -> int:
        out_features = weights.shape[0]
        batches = math.prod(self.shape(x)) // weights.shape[1]
        b = np.zeros(out_features, np.float32) if bias is None else bias
        wt = self.const(f"{name}/weights", weights)
        bt = self.const(f"{name}/bias", b)
        y = self.activation(name, (batches, out_features))
        self.op("FULLY_CONNECTED", (x, wt, bt), (y,), activation="NONE", weights_format=0, keep_num_dims=False)
        return y

    def build(self, inputs: tuple[int, ...] | list[int], outputs: tuple[int, ...] | list[int]) -> Graph:
        return Graph(list(self.tensors), list(self.operators), tuple(inputs), tuple(outputs), name=self.name)
