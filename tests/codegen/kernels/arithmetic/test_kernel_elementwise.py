"""ADD / MUL int8: C against the NumPy reference, the reference against TFLite Micro, and real models.

Each case is a one-op IR graph, lowered with the family's own LOWERINGS, so the quantization parameter
derivation is under test too. The TFLite Micro comparisons write the same graph with codegen.frontend.tflite_writer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.arithmetic import elementwise
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


@dataclass
class Case:
    op_type: str
    graph: Graph
    values: list[np.ndarray]  # one per non-constant graph input, in graph.inputs order


def _f32(x: float) -> float:
    return float(np.float32(x))


def binary_graph(
    op_type: str, shape_a, shape_b, shape_out, quants, activation="NONE", const_a=None, const_b=None, dtype="int8"
) -> Graph:
    """One ADD/MUL: tensors 0 and 1 are the operands (constant when data is given), 2 the output."""
    (sa, za), (sb, zb), (so, zo) = quants
    tensors = [
        Tensor(0, "a", tuple(shape_a), dtype, Quantization((_f32(sa),), (za,)), const_a),
        Tensor(1, "b", tuple(shape_b), dtype, Quantization((_f32(sb),), (zb,)), const_b),
        Tensor(2, "y", tuple(shape_out), dtype, Quantization((_f32(so),), (zo,))),
    ]
    inputs = tuple(t.index for t in tensors[:2] if not t.is_const) or ()
    op = Operator(0, op_type, (0, 1), (2,), {"activation": activation})
    return Graph(tensors, [op], inputs, (2,), name=f"{op_type.lower()}_case")


def lower(graph: Graph) -> list[KernelCall]:
    return [c for op in graph.operators for c in elementwise.LOWERINGS[op.op_type](op, graph)]


def run_reference(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    env = dict(zip(graph.inputs, values, strict=True))
    for call in lower(graph):
        args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
        env[call.outputs[0]] = elementwise.REFERENCES[call.kernel](call.params, *args)
    return np.asarray(env[graph.outputs[0]]).reshape(graph.tensor(graph.outputs[0]).shape)


def run_c(host_runtime, graph: Graph, values: list[np.ndarray], in_place: bool = False) -> np.ndarray:
    env = dict(zip(graph.inputs, values, strict=True))
    for call in lower(graph):
        out_t = graph.tensor(call.outputs[0])
        args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
        out = None
        if in_place:
            assert call.in_place
            out = np.array(args[0], dtype=np.int8, copy=True).reshape(out_t.shape)
            args[0] = out  # the kernel reads and writes the very same buffer
        env[call.outputs[0]] = host_runtime.run(call.kernel, call.params, args, out_t.shape, np.int8, out=out)
    return env[graph.outputs[0]]


def run_tflm(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    writer = pytest.importorskip("codegen.frontend.tflite_writer")
    from tflite_micro.python.tflite_micro import runtime

    arena = 16384 + 4 * sum(t.nbytes for t in graph.tensors)  # the default sizes from the file length
    interp = runtime.Interpreter.from_bytes(writer.write_tflite(graph), arena_size=arena)
    for i, v in enumerate(values):
        interp.set_input(v, i)
    interp.invoke()
    return interp.get_output(0)


# ---------------------------------------------------------------- strategies


@st.composite
def broadcast_shapes(draw):
    """An output shape of rank 0..4 and two operand shapes that broadcast to it (NumPy rules)."""
    rank = draw(st.integers(0, 4))
    out = tuple(draw(st.integers(1, 5)) for _ in range(rank))

    def operand():
        r = draw(st.integers(0, rank))
        tail = out[rank - r :]
        return tuple(d if draw(st.booleans()) else 1 for d in tail)

    a = operand() if draw(st.booleans()) else out  # the same-shape (flat loop) case is common: favour it
    b = operand() if draw(st.booleans()) else out
    if tuple(np.broadcast_shapes(a, b)) != out:  # the operands may not cover a dim: let one of them span it
        a = tuple(np.broadcast_shapes(a, out))
    return a, b, out


@st.composite
def quant_params(draw):
    """Scales with input/output ratios spanning 1e-3..1e3, any zero points."""
    so = 10 ** draw(st.floats(-3, 0))
    sa = so * 10 ** draw(st.floats(-3, 3))
    sb = so * 10 ** draw(st.floats(-3, 3))
    zps = [draw(st.integers(-128, 127)) for _ in range(3)]
    return ((sa, zps[0]), (sb, zps[1]), (so, zps[2]))


@st.composite
def cases(draw, op_type: str, allow_const: bool = True):
    a_shape, b_shape, out_shape = draw(broadcast_shapes())
    quants = draw(quant_params())
    if op_type == "MUL":
        # Keep the product scale within reach of the output so outputs are not all saturated.
        (sa, za), (sb, zb), (so, zo) = quants
        so = sa * sb * 10 ** draw(st.floats(-3, 2)) * 128
        # Floor: TFLM refuses fused activations whose bounds overflow int32 at absurdly small scales.
        so = max(so, 1e-6)
        quants = ((sa, za), (sb, zb), (so, zo))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-128, 128, size=a_shape, dtype=np.int8)
    b = rng.integers(-128, 128, size=b_shape, dtype=np.int8)
    const = draw(st.sampled_from(("none", "a", "b", "both"))) if allow_const else "none"
    graph = binary_graph(
        op_type,
        a_shape,
        b_shape,
        out_shape,
        quants,
        draw(st.sampled_from(ACTIVATIONS)),
        const_a=a if const in ("a", "both") else None,
        const_b=b if const in ("b", "both") else None,
    )
    values = [v for v, c in ((a, const in ("a", "both")), (b, const in ("b", "both"))) if not c]
    return Case(op_type, graph, values)


def dequant(q: np.ndarray, t: Tensor) -> np.ndarray:
    return (q.astype(np.float64) - t.zero_point) * t.scale


def float_oracle(case: Case, act_min: int, act_max: int) -> np.ndarray:
    """The real-valued result, rounded to the output grid and clamped."""
    g = case.graph
    a_t, b_t, y_t = g.tensors
    vals = iter(case.values)
    a = a_t.data if a_t.is_const else next(vals)
    b = b_t.data if b_t.is_const else next(vals)
    real = dequant(a, a_t) + dequant(b, b_t) if case.op_type == "ADD" else dequant(a, a_t) * dequant(b, b_t)
    return np.clip(np.round(real / y_t.scale) + y_t.zero_point, act_min, act_max)


# ---------------------------------------------------------------- C == NumPy


@pytest.mark.parametrize("op_type", ["ADD", "MUL"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_c_matches_reference(host_runtime, op_type, data):
    case = data.draw(cases(op_type))
    expected = run_reference(case.graph, case.values)
    got = run_c(host_runtime, case.graph, case.values)
    np.testing.assert_array_equal(got, expected)
    # The reference itself is TFLite's integer approximation of the real-valued op.
    (call,) = lower(case.graph)
    approx = float_oracle(case, call.params.act_min, call.params.act_max)
    assert np.abs(expected.astype(np.int64) - approx).max(initial=0) <= 1


@pytest.mark.parametrize("op_type", ["ADD", "MUL"])
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_in_place_gives_same_result(host_runtime, op_type, data):
    case = data.draw(cases(op_type, allow_const=False))
    (call,) = lower(case.graph)
    assert call.in_place == (not call.params.broadcast)
    if not call.in_place:
        return
    expected = run_c(host_runtime, case.graph, case.values)
    got = run_c(host_runtime, case.graph, case.values, in_place=True)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("op_type", ["ADD", "MUL"])
def test_in_place_also_safe_when_only_second_operand_broadcasts(host_runtime, op_type):
    # Not offered to the planner today, but the C kernel supports it: input1 has the output's shape.
    quants = ((0.05, 3), (0.02, -7), (0.06, 1))
    graph = binary_graph(op_type, (2, 3, 4, 8), (8,), (2, 3, 4, 8), quants)
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, size=(2, 3, 4, 8), dtype=np.int8)
    b = rng.integers(-128, 128, size=(8,), dtype=np.int8)
    (call,) = lower(graph)
    assert call.params.broadcast and not call.in_place
    expected = run_reference(graph, [a, b])
    buf = a.copy()
    host_runtime.run(call.kernel, call.params, [buf, b], buf.shape, np.int8, out=buf)
    np.testing.assert_array_equal(buf, expected)


# ---------------------------------------------------------------- NumPy == TFLite Micro


@pytest.mark.parametrize("op_type", ["ADD", "MUL"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_reference_matches_tflm(op_type, data):
    case = data.draw(cases(op_type))
    if not case.values:  # TFLM needs at least one runtime input
        return
    np.testing.assert_array_equal(run_reference(case.graph, case.values), run_tflm(case.graph, case.values))


def test_swapped_constant_operand_is_exact():
    # Only the model's first operand constant: the lowering swaps operands and their parameters.
    quants = ((0.0123, 17), (0.456, -90), (0.3, 4))
    rng = np.random.default_rng(7)
    const = rng.integers(-128, 128, size=(1, 1, 6), dtype=np.int8)
    x = rng.integers(-128, 128, size=(2, 5, 6), dtype=np.int8)
    for op_type in ("ADD", "MUL"):
        graph = binary_graph(op_type, (1, 1, 6), (2, 5, 6), (2, 5, 6), quants, const_a=const)
        (call,) = lower(graph)
        assert call.inputs == (1,) and [c.data.shape for c in call.consts] == [(1, 1, 6)]
        assert call.params.input1_offset == 90 and call.params.input2_offset == -17
        np.testing.assert_array_equal(run_reference(graph, [x]), run_tflm(graph, [x]))


# ---------------------------------------------------------------- parameter derivation


def test_add_params_follow_add_common():
    s1, s2, so = _f32(0.04072536528110504), _f32(0.04124561324715614), _f32(0.05837741121649742)
    p = elementwise.add_params(s1, s2, so)
    assert p["left_shift"] == 20
    twice = 2 * max(s1, s2)
    for key, real in (("input1", s1 / twice), ("input2", s2 / twice), ("output", twice / (2**20 * so))):
        mult, shift = p[f"{key}_multiplier"], p[f"{key}_shift"]
        assert shift <= 0 and 2**30 <= mult < 2**31
        assert abs(mult * 2.0**shift / 2**31 - real) <= real * 2**-30
    assert p["input2_multiplier"] == 2**30 and p["input2_shift"] == 0  # the larger scale maps to exactly 1/2


def test_mul_multiplier_is_double_product():
    """mul_common.cc evaluates s1 * s2 / so in double. Search scales where float32 evaluation would give
    different outputs on the full 256 x 256 grid of operand pairs, then check TFLM sides with double."""
    a = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    b = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    prod = (a.astype(np.int64) - 3) * (b.astype(np.int64) + 9)
    rng = np.random.default_rng(3)
    for _ in range(500):
        s1, s2 = (_f32(v) for v in 10 ** rng.uniform(-3, 0, size=2))
        so = _f32(s1 * s2 * 10 ** rng.uniform(2, 3))
        m_f64 = quantize_multiplier(s1 * s2 / so)
        m_f32 = quantize_multiplier(float(np.float32(np.float32(s1) * np.float32(s2)) / np.float32(so)))
        if (
            m_f32 != m_f64
            and (multiply_by_quantized_multiplier(prod, *m_f32) != multiply_by_quantized_multiplier(prod, *m_f64)).any()
        ):
            break
    else:
        pytest.skip("no scales found where float32 and double give different outputs")
    p = elementwise.mul_params(s1, s2, so)
    assert (p["output_multiplier"], p["output_shift"]) == m_f64
    graph = binary_graph("MUL", (256, 1), (1, 256), (256, 256), ((s1, 3), (s2, -9), (so, 0)))
    np.testing.assert_array_equal(run_reference(graph, [a, b]), run_tflm(graph, [a, b]))


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dtype="int16"), "int16"),
        (dict(shape_a=(1, 2, 2, 2, 2), shape_b=(1, 2, 2, 2, 2), shape_out=(1, 2, 2, 2, 2)), "rank-5"),
        (dict(shape_a=(2, 3), shape_b=(3, 2), shape_out=(2, 3)), "do not broadcast"),
        (dict(shape_a=(2, 3), shape_b=(3,), shape_out=(6,)), "not the broadcast shape"),
        (dict(quants=((1.0, 0), (1.0, 0), (1e-7, 0))), "outside (0, 1)"),
        (dict(activation="TANH"), "TANH"),
    ],
)
def test_unsupported_configurations_are_refused(kwargs, message):
    args = dict(shape_a=(2, 3), shape_b=(2, 3), shape_out=(2, 3), quants=((0.1, 0), (0.1, 0), (0.1, 0)))
    args.update(kwargs)
    graph = binary_graph("ADD", **args)
    with pytest.raises(Unsupported, match=message.replace("(", r"\(").replace(")", r"\)")):
        lower(graph)


# ---------------------------------------------------------------- real models


def test_simple_add_model_matches_golden(host_runtime, shared_models):
    graph = read_tflite(shared_models / "tflm_simple_add_model.tflite")
    vec = np.load(shared_models / "vectors" / "tflm_simple_add_model.npz")
    values = [vec["in0"], vec["in1"]]
    (call,) = lower(graph)
    assert call.kernel == "add_s8" and call.in_place and not call.params.broadcast
    np.testing.assert_array_equal(run_reference(graph, values), vec["out0"])
    np.testing.assert_array_equal(run_c(host_runtime, graph, values), vec["out0"])
    np.testing.assert_array_equal(run_c(host_runtime, graph, values, in_place=True), vec["out0"])


def test_mcunet_adds_match_tflm(host_runtime, shared_models):
    """Each ADD of MCUNet-VWW, cut out with its real quantization, on random inputs."""
    model = read_tflite(shared_models / "tinyengine_mcunet_vww.tflite")
    adds = [op for op in model.operators if op.op_type == "ADD"]
    assert len(adds) == 8
    rng = np.random.default_rng(0)
    for op in adds:
        a, b = model.op_inputs(op)
        (y,) = model.op_outputs(op)
        quants = tuple((t.scale, t.zero_point) for t in (a, b, y))
        graph = binary_graph("ADD", a.shape, b.shape, y.shape, quants, op.options["activation"])
        values = [
            rng.integers(-128, 128, size=a.shape, dtype=np.int8),
            rng.integers(-128, 128, size=b.shape, dtype=np.int8),
        ]
        expected = run_tflm(graph, values)
        np.testing.assert_array_equal(run_reference(graph, values), expected)
        np.testing.assert_array_equal(run_c(host_runtime, graph, values), expected)
