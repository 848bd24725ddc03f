"""MAXIMUM, MINIMUM (int8, int16), SQUARED_DIFFERENCE (arithmetic/) and PRELU (activation/), int8, with broadcasting: C
against the NumPy reference, the reference against TFLite Micro and tflite-runtime BUILTIN_REF on single-op
models written by tflite_writer, and against the real-valued op. The graphs, shapes and quantizations come
from the ADD/MUL tests, whose broadcast machinery these kernels share.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.kernels import LOWERINGS, REFERENCES
from codegen.kernels.base import KernelCall, Unsupported
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import (
    Case,
    binary_graph,
    broadcast_shapes,
    dequant,
    quant_params,
    run_tflm,
)

OPS = ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU")


def lower(graph: Graph) -> list[KernelCall]:
    return [c for op in graph.operators for c in LOWERINGS[op.op_type](op, graph)]


def run_reference(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    env = dict(zip(graph.inputs, values, strict=True))
    for call in lower(graph):
        args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
        env[call.outputs[0]] = REFERENCES[call.kernel](call.params, *args)
    return np.asarray(env[graph.outputs[0]]).reshape(graph.tensor(graph.outputs[0]).shape)


def run_c(host_runtime, graph: Graph, values: list[np.ndarray], in_place: bool = False) -> np.ndarray:
    env = dict(zip(graph.inputs, values, strict=True))
    for call in lower(graph):
        out_t = graph.tensor(call.outputs[0])
        args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
        out = None
        if in_place:
            out = np.array(args[0], dtype=np.int8, copy=True).reshape(out_t.shape)
            args[0] = out
        env[call.outputs[0]] = host_runtime.run(call.kernel, call.params, args, out_t.shape, np.int8, out=out)
    return env[graph.outputs[0]]


def run_tflite_ref(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=write_tflite(graph), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    for d, v in zip(interp.get_input_details(), values, strict=True):
        interp.set_tensor(d["index"], v)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


@st.composite
def cases(draw, op_type: str, allow_const: bool = True):
    a_shape, b_shape, out_shape = draw(broadcast_shapes())
    quants = draw(quant_params())
    if op_type in ("MAXIMUM", "MINIMUM") and draw(st.booleans()):
        quants = (quants[2],) * 3  # the converter's case: one quantization for all three
    if op_type == "PRELU":
        (sa, za), (sb, zb), (so, zo) = quants
        so = sa * 10 ** draw(st.floats(-1, 1))  # keep both branches within reach of the output grid
        quants = ((sa, za), (10 ** draw(st.floats(-3, -1)), zb), (so, zo))
    if op_type == "SQUARED_DIFFERENCE":
        (sa, za), (sb, zb), (so, zo) = quants
        so = max(sa, sb) ** 2 * 10 ** draw(st.floats(1, 4))
        quants = ((sa, za), (sb, zb), (so, zo))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-128, 128, size=a_shape, dtype=np.int8)
    b = rng.integers(-128, 128, size=b_shape, dtype=np.int8)
    choices = ("none", "b") if op_type == "PRELU" else ("none", "a", "b")
    const = draw(st.sampled_from(choices)) if allow_const else "none"
    graph = binary_graph(op_type, a_shape, b_shape, out_shape, quants,
                         const_a=a if const == "a" else None, const_b=b if const == "b" else None)
    values = [v for v, c in ((a, const == "a"), (b, const == "b")) if not c]
    return Case(op_type, graph, values)


def real_result(case: Case) -> np.ndarray:
    a_t, b_t, y_t = case.graph.tensors
    vals = iter(case.values)
    a = dequant(a_t.data if a_t.is_const else next(vals), a_t)
    b = dequant(b_t.data if b_t.is_const else next(vals), b_t)
    real = {"SQUARED_DIFFERENCE": lambda: (a - b) ** 2, "PRELU": lambda: np.where(a >= 0, a, a * b)}[case.op_type]()
    return np.clip(np.round(real / y_t.scale) + y_t.zero_point, -128, 127)


# ---------------------------------------------------------------- C == NumPy


@pytest.mark.parametrize("op_type", OPS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_c_matches_reference(host_runtime, op_type, data):
    case = data.draw(cases(op_type))
    expected = run_reference(case.graph, case.values)
    np.testing.assert_array_equal(run_c(host_runtime, case.graph, case.values), expected)
    (call,) = lower(case.graph)
    if call.in_place:
        np.testing.assert_array_equal(run_c(host_runtime, case.graph, case.values, in_place=True), expected)
    if op_type in ("SQUARED_DIFFERENCE", "PRELU"):
        # TFLite's integer arithmetic stays within a couple of output steps of the real-valued op.
        assert np.abs(expected.astype(np.int64) - real_result(case)).max(initial=0) <= 2


# ---------------------------------------------------------------- NumPy == TFLite Micro == tflite-runtime


@pytest.mark.parametrize("op_type", OPS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_reference_matches_tflm_and_tflite(op_type, data):
    case = data.draw(cases(op_type))
    if not case.values:
        return
    ours = run_reference(case.graph, case.values)
    np.testing.assert_array_equal(ours, run_tflm(case.graph, case.values))
    a_t, _, y_t = case.graph.tensors
    if op_type == "PRELU" and a_t.shape != y_t.shape:
        return  # TFLite (not TFLM) refuses a PRELU whose input broadcasts against alpha
    np.testing.assert_array_equal(ours, run_tflite_ref(case.graph, case.values).reshape(ours.shape))


@pytest.mark.parametrize("op_type", ["MAXIMUM", "MINIMUM"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_int16_maximum_minimum_match_c_tflm_and_tflite(host_runtime, op_type, data):
    a_shape, b_shape, out_shape = data.draw(broadcast_shapes())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-(2**15), 2**15, size=a_shape, dtype=np.int16)
    b = rng.integers(-(2**15), 2**15, size=b_shape, dtype=np.int16)
    const = data.draw(st.sampled_from(["none", "a", "b"]))
    quants = ((0.001, 0),) * 3
    graph = binary_graph(op_type, a_shape, b_shape, out_shape, quants, dtype="int16",
                         const_a=a if const == "a" else None, const_b=b if const == "b" else None)
    values = [v for v, c in ((a, "a"), (b, "b")) if c != const]
    (call,) = lower(graph)
    assert call.kernel == op_type.lower() + "_s16"
    expected = (np.maximum if op_type == "MAXIMUM" else np.minimum)(a, b).reshape(out_shape)
    np.testing.assert_array_equal(run_reference(graph, values), expected)
    env = dict(zip(graph.inputs, values, strict=True))
    args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
    np.testing.assert_array_equal(host_runtime.run(call.kernel, call.params, args, out_shape, np.int16), expected)
    np.testing.assert_array_equal(np.asarray(run_tflm(graph, values)).reshape(out_shape), expected)
    np.testing.assert_array_equal(run_tflite_ref(graph, values).reshape(out_shape), expected)


def test_maximum_minimum_compare_raw_values_even_across_quantizations():
    """TFLM ignores the quantization of MAXIMUM/MINIMUM: so must we (not a requantizing max)."""
    quants = ((0.5, 10), (0.01, -20), (0.1, 0))
    a = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
    b = a.T.copy()
    for op_type, fn in (("MAXIMUM", np.maximum), ("MINIMUM", np.minimum)):
        graph = binary_graph(op_type, (16, 16), (16, 16), (16, 16), quants)
        ours = run_reference(graph, [a, b])
        np.testing.assert_array_equal(ours, fn(a, b))
        np.testing.assert_array_equal(ours, run_tflm(graph, [a, b]))


# ---------------------------------------------------------------- refusals


def test_prelu_with_constant_input_and_runtime_alpha_is_refused():
    x = np.zeros((2, 3), dtype=np.int8)
    graph = binary_graph("PRELU", (2, 3), (2, 3), (2, 3), ((0.1, 0), (0.01, 0), (0.1, 0)), const_a=x)
    with pytest.raises(Unsupported, match="constant input"):
        lower(graph)


@pytest.mark.parametrize("op_type", OPS)
def test_int16_and_non_broadcasting_shapes_are_refused(op_type):
    quants = ((0.1, 0), (0.1, 0), (0.1, 0))
    if op_type not in ("MAXIMUM", "MINIMUM"):
        with pytest.raises(Unsupported, match="int16"):
            lower(binary_graph(op_type, (2, 3), (2, 3), (2, 3), quants, dtype="int16"))
    with pytest.raises(Unsupported, match="do not broadcast"):
        lower(binary_graph(op_type, (2, 3), (3, 2), (2, 3), quants))
