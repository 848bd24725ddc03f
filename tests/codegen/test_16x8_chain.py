"""A generated 16x8 model chaining the new operators (float -> QUANTIZE int16 -> PAD -> CONV_2D 16x8 -> LEAKY_RELU
-> STRIDED_SLICE -> TRANSPOSE_CONV -> SUB (broadcast constant) -> ADD -> DEQUANTIZE): the whole pipeline (lowering
with registry variants, PAD fused into the 16x8 convolution, memory planning with int16 / int64 buffers and
in-place calls, C emission) on the host equals the NumPy reference and TFLite Micro bit for bit."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tests.support.op_check import run_tflm
from tools.host_model import HostModel


def _q(scale: float, n: int = 1) -> Quantization:
    return Quantization((float(np.float32(scale)),) * n, (0,) * n)


def chain_graph(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    b1 = rng.integers(-3000, 3000, size=4).astype(np.int64)
    w2 = rng.integers(-127, 128, size=(3, 3, 3, 4)).astype(np.int8)
    b2 = rng.integers(-3000, 3000, size=3).astype(np.int64)
    sub_const = rng.integers(-8000, 8000, size=3).astype(np.int16)
    t = [
        Tensor(0, "x", (1, 6, 10, 3), "float32"),
        Tensor(1, "xq", (1, 6, 10, 3), "int16", _q(1 / 8192)),
        Tensor(2, "pads", (4, 2), "int32", None, np.asarray([[0, 0], [1, 1], [1, 1], [0, 0]], dtype=np.int32)),
        Tensor(3, "xp", (1, 8, 12, 3), "int16", _q(1 / 8192)),
        Tensor(4, "w1", w1.shape, "int8", Quantization(tuple(float(np.float32(0.01 + 0.002 * c)) for c in range(4)),
                                                       (0,) * 4), w1),
        Tensor(5, "b1", (4,), "int64", None, b1),
        Tensor(6, "c1", (1, 6, 10, 4), "int16", _q(1 / 1024)),
        Tensor(7, "lr", (1, 6, 10, 4), "int16", _q(1 / 1500)),
        Tensor(8, "begin", (4,), "int32", None, np.asarray([0, 1, 0, 0], dtype=np.int32)),
        Tensor(9, "end", (4,), "int32", None, np.asarray([0, 0, 9, 0], dtype=np.int32)),
        Tensor(10, "strides", (4,), "int32", None, np.asarray([1, 2, 1, 1], dtype=np.int32)),
        Tensor(11, "sl", (1, 3, 9, 4), "int16", _q(1 / 1500)),
        Tensor(12, "oshape", (4,), "int32", None, np.asarray([1, 6, 18, 3], dtype=np.int32)),
        Tensor(13, "w2", w2.shape, "int8", _q(0.012, 3), w2),
        Tensor(14, "b2", (3,), "int64", None, b2),
        Tensor(15, "tc", (1, 6, 18, 3), "int16", _q(1 / 600)),
        Tensor(16, "k", (3,), "int16", _q(1 / 4000), sub_const),
        Tensor(17, "d", (1, 6, 18, 3), "int16", _q(1 / 500)),
        Tensor(18, "s", (1, 6, 18, 3), "int16", _q(1 / 300)),
        Tensor(19, "out", (1, 6, 18, 3), "float32"),
    ]
    ops = [
        Operator(0, "QUANTIZE", (0,), (1,)),
        Operator(1, "PAD", (1, 2), (3,)),
        Operator(2, "CONV_2D", (3, 4, 5), (6,), {"padding": "VALID", "stride_h": 1, "stride_w": 1,
                                                  "dilation_h": 1, "dilation_w": 1, "activation": "NONE"}),
        Operator(3, "LEAKY_RELU", (6,), (7,), {"alpha": float(np.float32(0.2))}),
        Operator(4, "STRIDED_SLICE", (7, 8, 9, 10), (11,), {"begin_mask": 0b1101, "end_mask": 0b1011,
                                                             "ellipsis_mask": 0, "new_axis_mask": 0,
                                                             "shrink_axis_mask": 0, "offset": False}),
        Operator(5, "TRANSPOSE_CONV", (12, 13, 11, 14), (15,), {"padding": "SAME", "stride_h": 2, "stride_w": 2,
                                                                  "activation": "NONE"}),
        Operator(6, "SUB", (15, 16), (17,), {"activation": "NONE"}),
        Operator(7, "ADD", (17, 15), (18,), {"activation": "NONE"}),
        Operator(8, "DEQUANTIZE", (18,), (19,)),
    ]
    return Graph(t, ops, (0,), (19,), name="chain16x8")


def test_16x8_chain_is_bit_exact_with_tflm():
    graph = chain_graph()
    x = np.random.default_rng(1).uniform(-3.5, 3.5, size=(1, 6, 10, 3)).astype(np.float32)
    want = run_tflm(graph, [x])
    (ref,) = run_reference(graph, [x])
    np.testing.assert_array_equal(ref, want)
    assert len(np.unique(want)) > want.size // 4  # a spread of values, not a saturated block
    compiled = compile_graph(graph, write_tflite(graph))
    kernels = [c.kernel for c in compiled.calls]
    # The PAD folds into the 16x8 convolution's padding (codegen/passes/fuse_pad.py), as for int8.
    assert kernels == ["quantize_f32_s16", "conv2d_s16", "leaky_relu_s16", "strided_slice_bytes",
                       "transpose_conv_s16", "sub_s16", "add_s16", "dequantize_s16_f32"]
    assert compiled.calls[1].params.pad_h == compiled.calls[1].params.pad_w == 1
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([x])
    np.testing.assert_array_equal(got, want)
