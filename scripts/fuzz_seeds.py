"""Small generated models for the model fuzzer, written with codegen/frontend/tflite_writer.py.

Together they use every operator the compiler supports, so mutations of them reach every lowering even
where the real models in ../shared/models are absent. Each one compiles as written (the fuzz test checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor


def _q(scale: float, zero_point: int) -> Quantization:
    return Quantization((float(np.float32(scale)),), (zero_point,))


@dataclass
class _Builder:
    name: str
    tensors: list[Tensor] = field(default_factory=list)
    operators: list[Operator] = field(default_factory=list)

    def t(self, shape: tuple[int, ...], dtype: str = "int8", quant: Quantization | None = None,
          data: np.ndarray | None = None) -> int:
        index = len(self.tensors)
        if data is not None:
            data = np.asarray(data, dtype=NUMPY_DTYPES[dtype]).reshape(shape)
        self.tensors.append(Tensor(index, f"t{index}", shape, dtype, quant, data))
        return index

    def op(self, op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...], **options: object) -> None:
        self.operators.append(Operator(len(self.operators), op_type, inputs, outputs, dict(options)))

    def graph(self, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Graph:
        return Graph(self.tensors, self.operators, inputs, outputs, name=self.name)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)


def cnn_graph() -> Graph:
    """PAD, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX."""
    rng = np.random.default_rng(1)
    b = _Builder("gen_cnn")
    act = _q(0.05, -3)
    x = b.t((1, 8, 8, 3), quant=act)
    paddings = b.t((4, 2), "int32", data=np.array([[0, 0], [1, 1], [1, 1], [0, 0]]))
    padded = b.t((1, 10, 10, 3), quant=act)
    b.op("PAD", (x, paddings), (padded,))
    w = b.t((4, 3, 3, 3), quant=Quantization(tuple(float(np.float32(0.01 * (i + 1))) for i in range(4)),
                                              (0,) * 4, 0), data=_weights(rng, (4, 3, 3, 3)))
    bias = b.t((4,), "int32", data=np.arange(4) * 10)
    conv = b.t((1, 8, 8, 4), quant=_q(0.1, 2))
    b.op("CONV_2D", (padded, w, bias), (conv,), padding="VALID", stride_h=1, stride_w=1, dilation_h=1,
         dilation_w=1, activation="RELU")
    dw_w = b.t((1, 3, 3, 8), quant=_q(0.02, 0), data=_weights(rng, (1, 3, 3, 8)))
    dw = b.t((1, 4, 4, 8), quant=_q(0.08, -1))
    b.op("DEPTHWISE_CONV_2D", (conv, dw_w, -1), (dw,), padding="SAME", stride_h=2, stride_w=2, dilation_h=1,
         dilation_w=1, depth_multiplier=2, activation="RELU6")
    pooled = b.t((1, 3, 3, 8), quant=_q(0.08, -1))
    b.op("MAX_POOL_2D", (dw,), (pooled,), padding="VALID", stride_h=1, stride_w=1, filter_h=2, filter_w=2,
         activation="NONE")
    avg = b.t((1, 2, 2, 8), quant=_q(0.08, -1))
    b.op("AVERAGE_POOL_2D", (pooled,), (avg,), padding="SAME", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    new_shape = b.t((2,), "int32", data=np.array([1, 32]))
    flat = b.t((1, 32), quant=_q(0.08, -1))
    b.op("RESHAPE", (avg, new_shape), (flat,), new_shape=[1, 32])
    fc_w = b.t((10, 32), quant=_q(0.03, 0), data=_weights(rng, (10, 32)))
    fc_b = b.t((10,), "int32", quant=_q(0.08 * 0.03, 0), data=np.arange(10))
    logits = b.t((1, 10), quant=_q(0.2, 5))
    b.op("FULLY_CONNECTED", (flat, fc_w, fc_b), (logits,), activation="NONE", weights_format=0,
         keep_num_dims=False)
    probs = b.t((1, 10), quant=_q(1 / 256, -128))
    b.op("SOFTMAX", (logits,), (probs,), beta=1.0)
    return b.graph((x,), (probs,))


def elementwise_graph() -> Graph:
    """ADD (broadcast), MUL, CONCATENATION, TRANSPOSE, MEAN, LOGISTIC."""
    b = _Builder("gen_elementwise")
    x = b.t((1, 4, 4, 2), quant=_q(0.1, 1))
    bias = b.t((1, 1, 1, 2), quant=_q(0.05, 0), data=np.array([10, -20]))
    added = b.t((1, 4, 4, 2), quant=_q(0.12, -2))
    b.op("ADD", (x, bias), (added,), activation="NONE")
    product = b.t((1, 4, 4, 2), quant=_q(0.2, 0))
    b.op("MUL", (added, x), (product,), activation="RELU")
    joined = b.t((1, 4, 4, 4), quant=_q(0.2, 0))
    b.op("CONCATENATION", (product, product), (joined,), axis=-1, activation="NONE")
    perm = b.t((4,), "int32", data=np.array([0, 3, 1, 2]))
    moved = b.t((1, 4, 4, 4), quant=_q(0.2, 0))
    b.op("TRANSPOSE", (joined, perm), (moved,))
    axes = b.t((2,), "int32", data=np.array([2, 3]))
    mean = b.t((1, 4), quant=_q(0.15, 3))
    b.op("MEAN", (moved, axes), (mean,), keep_dims=False)
    out = b.t((1, 4), quant=_q(1 / 256, -128))
    b.op("LOGISTIC", (mean,), (out,))
    return b.graph((x,), (out,))


def float_io_graph() -> Graph:
    """QUANTIZE (float32 -> int8, int8 -> int8), PADV2, LOG_SOFTMAX, DEQUANTIZE."""
    b = _Builder("gen_float_io")
    x = b.t((1, 6), "float32")
    q = b.t((1, 6), quant=_q(0.04, -5))
    b.op("QUANTIZE", (x,), (q,))
    rq = b.t((1, 6), quant=_q(0.05, 0))
    b.op("QUANTIZE", (q,), (rq,))
    paddings = b.t((2, 2), "int32", data=np.array([[0, 0], [1, 1]]))
    value = b.t((), quant=_q(0.05, 0), data=np.array(-100))
    padded = b.t((1, 8), quant=_q(0.05, 0))
    b.op("PADV2", (rq, paddings, value), (padded,))
    log = b.t((1, 8), quant=_q(16 / 256, 127))
    b.op("LOG_SOFTMAX", (padded,), (log,))
    y = b.t((1, 8), "float32")
    b.op("DEQUANTIZE", (log,), (y,))
    return b.graph((x,), (y,))


GENERATORS = (cnn_graph, elementwise_graph, float_io_graph)


def generated_models() -> list[tuple[str, bytes]]:
    return [(g.name, write_tflite(g)) for g in (make() for make in GENERATORS)]
