"""RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, TANH, RSQRT (int8, one table each): C against the NumPy reference, the
tables against TFLite Micro (every int8 input at once, swept quantization) and tflite-runtime BUILTIN_REF
where the two runtimes agree, and the tables against the real-valued functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.activation import unary_lut
from codegen.kernels.base import KernelCall, Unsupported
from tests.codegen.kernels.activation.test_kernel_softmax import run_tflite_ref, run_tflm, single_op_model

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
OPS = ("RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "TANH", "RSQRT")


def _f32(x: float) -> float:
    return float(np.float32(x))


def graph(op_type: str, shape, in_q, out_q, dtype: str = "int8") -> Graph:
    tensors = [Tensor(i, f"t{i}", tuple(shape), dtype, Quantization((_f32(s),), (z,)))
               for i, (s, z) in enumerate((in_q, out_q))]
    return Graph(tensors, [Operator(0, op_type, (0,), (1,), {})], (0,), (1,), name=op_type.lower())


def lower(g: Graph) -> KernelCall:
    (call,) = unary_lut.LOWERINGS[g.operators[0].op_type](g.operators[0], g)
    return call


def table(op_type: str, in_q, out_q) -> np.ndarray:
    call = lower(graph(op_type, (256,), in_q, out_q))
    return unary_lut.lut_s8_ref(call.params, ALL_INT8, call.consts[0].data)


@st.composite
def quants(draw, op_type: str):
    """Input/output quantizations an int8 model of this op can have (TFLM's checks and TFLite's conventions)."""
    s_in = 10 ** draw(st.floats(-3, 0.5))
    z_in = draw(st.integers(-128, 127))
    if op_type == "TANH":
        return (s_in, z_in), (1.0 / 128, 0)
    if op_type == "RSQRT":  # outputs from 1/sqrt(255 s_in) to 1/sqrt(s_in): an output scale to hold most
        s_out = 1.0 / np.sqrt(s_in) / 100 * 10 ** draw(st.floats(-0.5, 0.5))
        return (s_in, z_in), (s_out, draw(st.integers(-128, 0)))
    if op_type == "RELU6":  # the converter's case; a quantized 6.0 beyond 127 saturates (TFLM's rule)
        return (s_in, z_in), (s_in, z_in)
    s_out = s_in * 10 ** draw(st.floats(-1.5, 1.5))
    if op_type == "HARD_SWISH":
        s_out = max(s_out, s_in / 100)  # TFLM refuses ratios >= 128
    return (s_in, z_in), (s_out, draw(st.integers(-128, 127)))


# ---------------------------------------------------------------- C == NumPy


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_c_matches_reference(host_runtime, data):
    op_type = data.draw(st.sampled_from(OPS))
    in_q, out_q = data.draw(quants(op_type))
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=0, max_size=4)))
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(-128, 128, size=shape, dtype=np.int8)
    call = lower(graph(op_type, shape, in_q, out_q))
    expected = unary_lut.REFERENCES[call.kernel](call.params, x, call.consts[0].data).reshape(shape)
    got = host_runtime.run(call.kernel, call.params, [x, call.consts[0].data], shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    assert call.in_place
    buf = x.copy()
    host_runtime.run(call.kernel, call.params, [buf, call.consts[0].data], shape, np.int8, out=buf)
    np.testing.assert_array_equal(buf, expected)


# ---------------------------------------------------------------- tables == TFLite Micro / tflite-runtime


@pytest.mark.parametrize("op_type", ["RELU", "RELU6", "HARD_SWISH", "TANH", "RSQRT"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_table_matches_tflm(op_type, data):
    in_q, out_q = data.draw(quants(op_type))
    # TFLM's RSQRT fails the invocation on any input below the zero point: feed it the rest.
    x = ALL_INT8[in_q[1] <= ALL_INT8] if op_type == "RSQRT" else ALL_INT8
    model = single_op_model(op_type, x.shape, in_q, out_q)
    np.testing.assert_array_equal(table(op_type, in_q, out_q)[x.astype(np.int64) + 128], run_tflm(model, x))


@pytest.mark.parametrize("op_type", ["RELU", "RELU_N1_TO_1", "HARD_SWISH"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_table_matches_tflite_builtin_ref(op_type, data):
    """RELU_N1_TO_1 has no TFLM kernel: TFLite's reference is the truth; RELU and HARD_SWISH agree too."""
    in_q, out_q = data.draw(quants(op_type))
    model = single_op_model(op_type, (256,), in_q, out_q)
    np.testing.assert_array_equal(table(op_type, in_q, out_q), run_tflite_ref(model, ALL_INT8))


def test_relu6_follows_tflm_not_tflite_when_quantizations_differ():
    """TFLM clamps RELU6's raw input and ignores the output quantization; TFLite requantizes."""
    in_q, out_q = (0.05, 3), (0.03, -5)
    model = single_op_model("RELU6", (256,), in_q, out_q)
    ours = table("RELU6", in_q, out_q)
    np.testing.assert_array_equal(ours, run_tflm(model, ALL_INT8))
    assert (ours != run_tflite_ref(model, ALL_INT8)).any()


# ---------------------------------------------------------------- tables == the real functions


REAL = {
    "RELU": lambda v: np.maximum(v, 0.0),
    "RELU6": lambda v: np.clip(v, 0.0, 6.0),
    "RELU_N1_TO_1": lambda v: np.clip(v, -1.0, 1.0),
    "HARD_SWISH": lambda v: v * np.clip(v + 3.0, 0.0, 6.0) / 6.0,
    "TANH": np.tanh,
    "RSQRT": lambda v: np.where(v > 0, 1.0 / np.sqrt(np.maximum(v, 1e-30)), np.inf),  # table: 127 for v <= 0
}


@pytest.mark.parametrize("op_type", OPS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_table_approximates_real_function(op_type, data):
    in_q, out_q = data.draw(quants(op_type))
    real = REAL[op_type]((ALL_INT8.astype(np.float64) - in_q[1]) * _f32(in_q[0]))
    with np.errstate(over="ignore"):
        ideal = np.clip(np.round(real / _f32(out_q[0])) + out_q[1], -128, 127)
    err = np.abs(table(op_type, in_q, out_q).astype(np.float64) - ideal)
    # HARD_SWISH's 16-bit fixed point loses a little more than the requantizing ops' half LSB.
    assert err.max() <= {"HARD_SWISH": 3}.get(op_type, 1)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("op_type", "in_q", "out_q", "dtype", "message"),
    [
        ("HARD_SWISH", (0.1, 0), (0.1, 0), "int16", "int16"),
        ("TANH", (0.1, 0), (0.1, 0), "int8", "1/128"),
        ("HARD_SWISH", (1.0, 0), (0.001, 0), "int8", ">= 128"),
    ],
)
def test_unsupported_configurations_are_refused(op_type, in_q, out_q, dtype, message):
    with pytest.raises(Unsupported, match=message):
        lower(graph(op_type, (4,), in_q, out_q, dtype))
