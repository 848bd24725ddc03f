"""QUANTIZE with int16 / int32 operands and float32 -> int16: C against the NumPy reference, the reference
against TFLite Micro (every direction it allows) and tflite-runtime BUILTIN_REF (the directions it has)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.arithmetic.quantize_s16 import REQUANTIZE_PAIRS
from codegen.kernels.base import Unsupported
from tests.support.op_check import check_single_op
from tests.support.single_op import lower

RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}
# tflite-runtime 2.14's QUANTIZE lacks some of TFLite Micro's integer directions.
TFLITE_HAS = {("int16", "int8"), ("int16", "int16"), ("int16", "int32")}


def quantize_graph(x: Tensor, y: Tensor) -> Graph:
    return Graph([x, y], [Operator(0, "QUANTIZE", (0,), (1,))], (0,), (1,), name="quantize")


def _zp(draw, dtype: str) -> int:
    return draw(st.integers(-128, 127)) if dtype == "int8" else (0 if dtype == "int16" else draw(st.integers(-5, 5)))


@pytest.mark.parametrize(("src", "dst"), REQUANTIZE_PAIRS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_requantize_matches_tflm(host_runtime, src, dst, data):
    s_in = 10 ** data.draw(st.floats(-6, -1))
    s_out = s_in * 10 ** data.draw(st.floats(-3, 3))
    zin, zout = _zp(data.draw, src), _zp(data.draw, dst)
    lo, hi = RANGES[src]
    if src == "int32":
        lo, hi = -(2**20), 2**20  # converter-like int32 activations; the full range saturates everything
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(lo, hi + 1, size=(2, 17)).astype(src)
    graph = quantize_graph(Tensor(0, "x", x.shape, src, Quantization((float(np.float32(s_in)),), (zin,))),
                           Tensor(1, "y", x.shape, dst, Quantization((float(np.float32(s_out)),), (zout,))))
    (call,) = lower(graph)
    assert call.kernel.startswith("requantize_")
    oracles = ("tflm", "tflite") if (src, dst) in TFLITE_HAS and zin == zout == 0 else ("tflm",)
    check_single_op(host_runtime, graph, [x], oracles)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(-5, -1), seed=st.integers(0, 2**32 - 1))
def test_quantize_f32_to_int16_matches_tflm_and_tflite(host_runtime, scale, seed):
    scale = float(np.float32(10**scale))
    rng = np.random.default_rng(seed)
    # Values around the grid's half-way points, both signs, some far outside the int16 range.
    x = ((rng.integers(-40000, 40000, size=64) + rng.choice([0.0, 0.5, 0.49999997, 0.25], size=64)) * scale)
    x = x.astype(np.float32)
    graph = quantize_graph(Tensor(0, "x", x.shape, "float32"),
                           Tensor(1, "y", x.shape, "int16", Quantization((scale,), (0,))))
    (call,) = lower(graph)
    assert call.kernel == "quantize_f32_s16"
    out = check_single_op(host_runtime, graph, [x])
    assert out.min() == -32768 and out.max() == 32767  # saturation is exercised


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(-6, 2), seed=st.integers(0, 2**32 - 1))
def test_dequantize_int16_matches_tflm_and_tflite(host_runtime, scale, seed):
    scale = float(np.float32(10**scale))
    x = np.random.default_rng(seed).integers(-32768, 32768, size=(3, 11)).astype(np.int16)
    x.flat[:2] = (-32768, 32767)
    graph = Graph([Tensor(0, "x", x.shape, "int16", Quantization((scale,), (0,))), Tensor(1, "y", x.shape, "float32")],
                  [Operator(0, "DEQUANTIZE", (0,), (1,))], (0,), (1,), name="dequantize16")
    (call,) = lower(graph)
    assert call.kernel == "dequantize_s16_f32"
    check_single_op(host_runtime, graph, [x])


def test_uint8_and_float_outputs_are_refused():
    q = Quantization((0.1,), (0,))
    graph = quantize_graph(Tensor(0, "x", (2,), "int16", q), Tensor(1, "y", (2,), "uint8", q))
    with pytest.raises(Unsupported, match="from int16 to uint8"):
        lower(graph)
