"""MUL 16x8 (int16, zero points 0): the C kernel against the NumPy reference, and the reference against
TFLite Micro and tflite-runtime (BUILTIN_REF) on generated single-op models, across broadcasting, constant
operands, quantization scales and fused activations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import broadcast_shapes
from tests.support.op_check import check_single_op
from tests.support.single_op import lower


def _f32(x: float) -> float:
    return float(np.float32(x))


def mul16(shapes, scales, activation: str = "NONE", consts=(None, None), zero_points=(0, 0, 0)) -> Graph:
    tensors = [
        Tensor(i, name, tuple(shape), "int16", Quantization((_f32(s),), (z,)), data)
        for i, (name, shape, s, z, data) in enumerate(
            zip("aby", shapes, scales, zero_points, (*consts, None), strict=True))
    ]
    op = Operator(0, "MUL", (0, 1), (2,), {"activation": activation})
    return Graph(tensors, [op], tuple(t.index for t in tensors[:2] if not t.is_const), (2,), name="mul16")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mul_s16_matches_tflm_and_tflite(host_runtime, data):
    a_shape, b_shape, out_shape = data.draw(broadcast_shapes())
    # the real multiplier s1 * s2 / so spans 1e-7 .. 2: from outputs mostly tiny to mostly saturated
    sa, sb = (10 ** data.draw(st.floats(-4, -2)) for _ in range(2))
    so = sa * sb / 10 ** data.draw(st.floats(-7, 0.3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-32768, 32768, size=a_shape).astype(np.int16)
    b = rng.integers(-32768, 32768, size=b_shape).astype(np.int16)
    const = data.draw(st.sampled_from(("none", "none", "a", "b")))
    graph = mul16((a_shape, b_shape, out_shape), (sa, sb, so),
                  data.draw(st.sampled_from(("NONE", "RELU", "RELU6", "RELU_N1_TO_1"))),
                  (a if const == "a" else None, b if const == "b" else None))
    (call,) = lower(graph)
    assert call.kernel == "mul_s16"
    values = [v for v, c in ((a, "a"), (b, "b")) if c != const]
    # A multiplier >= 1 shifts the product left and can wrap int32, as TFLite Micro's arithmetic does;
    # tflite-runtime's int16 MUL computes those differently, so it is an oracle only below 1.
    check_single_op(host_runtime, graph, values, ("tflm", "tflite") if call.params.output_shift <= 0 else ("tflm",))


def test_mul_s16_products_at_the_int16_extremes(host_runtime):
    """-32768 * -32768 = 2^30: the largest product, which must not overflow the int32 accumulator."""
    a = np.array([-32768, -32768, 32767, 0, 1234, -32768], dtype=np.int16)
    b = np.array([-32768, 32767, 32767, -32768, -4321, 1], dtype=np.int16)
    graph = mul16(((6,), (6,), (6,)), (1e-3, 1e-3, 40.0 / 32768))
    out = check_single_op(host_runtime, graph, [a, b])
    assert len(np.unique(out)) >= 5  # not saturated: the comparison means something


def test_mul_s16_in_place_over_the_first_operand(host_runtime):
    rng = np.random.default_rng(7)
    a, b = (rng.integers(-32768, 32768, size=(2, 3, 5)).astype(np.int16) for _ in range(2))
    graph = mul16(((2, 3, 5),) * 3, (2e-3, 3e-3, 6e-3 * 32768 / 4e3))
    (call,) = lower(graph)
    assert call.in_place
    want = check_single_op(host_runtime, graph, [a, b], ())
    buf = a.copy()
    host_runtime.run(call.kernel, call.params, [buf, b], buf.shape, buf.dtype, out=buf)
    np.testing.assert_array_equal(buf, want)


@pytest.mark.parametrize("zero_points", [(1, 0, 0), (0, -2, 0), (0, 0, 5)])
def test_mul_s16_with_a_zero_point_is_refused(zero_points):
    graph = mul16(((3,),) * 3, (0.1, 0.1, 0.1), zero_points=zero_points)
    with pytest.raises(Unsupported, match="zero point"):
        lower(graph)
