"""SOFTMAX / LOG_SOFTMAX: C against the NumPy reference, and the reference against TFLite Micro.

Truth is TFLM (python runtime) and tflite-runtime with BUILTIN_REF kernels, on single-op models written here
and on the real models' SOFTMAX layers.
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import gemmlowp as gf
from codegen.kernels.activation import softmax
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint import INT32_MIN, multiply_by_quantized_multiplier
from codegen.paths import runtime_include_flags, runtime_source
from tools.host_runtime import HOST_CFLAGS

OUTPUT_QUANT = {"SOFTMAX": (1.0 / 256, -128), "LOG_SOFTMAX": (16.0 / 256, 127)}
KERNELS = {"SOFTMAX": "softmax_s8", "LOG_SOFTMAX": "log_softmax_s8"}
REFS = {"softmax_s8": softmax.softmax_s8_ref, "log_softmax_s8": softmax.log_softmax_s8_ref}
ARM_FLAGS = ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-O2"]
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


# ---------------------------------------------------------------------------------------------------------
# A one-operator .tflite writer (int8 in, int8 out), enough to run TFLM / tflite-runtime on swept parameters.


def single_op_model(op_type: str, shape: tuple[int, ...], in_quant: tuple[float, int] | None,
                    out_quant: tuple[float, int] | None, beta: float = 1.0, dtype: str = "int8") -> bytes:
    """A model with one input tensor, one `op_type` operator and one output tensor, all int8 (quantized)
    or all float32 (pass None quantization)."""

    def quant(q: tuple[float, int] | None) -> Quantization | None:
        return None if q is None else Quantization((float(np.float32(q[0])),), (int(q[1]),))

    tensors = [Tensor(0, "t0", tuple(shape), dtype, quant(in_quant)),
               Tensor(1, "t1", tuple(shape), dtype, quant(out_quant))]
    options = {"beta": float(beta)} if op_type == "SOFTMAX" else {}
    return write_tflite(Graph(tensors, [Operator(0, op_type, (0,), (1,), options)], (0,), (1,), name=op_type.lower()))


def run_tflm(model: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model, arena_size=64 * 1024 + 4 * x.size)
    interp.set_input(x, 0)
    interp.invoke()
    return interp.get_output(0)


def run_tflite_ref(model: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


# ---------------------------------------------------------------------------------------------------------


def _graph(op_type: str, shape: tuple[int, ...], in_quant: tuple[float, int], out_quant: tuple[float, int],
           beta: float = 1.0, dtypes: tuple[str, str] = ("int8", "int8")) -> Graph:
    tensors = [Tensor(i, f"t{i}", shape, dtype, Quantization((float(np.float32(s)),), (zp,)))
               for i, (dtype, (s, zp)) in enumerate(zip(dtypes, (in_quant, out_quant), strict=True))]
    options = {"beta": float(np.float32(beta))} if op_type == "SOFTMAX" else {}
    return Graph(tensors, [Operator(0, op_type, (0,), (1,), options)], (0,), (1,))


def _lower(graph: Graph) -> KernelCall:
    (call,) = softmax.LOWERINGS[graph.operators[0].op_type](graph.operators[0], graph)
    return call


def _input(rng: np.random.Generator, shape: tuple[int, ...], spread: int, peaks: int = 0,
           gap: int = 0) -> np.ndarray:
    """int8 data whose rows span about `spread` levels, so differences land on both sides of diff_min.

    With `peaks`, that many entries per row stand `gap` levels above the rest: long rows then still have
    a small sum of exps and outputs well above the lowest value.
    """
    centre = rng.integers(-128, 128)
    x = np.clip(centre + rng.integers(-spread, spread + 1, size=shape), -128, 127)
    if peaks:
        rows = x.reshape(-1, shape[-1])
        top = np.clip(rows.max(axis=1, keepdims=True) + gap, -128, 127)
        rows[:] = np.minimum(rows, top - gap)
        for row, high in zip(rows, top[:, 0], strict=True):
            row[rng.choice(len(row), size=min(peaks, len(row)), replace=False)] = high
    return x.astype(np.int8)


@st.composite
def softmax_cases(draw, op_type: str):
    rows = draw(st.integers(1, 4))
    depth = draw(st.integers(1, 1000))
    lead = draw(st.sampled_from([(), (1,), (1, 1)]))
    shape = (*lead, rows, depth) if rows > 1 or draw(st.booleans()) else (depth,)
    scale = float(np.float32(10.0 ** draw(st.floats(-3.0, 0.0))))
    zero_point = draw(st.integers(-128, 127))
    beta = draw(st.sampled_from([1.0, 1.0, 0.5, 2.0, 0.25, 7.5])) if op_type == "SOFTMAX" else 1.0
    spread = draw(st.sampled_from([0, 2, 8, 40, 128, 255]))
    peaks, gap = draw(st.sampled_from([(0, 0), (0, 0), (1, 30), (2, 8), (5, 60), (1, 255)]))
    x = _input(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), shape, spread, peaks, gap)
    graph = _graph(op_type, shape, (scale, zero_point), OUTPUT_QUANT[op_type], beta)
    return graph, x


def _check_c(host_runtime, call: KernelCall, x: np.ndarray) -> np.ndarray:
    expected = REFS[call.kernel](call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    assert call.in_place
    inplace = x.copy()
    host_runtime.run(call.kernel, call.params, [inplace], x.shape, np.int8, out=inplace)
    np.testing.assert_array_equal(inplace, expected)
    return expected


@settings(max_examples=80, deadline=None)
@given(softmax_cases("SOFTMAX"))
def test_softmax_s8_c_matches_reference(host_runtime, case):
    graph, x = case
    call = _lower(graph)
    expected = _check_c(host_runtime, call, x)
    # The reference itself: each row's maximum gets the largest output.
    rows = x.reshape(-1, x.shape[-1])
    out = expected.reshape(rows.shape)
    assert (out[np.arange(len(rows)), rows.argmax(axis=1)] == out.max(axis=1)).all()


@settings(max_examples=80, deadline=None)
@given(softmax_cases("LOG_SOFTMAX"))
def test_log_softmax_s8_c_matches_reference(host_runtime, case):
    graph, x = case
    call = _lower(graph)
    expected = _check_c(host_runtime, call, x)
    # log(p) <= 0 is the output zero point 127 at most, reached only by a row's maximum.
    rows = x.reshape(-1, x.shape[-1])
    out = expected.reshape(rows.shape)
    assert (out[np.arange(len(rows)), rows.argmax(axis=1)] == out.max(axis=1)).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(softmax_cases("SOFTMAX"))
def test_softmax_reference_matches_tflm(case):
    graph, x = case
    t_in, t_out = graph.tensors
    model = single_op_model("SOFTMAX", t_in.shape, (t_in.scale, t_in.zero_point),
                            (t_out.scale, t_out.zero_point), beta=graph.operators[0].options["beta"])
    parsed = parse_tflite(model)
    call = _lower(parsed)
    assert call.params == _lower(graph).params
    # TFLM aborts (TFLITE_CHECK) on rows whose sum of exps reaches 512: no truth to compare there.
    assume(not softmax.softmax_rows_beyond_tflm(call.params, x).any())
    expected = softmax.softmax_s8_ref(call.params, x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    np.testing.assert_array_equal(run_tflite_ref(model, x), expected)


@settings(max_examples=60, deadline=None)
@given(softmax_cases("LOG_SOFTMAX"))
def test_log_softmax_reference_matches_tflm(case):
    graph, x = case
    t_in, t_out = graph.tensors
    model = single_op_model("LOG_SOFTMAX", t_in.shape, (t_in.scale, t_in.zero_point),
                            (t_out.scale, t_out.zero_point))
    call = _lower(parse_tflite(model))
    assert call.params == _lower(graph).params
    expected = softmax.log_softmax_s8_ref(call.params, x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    np.testing.assert_array_equal(run_tflite_ref(model, x), expected)


@pytest.mark.parametrize(
    "op_type,scale,beta,depth",
    [
        ("SOFTMAX", 1.0, 1000.0, 7),  # multiplier capped at 2^31 - 1: diff_min = 0, one-hot rows
        ("SOFTMAX", 0.001, 1.0, 1),
        ("SOFTMAX", 0.0625, 1.0, 511),  # flat rows: sum of exps just under 512
        ("SOFTMAX", 1e-3, 0.05, 64),  # small beta * scale: every difference passes diff_min
        ("LOG_SOFTMAX", 1.0, 1.0, 1000),
        ("LOG_SOFTMAX", 0.001, 1.0, 1),
        ("LOG_SOFTMAX", 8.0, 1.0, 33),  # large scale: tiny diff_min, most outputs saturate
    ],
)
def test_edge_parameters_match_tflm(host_runtime, op_type, scale, beta, depth):
    rng = np.random.default_rng(depth)
    shape = (3, depth)
    x = np.stack([np.full(depth, 5, np.int8), rng.integers(-128, 128, depth, dtype=np.int8),
                  _input(rng, (depth,), 3)])
    model = single_op_model(op_type, shape, (scale, -3), OUTPUT_QUANT[op_type], beta=beta)
    call = _lower(parse_tflite(model))
    expected = _check_c(host_runtime, call, x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    np.testing.assert_array_equal(run_tflite_ref(model, x), expected)


@pytest.mark.parametrize("scale,depth,count", [(0.11692139506340027, 714, 445), (3.41330885887146, 650, 593),
                                               (0.9677208065986633, 505, 171)])
def test_log_softmax_element_exactly_at_adjusted_diff_min(host_runtime, scale, depth, count):
    """`count` maxima make log(sum) large, so TFLite's adjusted_diff_min (from the reverse scaling) decides:
    an element exactly at it must give -128 (its rescaled value minus log(sum) would wrap past INT32_MIN)."""
    model = single_op_model("LOG_SOFTMAX", (1, depth), (scale, 0), OUTPUT_QUANT["LOG_SOFTMAX"])
    p = _lower(parse_tflite(model)).params

    def adjusted_diff_min(x: np.ndarray) -> int:
        _, _, _, sums = softmax._rows_and_exps(1, depth, p.input_multiplier, p.input_left_shift,
                                               p.diff_min, x)
        log_sum = gf.log_x_for_x_greater_than_or_equal_to_1(sums, 12, 5)
        bound = multiply_by_quantized_multiplier(gf.wrap32(log_sum + INT32_MIN), p.reverse_scaling_divisor,
                                                 -p.reverse_scaling_right_shift)
        return int(max(p.diff_min - 1, int(bound[0])))

    x = np.full((1, depth), -128, np.int8)
    x[0, :count] = 127
    boundary = adjusted_diff_min(x)
    x[0, -1] = 127 + boundary
    assert adjusted_diff_min(x) == boundary  # the extra element leaves the sum unchanged
    expected = _check_c(host_runtime, call=_lower(parse_tflite(model)), x=x)
    np.testing.assert_array_equal(run_tflm(model, x), expected)
    assert expected[0, -1] == -128


def test_softmax_rows_tflm_aborts_on_give_lowest_output(host_runtime):
    """A flat row of 600 sums to 600 >= 512: TFLM aborts, the kernel outputs -128 (1/600 rounds to 0)."""
    graph = _graph("SOFTMAX", (2, 600), (0.01, 0), OUTPUT_QUANT["SOFTMAX"])
    call = _lower(graph)
    x = np.zeros((2, 600), np.int8)
    x[1, 0] = 127  # one dominant entry keeps the second row's sum small
    assert softmax.softmax_rows_beyond_tflm(call.params, x).tolist() == [True, False]
    out = _check_c(host_runtime, call, x)
    assert (out[0] == -128).all()
    assert out[1, 0] > out[1, 1]


def test_diff_min_and_multiplier_follow_tflite_prepare():
    # beta * scale * 2^26 = 2^25 -> multiplier 2^30, shift 26; radius floor(31 * 2^26 / 2^26) = 31.
    p = _lower(_graph("SOFTMAX", (1, 4), (0.5, 0), OUTPUT_QUANT["SOFTMAX"])).params
    assert (p.input_multiplier, p.input_left_shift, p.diff_min) == (1 << 30, 26, -31)
    # Capped: beta * scale * 2^26 >= 2^31 - 1 gives the mantissa of 2^31 - 1 and shift 31.
    p = _lower(_graph("SOFTMAX", (1, 4), (1.0, 0), OUTPUT_QUANT["SOFTMAX"], beta=64.0)).params
    assert (p.input_multiplier, p.input_left_shift, p.diff_min) == (2**31 - 1, 31, 0)
    # Log-softmax reverse scaling: 2^(31 - shift) / multiplier, as a mantissa and a right shift.
    call = _lower(_graph("LOG_SOFTMAX", (1, 4), (0.5, 0), OUTPUT_QUANT["LOG_SOFTMAX"]))
    p = call.params
    real = 2.0 ** (31 - p.input_left_shift) / p.input_multiplier
    assert math.isclose(p.reverse_scaling_divisor * 2.0 ** (-31 - p.reverse_scaling_right_shift), real,
                        rel_tol=1e-9)


def exact_frexp(r: Fraction) -> tuple[Fraction, int]:
    """r = m * 2^e with m in [1/2, 1), in exact rational arithmetic."""
    e = r.numerator.bit_length() - r.denominator.bit_length()
    while r / Fraction(2) ** e >= 1:
        e += 1
    while r / Fraction(2) ** e < Fraction(1, 2):
        e -= 1
    return r / Fraction(2) ** e, e


def exact_quantize_multiplier(r: Fraction) -> tuple[int, int]:
    """QuantizeMultiplier on an exact positive rational: round half up (away from zero), renormalise."""
    m, e = exact_frexp(r)
    q = math.floor(m * 2**31 + Fraction(1, 2))
    return (q // 2, e + 1) if q == 2**31 else (q, e)


@settings(max_examples=200, deadline=None)
@given(st.floats(2.0**-14, 2.0, width=32), st.floats(2.0**-7, 128.0, width=32),
       st.sampled_from(list(OUTPUT_QUANT)))
def test_prepare_matches_exact_arithmetic(scale, beta, op_type):
    """float32 beta * float32 scale is exact in double, so TFLite's Prepare equals exact rational math."""
    if op_type == "LOG_SOFTMAX":
        beta = 1.0
    graph = _graph(op_type, (1, 4), (scale, 0), OUTPUT_QUANT[op_type], beta)
    try:
        p = _lower(graph).params
    except Unsupported:
        assert Fraction(beta) * Fraction(scale) * 2**26 <= 1
        return
    real = min(Fraction(beta) * Fraction(scale) * 2**26, Fraction(2**31 - 1))
    assert (p.input_multiplier, p.input_left_shift) == exact_quantize_multiplier(real)
    assert p.diff_min == -math.floor(Fraction(31 * 2**26, 2**p.input_left_shift))
    if op_type == "LOG_SOFTMAX":
        # A double division (correctly rounded, as Fraction -> float is), then QuantizeMultiplier.
        reverse = Fraction(float(Fraction(2 ** (31 - p.input_left_shift), p.input_multiplier)))
        divisor, shift = exact_quantize_multiplier(reverse)
        assert (p.reverse_scaling_divisor, p.reverse_scaling_right_shift) == (divisor, -shift)


@pytest.mark.parametrize(
    "op_type,shape,in_quant,out_quant,dtypes,beta,message",
    [
        ("SOFTMAX", (1, 10), (0.1, 0), (1 / 128, -128), ("int8", "int8"), 1.0, "output quantization"),
        ("SOFTMAX", (1, 10), (0.1, 0), (1 / 256, 0), ("int8", "int8"), 1.0, "output quantization"),
        ("SOFTMAX", (1, 10), (0.1, 0), (1 / 65536, -32768), ("int8", "int16"), 1.0, "only int8"),
        ("SOFTMAX", (1, 10), (0.1, 0), (1 / 256, -128), ("float32", "float32"), 1.0, "only int8"),
        ("SOFTMAX", (1, 10), (1e-9, 0), (1 / 256, -128), ("int8", "int8"), 1.0, "too small"),
        ("SOFTMAX", (1, 10), (0.1, 0), (1 / 256, -128), ("int8", "int8"), -1.0, "too small"),
        ("SOFTMAX", (1, 9000), (0.1, 0), (1 / 256, -128), ("int8", "int8"), 1.0, "rows of 9000"),
        ("LOG_SOFTMAX", (1, 10), (0.1, 0), (1 / 256, -128), ("int8", "int8"), 1.0, "output quantization"),
        ("LOG_SOFTMAX", (1, 4096), (0.1, 0), (1 / 16, 127), ("int8", "int8"), 1.0, "rows of 4096"),
    ],
)
def test_lowering_refuses(op_type, shape, in_quant, out_quant, dtypes, beta, message):
    graph = _graph(op_type, shape, in_quant, out_quant, beta, dtypes)
    with pytest.raises(Unsupported, match=message):
        _lower(graph)


# ---------------------------------------------------------------------------------------------------------
# Real models.

SOFTMAX_MODELS = ["tflm_micro_speech_quantized", "mlperf_ic_resnet8_int8", "mlperf_vww_96_int8",
                  "mlperf_ic_resnet_large_int8"]


def _run_preserving(path: Path, x: np.ndarray):
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], x.reshape(detail["shape"]).astype(detail["dtype"]))
    interp.invoke()
    return interp


@pytest.mark.parametrize("name", SOFTMAX_MODELS)
def test_real_model_softmax(shared_models, host_runtime, name):
    path = shared_models / f"{name}.tflite"
    graph = read_tflite(path)
    vectors = np.load(shared_models / "vectors" / f"{name}.npz")
    interp = _run_preserving(path, vectors["in0"])
    ops = [op for op in graph.operators if op.op_type == "SOFTMAX"]
    assert ops, f"{name} has no SOFTMAX"
    for op in ops:
        (call,) = softmax.LOWERINGS["SOFTMAX"](op, graph)
        x = interp.get_tensor(op.inputs[0])
        truth = interp.get_tensor(op.outputs[0])
        np.testing.assert_array_equal(softmax.softmax_s8_ref(call.params, x), truth)
        got = host_runtime.run(call.kernel, call.params, [x], x.shape, np.int8)
        np.testing.assert_array_equal(got, truth)
        if op.outputs[0] == graph.outputs[0]:
            np.testing.assert_array_equal(truth, vectors["out0"].reshape(truth.shape))


def _lenet(shared_models: Path):
    name = "tinyengine_mnist_lenet300_100"
    path = shared_models / f"{name}.tflite"
    graph = read_tflite(path)
    (op,) = [o for o in graph.operators if o.op_type == "LOG_SOFTMAX"]
    vectors = np.load(shared_models / "vectors" / f"{name}.npz")
    return graph, op, vectors, _run_preserving(path, vectors["in0"])


def _glibc(name: str) -> np.ufunc:
    """The C library's expf / logf: what TFLM's float kernels call (std::exp / std::log) on this host."""
    fn = getattr(ctypes.CDLL("libm.so.6"), name)
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float]
    return np.frompyfunc(fn, 1, 1)


def _log_softmax_f32_with(x: np.ndarray, expf, logf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLM's float LogSoftmax order of operations with the given exp / log: (output, exps, log of sums)."""
    rows = np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
    diff = rows - rows.max(axis=1, keepdims=True)
    exps = expf(diff).astype(np.float32)
    total = np.zeros(rows.shape[0], dtype=np.float32)
    for c in range(rows.shape[1]):
        total = total + exps[:, c]
    log_sum = logf(total).astype(np.float32)
    return (diff - log_sum[:, None]).reshape(x.shape), exps, log_sum


def test_real_model_lenet_float_log_softmax(shared_models, host_runtime):
    """lenet-300-100 dequantizes its logits and runs LOG_SOFTMAX in float32. TFLM's output is glibc's
    expf/logf in TFLM's order; ours (C == reference) is the same order with correctly rounded exp/log. They
    differ in one element, by one ulp: glibc's logf of this row's sum is not correctly rounded
    (tests/codegen/kernels/test_float_math.py checks against exact math)."""
    graph, op, vectors, interp = _lenet(shared_models)
    (call,) = softmax.LOWERINGS["LOG_SOFTMAX"](op, graph)
    assert call.kernel == "log_softmax_f32"
    x = interp.get_tensor(op.inputs[0])
    truth = interp.get_tensor(op.outputs[0])
    np.testing.assert_array_equal(truth, vectors["out0"].reshape(truth.shape))
    ours = softmax.log_softmax_f32_ref(call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], x.shape, np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), ours.view(np.uint32))
    glibc_out, glibc_exps, glibc_log = _log_softmax_f32_with(x, _glibc("expf"), _glibc("logf"))
    np.testing.assert_array_equal(glibc_out.view(np.uint32), truth.view(np.uint32))
    mcu_out, mcu_exps, mcu_log = _log_softmax_f32_with(x, np.frompyfunc(softmax.mcu_expf, 1, 1),
                                                       np.frompyfunc(softmax.mcu_logf, 1, 1))
    np.testing.assert_array_equal(mcu_out.view(np.uint32), ours.view(np.uint32))
    np.testing.assert_array_equal(mcu_exps.view(np.uint32), glibc_exps.view(np.uint32))
    assert abs(int(mcu_log.view(np.int32)[0]) - int(glibc_log.view(np.int32)[0])) == 1
    differ = np.flatnonzero(ours.view(np.uint32) != truth.view(np.uint32))
    np.testing.assert_array_equal(differ, [np.argmax(x)])  # the row maximum, whose output is -log(sum)


def test_real_model_lenet_logits_through_int8_log_softmax(shared_models, host_runtime):
    """On lenet's real int8 logits (the DEQUANTIZE input), the int8 kernel, run as TFLM would run a quantized
    LOG_SOFTMAX, agrees with TFLM and with the model's float log-softmax to within one output step wherever
    the int8 output can represent it."""
    graph, op, _, interp = _lenet(shared_models)
    (deq,) = [o for o in graph.operators if o.op_type == "DEQUANTIZE" and o.outputs[0] == op.inputs[0]]
    logits_t = graph.tensor(deq.inputs[0])
    logits = interp.get_tensor(logits_t.index)
    float_out = interp.get_tensor(op.outputs[0])
    in_quant = (logits_t.scale, logits_t.zero_point)
    call = _lower(_graph("LOG_SOFTMAX", logits.shape, in_quant, OUTPUT_QUANT["LOG_SOFTMAX"]))
    q = _check_c(host_runtime, call, logits)
    model = single_op_model("LOG_SOFTMAX", logits.shape, in_quant, OUTPUT_QUANT["LOG_SOFTMAX"])
    np.testing.assert_array_equal(run_tflm(model, logits), q)
    deq_out = (q.astype(np.float64) - 127) / 16
    representable = float_out > -15.0
    assert representable.any()
    assert np.abs(deq_out - float_out)[representable].max() <= 1 / 16
    assert (q[~representable] <= 127 - 15 * 16 + 1).all()


@st.composite
def float_cases(draw):
    rows = draw(st.integers(1, 4))
    depth = draw(st.integers(1, 1000))
    shape = (rows, depth) if rows > 1 or draw(st.booleans()) else (depth,)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.floats(-3.0, 2.0))
    x = (rng.standard_normal(shape) * scale + rng.uniform(-50, 50)).astype(np.float32)
    return x


@settings(max_examples=40, deadline=None)
@given(float_cases())
def test_log_softmax_f32_c_reference_and_tflm_agree(host_runtime, x):
    """C == reference bit for bit. TFLM (glibc's expf/logf) equals it on every row where glibc's results equal
    ours (correctly rounded); on the others, within a few ulps."""
    model = single_op_model("LOG_SOFTMAX", x.shape, None, None, dtype="float32")
    call = _lower(parse_tflite(model))
    assert call.kernel == "log_softmax_f32" and call.in_place
    expected = softmax.log_softmax_f32_ref(call.params, x)
    got = host_runtime.run(call.kernel, call.params, [x], x.shape, np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    inplace = x.copy()
    host_runtime.run(call.kernel, call.params, [inplace], x.shape, np.float32, out=inplace)
    np.testing.assert_array_equal(inplace.view(np.uint32), expected.view(np.uint32))
    tflm = run_tflm(model, x)
    np.testing.assert_array_equal(run_tflite_ref(model, x), tflm)
    glibc_out, glibc_exps, glibc_log = _log_softmax_f32_with(x, _glibc("expf"), _glibc("logf"))
    np.testing.assert_array_equal(glibc_out, tflm)
    mcu_out, mcu_exps, mcu_log = _log_softmax_f32_with(x, np.frompyfunc(softmax.mcu_expf, 1, 1),
                                                       np.frompyfunc(softmax.mcu_logf, 1, 1))
    np.testing.assert_array_equal(mcu_out.view(np.uint32), expected.view(np.uint32))
    same_libm = (mcu_exps == glibc_exps).all(axis=1) & (mcu_log == glibc_log)
    rows, tflm_rows = expected.reshape(len(same_libm), -1), tflm.reshape(len(same_libm), -1)
    np.testing.assert_array_equal(rows[same_libm], tflm_rows[same_libm])
    # Elsewhere: one ulp of an exp moves the sum by about an ulp, hence log(sum) by about an ulp of the sum.
    tol = 4 * np.spacing(np.abs(rows).max(axis=1, keepdims=True) + np.float32(1))
    assert (np.abs(rows - tflm_rows) <= tol).all()
    # The reference itself: close to log-softmax in double precision.
    exact = x.astype(np.float64).reshape(-1, x.shape[-1])
    exact = exact - exact.max(axis=1, keepdims=True)
    exact -= np.log(np.exp(exact).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(expected.reshape(exact.shape), exact, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# The fixed-point building blocks and the Cortex-M build.


def test_gemmlowp_functions_approximate_the_real_functions():
    rng = np.random.default_rng(0)
    a = -rng.integers(0, 2**31, 20000)
    for bits in (4, 5):
        got = gf.exp_on_negative_values(a, bits) / 2**31
        assert np.abs(got - np.exp(a / 2 ** (31 - bits))).max() < 1e-6
    x = rng.integers(0, 2**31, 20000)
    assert np.abs(gf.one_over_one_plus_x_for_x_in_0_1(x) / 2**31 - 1 / (1 + x / 2**31)).max() < 1e-8
    s = rng.integers(2**19, 2**31, 20000)
    log = gf.log_x_for_x_greater_than_or_equal_to_1(s, 12, 5) / 2**26
    assert np.abs(log - np.log(s / 2**19)).max() < 1e-6
    recip, bits_over_unit = gf.get_reciprocal(s, 12)
    assert np.abs(recip / 2**31 * 2.0 ** (-bits_over_unit) - 2**19 / s).max() < 1e-8
    a = rng.integers(-(2**31), 2**31, 20000)
    assert np.abs(gf.logistic(a, 4) / 2**31 - 1 / (1 + np.exp(-a / 2**27))).max() < 1e-6
    assert gf.clz32(np.array([0, 1, 2**31 - 1, -1, 2**19])).tolist() == [32, 31, 1, 0, 12]


def test_gemmlowp_constants_are_the_rounded_reals():
    """gemmlowp checks each constant against round(real * 2^fractional_bits); so does this."""
    def q(value: float, fractional_bits: int = 31) -> int:
        return round(value * 2**fractional_bits)

    r4 = math.sqrt(math.sqrt(2.0))
    table = [
        (gf.EXP_MINUS_ONE_EIGHTH, q(math.exp(-1 / 8))),
        (gf.ONE_THIRD, q(1 / 3)),
        *[(m, q(math.exp(-(2.0**e)))) for e, m in gf.EXP_BARREL],
        (gf.FORTY_EIGHT_OVER_17, q(48 / 17, 29)),
        (gf.MINUS_THIRTY_TWO_OVER_17, q(-32 / 17, 29)),
        (gf.LOG_2, q(math.log(2))),
        (gf.SQRT_SQRT_HALF, q(math.sqrt(math.sqrt(0.5)))),
        (gf.SQRT_HALF, q(math.sqrt(0.5))),
        (gf.ONE_QUARTER, q(0.25)),
        (gf.ALPHA_N, q(11 / 240 * r4)),
        (gf.ALPHA_D, q(r4 / 20)),
        (gf.ALPHA_I, q(2 / r4 - r4)),
        (gf.ALPHA_F, q(r4 / 4)),
    ]
    assert [constant for constant, _ in table] == [rounded for _, rounded in table]


_SHIM = r"""
#include "fixedpoint_exp.h"
void t_exp(const int32_t *a, int32_t *out, int32_t n, int32_t bits)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_exp_on_negative_values(a[i], bits); }
void t_one_over(const int32_t *a, int32_t *out, int32_t n)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_one_over_one_plus_x_for_x_in_0_1(a[i]); }
void t_logistic(const int32_t *a, int32_t *out, int32_t n, int32_t bits)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_logistic(a[i], bits); }
void t_log(const int32_t *a, int32_t *out, int32_t n, int32_t in_bits, int32_t out_bits)
{
    for (int32_t i = 0; i < n; ++i)
        out[i] = fp_log_x_for_x_greater_than_or_equal_to_1(a[i], in_bits, out_bits);
}
void t_reciprocal(const uint32_t *a, int32_t *out, int32_t *bits, int32_t n, int32_t integer_bits)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_get_reciprocal(a[i], integer_bits, &bits[i]); }
void t_half_sum(const int32_t *a, const int32_t *b, int32_t *out, int32_t n)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_rounding_half_sum(a[i], b[i]); }
void t_shift(const int32_t *a, const int32_t *e, int32_t *out, int32_t n)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_saturating_left_shift(a[i], e[i]); }
void t_clz(const uint32_t *a, int32_t *out, int32_t n)
{ for (int32_t i = 0; i < n; ++i) out[i] = fp_clz32(a[i]); }
"""


@pytest.fixture(scope="module")
def fixedpoint_shim(tmp_path_factory) -> ctypes.CDLL:
    """fixedpoint_exp.h's static inline functions, wrapped over arrays in a throwaway host library."""
    out = tmp_path_factory.mktemp("fixedpoint_shim")
    (out / "shim.c").write_text(_SHIM)
    cmd = ["gcc", *HOST_CFLAGS, *runtime_include_flags(), str(out / "shim.c"), "-o", str(out / "shim.so")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(out / "shim.so"))


def _call(lib: ctypes.CDLL, name: str, arrays: list[np.ndarray], *scalars: int,
          outputs: int = 1) -> list[np.ndarray]:
    arrays = [np.ascontiguousarray(a) for a in arrays]
    outs = [np.zeros(len(arrays[0]), np.int32) for _ in range(outputs)]
    ptrs = [ctypes.c_void_p(a.ctypes.data) for a in arrays + outs]
    getattr(lib, name)(*ptrs, ctypes.c_int32(len(arrays[0])), *map(ctypes.c_int32, scalars))
    return outs


def test_fixedpoint_c_matches_numpy_bit_for_bit(fixedpoint_shim):
    lib = fixedpoint_shim
    rng = np.random.default_rng(7)
    edges = np.array([INT32_MIN, INT32_MIN + 1, -(2**30), -1, 0, 1, 2**30, 2**31 - 1], np.int64)
    anything = np.concatenate([edges, rng.integers(INT32_MIN, 2**31, 50000),
                               rng.integers(-(2**12), 2**12, 5000)]).astype(np.int32)
    magnitude = np.abs(anything.astype(np.int64))
    negative = (-magnitude).astype(np.int32)  # exp's domain, down to INT32_MIN
    positive = magnitude.clip(1, 2**31 - 1).astype(np.int32)  # log's domain
    for bits in (1, 2, 3, 4, 5):
        np.testing.assert_array_equal(_call(lib, "t_exp", [negative], bits)[0],
                                      gf.exp_on_negative_values(negative, bits))
        np.testing.assert_array_equal(_call(lib, "t_logistic", [anything], bits)[0],
                                      gf.logistic(anything, bits))
    np.testing.assert_array_equal(_call(lib, "t_one_over", [anything])[0],
                                  gf.one_over_one_plus_x_for_x_in_0_1(anything))
    for in_bits, out_bits in ((12, 5), (5, 3), (1, 1), (30, 5)):
        np.testing.assert_array_equal(_call(lib, "t_log", [positive], in_bits, out_bits)[0],
                                      gf.log_x_for_x_greater_than_or_equal_to_1(positive, in_bits, out_bits))
    unsigned = np.concatenate([[1, 2**19, 2**28 - 1, 2**28, 2**31, 2**32 - 1],
                               rng.integers(1, 2**32, 20000)]).astype(np.uint32)
    recip, bits = _call(lib, "t_reciprocal", [unsigned], 12, outputs=2)
    want_recip, want_bits = gf.get_reciprocal(unsigned.astype(np.int64), 12)
    np.testing.assert_array_equal(recip, want_recip)
    np.testing.assert_array_equal(bits, want_bits)
    other = np.roll(anything, 1)
    np.testing.assert_array_equal(_call(lib, "t_half_sum", [anything, other])[0],
                                  gf.rounding_half_sum(anything, other))
    exponents = rng.integers(0, 32, len(anything)).astype(np.int32)
    np.testing.assert_array_equal(_call(lib, "t_shift", [anything, exponents])[0],
                                  gf.saturating_left_shift(anything, exponents))
    np.testing.assert_array_equal(_call(lib, "t_clz", [unsigned])[0], gf.clz32(unsigned.astype(np.int64)))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
def test_builds_warning_free_for_cortex_m7(tmp_path):
    cmd = ["arm-none-eabi-gcc", *C_FLAGS, *ARM_FLAGS, *runtime_include_flags(), "-c",
           str(runtime_source("softmax_s8.c")), "-o", str(tmp_path / "softmax_s8.o")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
