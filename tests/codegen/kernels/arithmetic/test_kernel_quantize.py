"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE: C == NumPy over edge values, NumPy == TFLite.

Truth comes from two places: real models (tflite-runtime BUILTIN_REF intermediates and the TFLM golden
vectors) and single-op models written with codegen.frontend.tflite_writer, run by tflite-runtime and TFLite Micro.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.arithmetic import quantize
from codegen.kernels.arithmetic.quantize import (
    DequantizeParams,
    QuantizeParams,
    RequantizeParams,
    dequantize_s8_f32_ref,
    quantize_f32_s8_ref,
    requantize_s8_ref,
    round_half_away_f32,
)
from codegen.kernels.base import Unsupported
from codegen.kernels.fixedpoint import quantize_multiplier

LOWERINGS = quantize.LOWERINGS
REFERENCES = quantize.REFERENCES
ALL_S8 = np.arange(-128, 128, dtype=np.int8)
F32_MAX = float(np.finfo(np.float32).max)


def f32_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32)


scales = st.one_of(
    f32_floats(1e-6, 1e3),
    st.integers(-20, 8).map(lambda e: 2.0**e),  # exact quotients: real ties
)


def edge_floats(scale: float, rng: np.random.Generator) -> np.ndarray:
    """Values that stress the rounding and clamping: ties, their float neighbours, zeros, huge, tiny, specials."""
    s = np.float32(scale)
    k = np.arange(-140, 140, dtype=np.float32)
    ties = (k + np.float32(0.5)) * s
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))])
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, F32_MAX, -F32_MAX, 1e-45, -1e-45, 1e30, -1e30,
                         2.0**31, -(2.0**31), 0.49999997, -0.49999997, 0.5, -0.5, 1.5, -2.5], dtype=np.float32)
    with np.errstate(over="ignore"):
        specials = np.concatenate([specials, specials * s])
    noise = (rng.standard_normal(200) * rng.choice([1.0, 30.0, 300.0, 1e6], 200)).astype(np.float32) * s
    return np.concatenate([ties, near, specials, noise]).astype(np.float32)


def finite_in_range(x: np.ndarray, scale: float) -> np.ndarray:
    """Where TFLM's float -> int32 conversion is defined: |round(x / scale)| < 2^31."""
    with np.errstate(all="ignore"):
        q = x / np.float32(scale)
    return x[np.isfinite(q) & (np.abs(q) < 2.0**31 - 256)]


# ---------------------------------------------------------------- C == NumPy


@settings(max_examples=60, deadline=None)
@given(scale=scales, zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_quantize_f32_s8_matches_reference(host_runtime, scale, zp, seed):
    x = edge_floats(scale, np.random.default_rng(seed))
    p = QuantizeParams(x.size, scale, zp)
    expected = quantize_f32_s8_ref(p, x)
    got = host_runtime.run("quantize_f32_s8", p, [x], (x.size,), np.int8)
    np.testing.assert_array_equal(got, expected)


def test_quantize_reference_edge_values():
    """Hand-checked: half away from zero, the 0.49999997 trap, signed zero, saturation, NaN -> zero point."""
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 0.49999997, -0.49999997, -0.0, 1e30, -1e30, np.inf, -np.inf, np.nan,
                  126.5, 127.5, -127.5, -128.5], np.float32)
    got = quantize_f32_s8_ref(QuantizeParams(x.size, 1.0, 0), x)
    np.testing.assert_array_equal(got, [1, -1, 2, -2, 3, 0, 0, 0, 127, -128, 127, -128, 0, 127, 127, -128, -128])
    got = quantize_f32_s8_ref(QuantizeParams(3, 1.0, -100), np.array([np.nan, -28.5, -29.5], np.float32))
    np.testing.assert_array_equal(got, [-100, -128, -128])


@settings(max_examples=30, deadline=None)
@given(scale=scales, seed=st.integers(0, 2**31))
def test_round_half_away_against_exact_rationals(scale, seed):
    """The reference's rounding, checked against exact rational arithmetic on the float32 quotient."""
    x = finite_in_range(edge_floats(scale, np.random.default_rng(seed)), scale)
    q = x / np.float32(scale)
    got = round_half_away_f32(q)
    for qi, gi in zip(q.tolist(), got.tolist(), strict=True):
        f = Fraction(qi)
        exact = math.floor(abs(f) + Fraction(1, 2))
        assert gi == math.copysign(exact, qi), (qi, gi)


@settings(max_examples=60, deadline=None)
@given(
    in_scale=f32_floats(1e-4, 10.0),
    log_ratio=st.floats(-20.0, 6.0),
    in_zp=st.integers(-128, 127),
    out_zp=st.integers(-128, 127),
)
def test_requantize_s8_matches_reference(host_runtime, in_scale, log_ratio, in_zp, out_zp):
    out_scale = float(np.float32(in_scale / 2.0**log_ratio))
    p = quantize.requantize_params(256, in_scale, in_zp, out_scale, out_zp)
    assert (p.multiplier, p.shift) == quantize_multiplier(in_scale / out_scale)
    expected = requantize_s8_ref(p, ALL_S8)
    got = host_runtime.run("requantize_s8", p, [ALL_S8], (256,), np.int8)
    np.testing.assert_array_equal(got, expected)
    # Sanity of the reference itself: below one step from the real-valued result (TFLite rounds twice,
    # so 0.25 can become 1).
    real = np.clip((ALL_S8.astype(np.float64) - in_zp) * (in_scale / out_scale) + out_zp, -128, 127)
    assert np.abs(expected - real).max() < 1.0


def test_requantize_extreme_multipliers(host_runtime):
    """Large left shifts make TFLite's int32 arithmetic wrap; C must wrap the same way, without UB."""
    for mult, shift in [(2**31 - 1, 30), (2**30, 24), (1 << 30, -31), (1518500250, 7)]:
        for izp, ozp in [(-128, 127), (127, -128), (0, 0)]:
            p = RequantizeParams(256, mult, shift, izp, ozp)
            got = host_runtime.run("requantize_s8", p, [ALL_S8], (256,), np.int8)
            np.testing.assert_array_equal(got, requantize_s8_ref(p, ALL_S8))


def test_requantize_in_place(host_runtime):
    p = quantize.requantize_params(256, 0.02, 3, 0.05, -7)
    buf = ALL_S8.copy()
    host_runtime.run("requantize_s8", p, [buf], (256,), np.int8, out=buf)
    np.testing.assert_array_equal(buf, requantize_s8_ref(p, ALL_S8))


@settings(max_examples=60, deadline=None)
@given(
    scale=st.one_of(
        f32_floats(1e-30, 1e30),
        st.sampled_from([1.0, 2.0**-7, 0.1, 3.0e38, 1e-45]).map(lambda v: float(np.float32(v))),
    ),
    zp=st.integers(-128, 127),
)
def test_dequantize_s8_f32_matches_reference(host_runtime, scale, zp):
    p = DequantizeParams(256, scale, zp)
    expected = dequantize_s8_f32_ref(p, ALL_S8)
    got = host_runtime.run("dequantize_s8_f32", p, [ALL_S8], (256,), np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    # The reference is (float)(double(scale) * (q - zp)): check against Python's double arithmetic.
    with np.errstate(over="ignore"):
        independent = np.array([float(scale) * (int(v) - zp) for v in ALL_S8], np.float64).astype(np.float32)
    np.testing.assert_array_equal(expected.view(np.uint32), independent.view(np.uint32))


# ---------------------------------------------------------------- lowering


def single_op(op_type: str, x: Tensor, y: Tensor) -> Graph:
    return Graph([x, y], [Operator(0, op_type, (0,), (1,))], (0,), (1,))


def test_lowering_params():
    g = single_op("QUANTIZE", Tensor(0, "x", (1, 4), "float32"), Tensor(1, "y", (1, 4), "int8",
                                                                      Quantization((0.25,), (-5,))))
    (call,) = LOWERINGS["QUANTIZE"](g.operators[0], g)
    assert (call.kernel, call.params, call.in_place) == ("quantize_f32_s8", QuantizeParams(4, 0.25, -5), False)

    g = single_op("QUANTIZE", Tensor(0, "x", (6,), "int8", Quantization((0.5,), (1,))),
                  Tensor(1, "y", (6,), "int8", Quantization((0.125,), (-2,))))
    (call,) = LOWERINGS["QUANTIZE"](g.operators[0], g)
    mult, shift = quantize_multiplier(4.0)
    assert (call.kernel, call.params, call.in_place) == ("requantize_s8", RequantizeParams(6, mult, shift, 1, -2), True)

    g = single_op("DEQUANTIZE", Tensor(0, "x", (2, 5), "int8", Quantization((0.75,), (9,))),
                  Tensor(1, "y", (2, 5), "float32"))
    (call,) = LOWERINGS["DEQUANTIZE"](g.operators[0], g)
    assert (call.kernel, call.params) == ("dequantize_s8_f32", DequantizeParams(10, 0.75, 9))


@pytest.mark.parametrize(
    "op_type, x, y, message",
    [
        ("QUANTIZE", Tensor(0, "x", (2,), "int8", Quantization((1.0,), (0,))),
         Tensor(1, "y", (2,), "int8", Quantization((2.0**-31,), (0,))), "scale ratio 2.14748e\\+09"),
        ("QUANTIZE", Tensor(0, "x", (2,), "int16", Quantization((0.1,), (0,))),
         Tensor(1, "y", (2,), "int8", Quantization((0.1,), (0,))), "from int16 to int8"),
        ("QUANTIZE", Tensor(0, "x", (2,), "float32"), Tensor(1, "y", (2,), "int32", Quantization((0.1,), (0,))),
         "to int32"),
        ("QUANTIZE", Tensor(0, "x", (2,), "float32"),
         Tensor(1, "y", (2,), "int8", Quantization((0.1, 0.2), (0, 0))), "per-channel"),
        ("QUANTIZE", Tensor(0, "x", (2,), "float32"), Tensor(1, "y", (2,), "int8"), "no quantization"),
        ("QUANTIZE", Tensor(0, "x", (2,), "float32"), Tensor(1, "y", (2,), "int8", Quantization((0.0,), (0,))),
         "scale 0.0"),
        ("DEQUANTIZE", Tensor(0, "x", (2,), "int16", Quantization((0.1,), (0,))), Tensor(1, "y", (2,), "float32"),
         "from int16"),
    ],
)
def test_lowering_refusals(op_type, x, y, message):
    g = single_op(op_type, x, y)
    with pytest.raises(Unsupported, match=message):
        LOWERINGS[op_type](g.operators[0], g)


# ---------------------------------------------------------------- against TFLite: single-op models


def _runtimes(buf: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    from tflite_micro.python.tflite_micro import runtime
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=buf, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    micro = runtime.Interpreter.from_bytes(buf, arena_size=16 * x.nbytes + 65536)
    micro.set_input(x, 0)
    micro.invoke()
    return {"tflite": it.get_tensor(it.get_output_details()[0]["index"]), "tflm": micro.get_output(0)}


@pytest.fixture(scope="module")
def write_tflite():
    writer = pytest.importorskip("codegen.frontend.tflite_writer",
                                 reason="codegen.frontend.tflite_writer (model writer) is absent")
    return writer.write_tflite


@settings(max_examples=25, deadline=None)
@given(scale=scales, zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_quantize_f32_matches_tflite_and_tflm(write_tflite, host_runtime, scale, zp, seed):
    x = finite_in_range(edge_floats(scale, np.random.default_rng(seed)), scale)
    g = single_op("QUANTIZE", Tensor(0, "x", x.shape, "float32"), Tensor(1, "y", x.shape, "int8",
                                                                        Quantization((scale,), (zp,))))
    (call,) = LOWERINGS["QUANTIZE"](g.operators[0], g)
    ours = REFERENCES[call.kernel](call.params, x)
    for name, truth in _runtimes(write_tflite(g), x).items():
        np.testing.assert_array_equal(ours, truth, err_msg=name)
    np.testing.assert_array_equal(host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8), ours)


@settings(max_examples=25, deadline=None)
@given(
    in_scale=f32_floats(1e-4, 10.0),
    log_ratio=st.floats(-20.0, 6.0),
    in_zp=st.integers(-128, 127),
    out_zp=st.integers(-128, 127),
)
def test_requantize_matches_tflite_and_tflm(write_tflite, in_scale, log_ratio, in_zp, out_zp):
    out_scale = float(np.float32(in_scale / 2.0**log_ratio))
    g = single_op("QUANTIZE", Tensor(0, "x", (256,), "int8", Quantization((in_scale,), (in_zp,))),
                  Tensor(1, "y", (256,), "int8", Quantization((out_scale,), (out_zp,))))
    (call,) = LOWERINGS["QUANTIZE"](g.operators[0], g)
    ours = REFERENCES[call.kernel](call.params, ALL_S8)
    for name, truth in _runtimes(write_tflite(g), ALL_S8).items():
        np.testing.assert_array_equal(ours, truth, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(scale=f32_floats(1e-12, 1e12), zp=st.integers(-128, 127))
def test_dequantize_matches_tflite_and_tflm(write_tflite, scale, zp):
    g = single_op("DEQUANTIZE", Tensor(0, "x", (256,), "int8", Quantization((scale,), (zp,))),
                  Tensor(1, "y", (256,), "float32"))
    (call,) = LOWERINGS["DEQUANTIZE"](g.operators[0], g)
    ours = REFERENCES[call.kernel](call.params, ALL_S8)
    for name, truth in _runtimes(write_tflite(g), ALL_S8).items():
        np.testing.assert_array_equal(ours.view(np.uint32), truth.view(np.uint32), err_msg=name)


# ---------------------------------------------------------------- against TFLite: real models


@pytest.mark.parametrize(
    "model", ["tflm_test_conv_model", "tinyengine_mnist_lenet300_100", "tinyengine_mcunet_vww"]
)
def test_real_models_quantize_dequantize(shared_models, host_runtime, model):
    """Float-I/O models: QUANTIZE first, DEQUANTIZE (near the) last. Our kernels on the runtime's intermediate
    input give its intermediate output, and a DEQUANTIZE that is the graph output is the TFLM golden out0."""
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    path = shared_models / f"{model}.tflite"
    vectors = np.load(shared_models / "vectors" / f"{model}.npz")
    graph = read_tflite(path)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], vectors["in0"])
    it.invoke()
    seen = []
    for op in graph.operators:
        if op.op_type not in LOWERINGS:
            continue
        (call,) = LOWERINGS[op.op_type](op, graph)
        x = it.get_tensor(call.inputs[0])
        y = graph.tensor(op.outputs[0])
        truth = it.get_tensor(y.index)
        ours = REFERENCES[call.kernel](call.params, x).reshape(truth.shape)
        got = host_runtime.run(call.kernel, call.params, [x], y.shape, truth.dtype)
        np.testing.assert_array_equal(ours.view(np.uint8), truth.view(np.uint8))
        np.testing.assert_array_equal(got.view(np.uint8), truth.view(np.uint8))
        if op.op_type == "DEQUANTIZE" and y.index == graph.outputs[0]:
            np.testing.assert_array_equal(got.view(np.uint32), vectors["out0"].reshape(got.shape).view(np.uint32))
            seen.append("out0")
        seen.append(op.op_type)
    # LeNet's DEQUANTIZE feeds a float LOG_SOFTMAX, so only the other two end in it.
    ends_in_dequantize = model != "tinyengine_mnist_lenet300_100"
    assert seen == ["QUANTIZE"] + (["out0"] if ends_in_dequantize else []) + ["DEQUANTIZE"]
