"""BATCH_MATMUL (int8, ranks 2..5, adj_x / adj_y, broadcast batch dims, constant or runtime operands): C
against the NumPy reference, the reference against np.matmul of the offset operands (exact int arithmetic)
and against TFLite Micro and tflite-runtime BUILTIN_REF on single-op models written by tflite_writer (TFLM
followed where tflite-runtime 2.14 is wrong: adj_x with a flattened rhs batch)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.conv import batch_matmul
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from tests.codegen.kernels.arithmetic.test_kernel_binary_broadcast import run_tflite_ref
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import run_tflm


def _q(s: float, z: int) -> Quantization:
    return Quantization((float(np.float32(s)),), (z,))


def bmm_graph(lhs_shape, rhs_shape, out_shape, quants, adj_x=False, adj_y=False, lhs=None, rhs=None,
              dtype="int8") -> Graph:
    (sa, za), (sb, zb), (so, zo) = quants
    tensors = [Tensor(0, "lhs", tuple(lhs_shape), dtype, _q(sa, za), lhs),
               Tensor(1, "rhs", tuple(rhs_shape), dtype, _q(sb, zb), rhs),
               Tensor(2, "y", tuple(out_shape), dtype, _q(so, zo))]
    op = Operator(0, "BATCH_MATMUL", (0, 1), (2,), {"adj_x": adj_x, "adj_y": adj_y})
    inputs = tuple(t.index for t in tensors[:2] if not t.is_const)
    return Graph(tensors, [op], inputs, (2,), name="batch_matmul")


def lower_one(graph: Graph) -> KernelCall:
    (call,) = batch_matmul.LOWERINGS["BATCH_MATMUL"](graph.operators[0], graph)
    return call


def run_ref(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    call = lower_one(graph)
    env = dict(zip(graph.inputs, values, strict=True))
    args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
    return batch_matmul.batch_matmul_s8_ref(call.params, *args).reshape(graph.tensor(2).shape)


@st.composite
def cases(draw):
    out_rank = draw(st.integers(2, 5))
    batch = tuple(draw(st.integers(1, 3)) for _ in range(out_rank - 2))

    def operand_batch():
        r = draw(st.integers(0, len(batch)))
        return tuple(d if draw(st.booleans()) else 1 for d in batch[len(batch) - r:])

    a_batch, b_batch = operand_batch(), operand_batch()
    if tuple(np.broadcast_shapes(a_batch, b_batch)) != batch:
        a_batch = batch
    m, n, k = (draw(st.integers(1, 6)) for _ in range(3))
    if draw(st.booleans()):
        k = draw(st.integers(20, 200))  # long sums: the requantization sees large accumulators
    adj_x, adj_y = draw(st.booleans()), draw(st.booleans())
    a_shape = a_batch + ((k, m) if adj_x else (m, k))
    b_shape = b_batch + ((n, k) if adj_y else (k, n))
    sa, sb = 10 ** draw(st.floats(-3, 0)), 10 ** draw(st.floats(-3, 0))
    so = sa * sb * 128 * np.sqrt(k) * 10 ** draw(st.floats(-1, 1))
    quants = ((sa, draw(st.integers(-128, 127))), (sb, draw(st.integers(-128, 127))), (so, draw(st.integers(-20, 20))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-128, 128, size=a_shape, dtype=np.int8)
    b = rng.integers(-128, 128, size=b_shape, dtype=np.int8)
    const = draw(st.sampled_from(["none", "lhs", "rhs"]))
    graph = bmm_graph(a_shape, b_shape, batch + (m, n), quants, adj_x, adj_y,
                      a if const == "lhs" else None, b if const == "rhs" else None)
    values = [v for v, c in ((a, "lhs"), (b, "rhs")) if c != const]
    return graph, values, a, b


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_c_matches_reference_and_matmul(host_runtime, case):
    graph, values, a, b = case
    call = lower_one(graph)
    y = graph.tensor(2)
    expected = run_ref(graph, values)
    args = [dict(zip(graph.inputs, values, strict=True))[i] for i in call.inputs] + [c.data for c in call.consts]
    got = host_runtime.run(call.kernel, call.params, args, y.shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    # The reference against an independent formulation: np.matmul of the offset, transposed operands.
    lhs_t, rhs_t = graph.tensor(0), graph.tensor(1)
    am = a.astype(np.int64) - lhs_t.zero_point
    bm = b.astype(np.int64) - rhs_t.zero_point
    if graph.operators[0].options["adj_x"]:
        am = np.swapaxes(am, -1, -2)
    if graph.operators[0].options["adj_y"]:
        bm = np.swapaxes(bm, -1, -2)
    acc = np.matmul(am, bm)
    mult, shift = quantize_multiplier(lhs_t.scale * rhs_t.scale / y.scale)
    direct = np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + y.zero_point, -128, 127)
    np.testing.assert_array_equal(expected, direct.reshape(y.shape))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_reference_matches_tflm_and_tflite(case):
    graph, values, _, _ = case
    ours = run_ref(graph, values)
    np.testing.assert_array_equal(ours, np.asarray(run_tflm(graph, values)).reshape(ours.shape))
    if not _tflite_flattening_bug(graph):
        np.testing.assert_array_equal(ours, run_tflite_ref(graph, values).reshape(ours.shape))


def _tflite_flattening_bug(graph: Graph) -> bool:
    """tflite-runtime 2.14 folds the lhs batch into the columns when the rhs's third-from-last dim is 1
    (ReshapeToFlattenBatchDimsIfPossible) and gets adj_x wrong there; TFLM does not. See the test below."""
    a, b = graph.tensor(0).shape, graph.tensor(1).shape
    return bool(graph.operators[0].options["adj_x"]) and len(a) > 2 and len(b) > 2 and b[-3] == 1 and a[-3] > 1


def test_tflite_2_14_adj_x_with_flattened_batch_differs_from_tflm_which_is_followed():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, size=(3, 5, 4), dtype=np.int8)
    b = rng.integers(-128, 128, size=(1, 5, 2), dtype=np.int8)
    graph = bmm_graph((3, 5, 4), (1, 5, 2), (3, 4, 2), ((0.05, 0), (0.05, 0), (0.5, 0)), adj_x=True)
    assert _tflite_flattening_bug(graph)
    ours = run_ref(graph, [a, b])
    np.testing.assert_array_equal(ours, np.asarray(run_tflm(graph, [a, b])).reshape(ours.shape))
    direct = np.matmul(np.swapaxes(a.astype(np.int64), -1, -2), b.astype(np.int64))  # zero points are 0
    mult, shift = quantize_multiplier(0.05 * 0.05 / 0.5)
    np.testing.assert_array_equal(ours, np.clip(multiply_by_quantized_multiplier(direct, mult, shift), -128, 127))
    assert (ours != run_tflite_ref(graph, [a, b]).reshape(ours.shape)).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dtype="int16"), "int16"),
        (dict(lhs_shape=(2, 3), rhs_shape=(4, 5), out_shape=(2, 5)), "depths"),
        (dict(lhs_shape=(2, 2, 3), rhs_shape=(3, 3, 4), out_shape=(2, 2, 4)), "do not broadcast"),
        (dict(out_shape=(2, 5)), "output shape"),
        (dict(lhs_shape=(1, 1, 1, 1, 2, 3), rhs_shape=(3, 4), out_shape=(1, 1, 1, 1, 2, 4)), "ranks"),
    ],
)
def test_unsupported_configurations_are_refused(kwargs, message):
    args = dict(lhs_shape=(2, 3), rhs_shape=(3, 4), out_shape=(2, 4), quants=((0.1, 0), (0.1, 0), (0.1, 0)))
    args.update(kwargs)
    with pytest.raises(Unsupported, match=message):
        lower_one(bmm_graph(**args))


def test_multiplier_follows_tflm_double_product():
    """Search scales where s_lhs * s_rhs in float32 and in double give different outputs, then check that TFLM
    sides with the double product (as its FULLY_CONNECTED does) and so do we."""
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, size=(64, 8), dtype=np.int8)
    b = rng.integers(-128, 128, size=(8, 64), dtype=np.int8)
    acc = a.astype(np.int64) @ b.astype(np.int64)
    for _ in range(2000):
        sa, sb = (float(np.float32(v)) for v in 10 ** rng.uniform(-3, 0, size=2))
        so = float(np.float32(sa * sb * 10 ** rng.uniform(2.5, 3.5)))
        m64 = quantize_multiplier(sa * sb / so)
        m32 = quantize_multiplier(float(np.float32(sa) * np.float32(sb)) / so)
        if m64 != m32 and (multiply_by_quantized_multiplier(acc, *m64)
                           != multiply_by_quantized_multiplier(acc, *m32)).any():
            break
    else:
        pytest.skip("no scales found where float32 and double products give different outputs")
    graph = bmm_graph((64, 8), (8, 64), (64, 64), ((sa, 0), (sb, 0), (so, 0)))
    assert (lower_one(graph).params.output_multiplier, lower_one(graph).params.output_shift) == m64
    np.testing.assert_array_equal(run_ref(graph, [a, b]), np.asarray(run_tflm(graph, [a, b])))
