"""LOGISTIC: C against the NumPy reference, and the reference against TFLite Micro on single-op models.

No shared model has an int8 LOGISTIC, so truth comes from TFLM on models written by
test_kernel_softmax.single_op_model, fed every int8 value at once. tflite-runtime is only a loose check
here: its int8 LOGISTIC uses a float lookup table, not TFLM's fixed-point kernel.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import parse_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.activation import logistic
from codegen.kernels.base import KernelCall, Unsupported
from codegen.paths import runtime_include_flags, runtime_source
from tests.codegen.kernels.activation.test_kernel_softmax import (
    ARM_FLAGS,
    C_FLAGS,
    exact_frexp,
    run_tflite_ref,
    run_tflm,
    single_op_model,
)

OUTPUT_QUANT = (1.0 / 256, -128)
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def _graph(shape: tuple[int, ...], in_quant: tuple[float, int], out_quant: tuple[float, int] = OUTPUT_QUANT,
           dtypes: tuple[str, str] = ("int8", "int8")) -> Graph:
    tensors = [Tensor(i, f"t{i}", shape, dtype, Quantization((float(np.float32(s)),), (zp,)))
               for i, (dtype, (s, zp)) in enumerate(zip(dtypes, (in_quant, out_quant), strict=True))]
    return Graph(tensors, [Operator(0, "LOGISTIC", (0,), (1,), {})], (0,), (1,))


def _lower(graph: Graph) -> KernelCall:
    (call,) = logistic.LOWERINGS["LOGISTIC"](graph.operators[0], graph)
    return call


# Scales from 1e-3 to 1 (the brief's range) plus a tail up to 32: the radius is 0 from 8 on.
scales = st.one_of(st.floats(-3.0, 0.0), st.floats(0.0, 1.5)).map(lambda e: float(np.float32(10.0**e)))


@st.composite
def logistic_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 12), min_size=1, max_size=4)))
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 2000)),)
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(-128, 128, size=shape, dtype=np.int8)
    return _graph(shape, (draw(scales), draw(st.integers(-128, 127)))), x


@settings(max_examples=100, deadline=None)
@given(logistic_cases())
def test_logistic_s8_c_matches_reference(host_runtime, case):
    graph, x = case
    call = _lower(graph)
    expected = logistic.logistic_s8_ref(call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    assert call.in_place
    inplace = x.copy()
    host_runtime.run(call.kernel, call.params, [inplace], x.shape, np.int8, out=inplace)
    np.testing.assert_array_equal(inplace, expected)
    # The reference itself: non-decreasing in the input, and close to the real sigmoid.
    order = np.argsort(x.reshape(-1), kind="stable")
    assert (np.diff(expected.reshape(-1)[order].astype(np.int32)) >= 0).all()
    v = x.astype(np.float64) - graph.tensors[0].zero_point
    real = 1 / (1 + np.exp(np.clip(-graph.tensors[0].scale * v, -60, 60)))
    err = np.abs((expected.astype(np.float64) + 128) / 256 - np.minimum(real, 255 / 256))
    radius = call.params.input_range_radius
    inside = np.abs(v) < radius
    assert err[inside].max(initial=0) <= 1 / 256
    # Outside the radius TFLM saturates (with a zero radius, from scale 8 on, even the zero point gives -128).
    assert (expected[v <= -radius] == -128).all() and (expected[(v >= radius) & (v > -radius)] == 127).all()


@settings(max_examples=60, deadline=None)
@given(scales, st.integers(-128, 127))
def test_logistic_reference_matches_tflm_on_every_int8_value(host_runtime, scale, zero_point):
    x = ALL_INT8.reshape(2, 128)
    model = single_op_model("LOGISTIC", x.shape, (scale, zero_point), OUTPUT_QUANT)
    call = _lower(parse_tflite(model))
    assert call.params == _lower(_graph(x.shape, (scale, zero_point))).params
    expected = logistic.logistic_s8_ref(call.params, x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    np.testing.assert_array_equal(host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8), expected)
    # tflite-runtime 2.14 evaluates int8 LOGISTIC through a float lookup table even with BUILTIN_REF: it
    # differs from TFLM on rounding ties (1 LSB) and does not saturate at TFLM's input radius.
    inside = np.abs(x.astype(np.int32) - zero_point) < call.params.input_range_radius
    tflite_out = run_tflite_ref(model, x).astype(np.int32)
    assert np.abs(tflite_out - expected)[inside].max(initial=0) <= 1


@pytest.mark.parametrize("scale", [2.0**-28, 1e-3, 0.0625, 1.0, 7.99, 8.0, 1000.0])
def test_edge_scales_match_tflm(host_runtime, scale):
    """Tiny scales keep every input inside the radius; from 8 on the radius is 0 and, as in TFLM, an input
    equal to the zero point gives -128."""
    x = ALL_INT8.reshape(1, 256)
    model = single_op_model("LOGISTIC", x.shape, (scale, 7), OUTPUT_QUANT)
    call = _lower(parse_tflite(model))
    expected = logistic.logistic_s8_ref(call.params, x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    np.testing.assert_array_equal(host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8), expected)
    assert (call.params.input_range_radius == 0) == (scale >= 8.0)
    if scale >= 8.0:
        assert expected[0, 7 + 128] == -128


def test_prepare_matches_tflite():
    # scale 2^-4: 2^-4 * 2^27 = 2^23 -> frexp (0.5, 24): multiplier 2^30, shift 24, radius 15 * 2^27 >> 24.
    p = _lower(_graph((4,), (0.0625, 0))).params
    assert (p.input_multiplier, p.input_left_shift, p.input_range_radius) == (1 << 30, 24, 120)
    p = _lower(_graph((4,), (1e-3, 0))).params
    assert p.input_left_shift == 18 and p.input_range_radius == (15 << 27) >> 18


@settings(max_examples=200, deadline=None)
@given(st.floats(2.0**-28, 100.0, width=32))
def test_prepare_matches_exact_arithmetic(scale):
    """scale * 2^27 is exact; TFLM rounds the frexp mantissa half up without renormalising."""
    p = _lower(_graph((4,), (scale, 0))).params
    mantissa, exponent = exact_frexp(Fraction(scale) * 2**27)
    assert p.input_left_shift == exponent
    assert p.input_multiplier == math.floor(mantissa * 2**31 + Fraction(1, 2))
    assert p.input_range_radius == math.floor(Fraction(15 * 2**27, 2**exponent))


@pytest.mark.parametrize(
    "in_quant,out_quant,dtypes,message",
    [
        ((0.1, 0), (1 / 256, 0), ("int8", "int8"), "output quantization"),
        ((0.1, 0), (1 / 128, -128), ("int8", "int8"), "output quantization"),
        ((0.1, 0), (1 / 256, -128), ("float32", "float32"), "only int8"),
        ((0.1, 0), (1 / 32768, 0), ("int16", "int16"), "only int8"),
        ((1e-10, 0), (1 / 256, -128), ("int8", "int8"), "too small"),
    ],
)
def test_lowering_refuses(in_quant, out_quant, dtypes, message):
    with pytest.raises(Unsupported, match=message):
        _lower(_graph((1, 8), in_quant, out_quant, dtypes))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
def test_builds_warning_free_for_cortex_m7(tmp_path):
    cmd = ["arm-none-eabi-gcc", *C_FLAGS, *ARM_FLAGS, *runtime_include_flags(), "-c",
           str(runtime_source("logistic_s8.c")), "-o", str(tmp_path / "logistic_s8.o")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
