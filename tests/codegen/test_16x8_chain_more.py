"""A generated 16x8 model chaining the later 16x8 operators (float -> QUANTIZE int16 -> MUL by a broadcast constant
-> AVERAGE_POOL_2D -> MAX_POOL_2D -> CONCATENATION -> MEAN -> SOFTMAX int16 -> DEQUANTIZE): the whole pipeline
(lowering through the registry's variants, memory planning with int16 buffers, C emission with the int16 lookup
tables) on the host equals the NumPy reference and TFLite Micro bit for bit."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from tests.support.op_check import run_tflm
from tools.host_model import HostModel


def _q(scale: float) -> Quantization:
    return Quantization((float(np.float32(scale)),), (0,))


def chain_graph(seed: int = 0) -> Graph:
    k = np.random.default_rng(seed).integers(-16000, 16000, size=4).astype(np.int16)
    t = [
        Tensor(0, "x", (1, 8, 8, 4), "float32"),
        Tensor(1, "xq", (1, 8, 8, 4), "int16", _q(1 / 4096)),
        Tensor(2, "k", (4,), "int16", _q(1 / 8192), k),
        Tensor(3, "m", (1, 8, 8, 4), "int16", _q(1 / 2048)),
        Tensor(4, "ap", (1, 4, 4, 4), "int16", _q(1 / 2048)),
        Tensor(5, "mp", (1, 4, 4, 4), "int16", _q(1 / 2048)),
        Tensor(6, "cat", (1, 4, 4, 8), "int16", _q(1 / 2048)),
        Tensor(7, "axes", (1,), "int32", None, np.asarray([2], dtype=np.int32)),
        Tensor(8, "mean", (1, 4, 8), "int16", _q(1 / 1024)),
        Tensor(9, "sm", (1, 4, 8), "int16", _q(1 / 32768)),
        Tensor(10, "out", (1, 4, 8), "float32"),
    ]
    pool = {"padding": "VALID", "stride_h": 2, "stride_w": 2, "filter_h": 2, "filter_w": 2, "activation": "NONE"}
    ops = [
        Operator(0, "QUANTIZE", (0,), (1,)),
        Operator(1, "MUL", (1, 2), (3,), {"activation": "NONE"}),
        Operator(2, "AVERAGE_POOL_2D", (3,), (4,), pool),
        Operator(3, "MAX_POOL_2D", (4,), (5,), pool | {"padding": "SAME", "stride_h": 1, "stride_w": 1,
                                                       "filter_h": 3, "filter_w": 3, "activation": "RELU"}),
        Operator(4, "CONCATENATION", (4, 5), (6,), {"axis": 3, "activation": "NONE"}),
        Operator(5, "MEAN", (6, 7), (8,), {"keep_dims": False}),
        Operator(6, "SOFTMAX", (8,), (9,), {"beta": 1.0}),
        Operator(7, "DEQUANTIZE", (9,), (10,)),
    ]
    return Graph(t, ops, (0,), (10,), name="chain16x8_more")


def test_16x8_chain_of_mul_pools_concat_mean_softmax_is_bit_exact_with_tflm():
    graph = chain_graph()
    x = np.random.default_rng(1).uniform(-7.5, 7.5, size=(1, 8, 8, 4)).astype(np.float32)
    want = run_tflm(graph, [x])
    (ref,) = run_reference(graph, [x])
    np.testing.assert_array_equal(ref, want)
    assert len(np.unique(want)) > want.size // 2  # a spread of probabilities, not a saturated block
    compiled = compile_graph(graph, write_tflite(graph))
    kernels = [c.kernel for c in compiled.calls]
    assert kernels == ["quantize_f32_s16", "mul_s16", "avg_pool2d_s16", "max_pool2d_s16", "copy_strided",
                       "copy_strided", "mean_s16", "softmax_s16", "dequantize_s16_f32"]
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([x])
    np.testing.assert_array_equal(got, want)
