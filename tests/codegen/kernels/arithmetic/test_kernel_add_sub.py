"""SUB (int8, int16) and ADD int16: C kernels against the NumPy reference, and the reference against TFLite
Micro and tflite-runtime (BUILTIN_REF) on generated single-op models, across broadcasting, constant operands,
quantization parameters and fused activations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import REFERENCES
from codegen.kernels.arithmetic.add_sub import add_sub_multipliers
from codegen.kernels.base import Unsupported
from codegen.kernels.fixedpoint import quantize_multiplier
from tests.codegen.kernels.arithmetic.test_kernel_elementwise import broadcast_shapes
from tests.support.op_check import check_single_op
from tests.support.single_op import lower

RANGES = {"int8": (-128, 127), "int16": (-32768, 32767)}


def _f32(x: float) -> float:
    return float(np.float32(x))


def binary(op_type: str, dtype: str, shapes, quants, activation: str, consts=(None, None)) -> Graph:
    tensors = [
        Tensor(i, name, tuple(shape), dtype, Quantization((_f32(s),), (z,)), data)
        for i, (name, shape, (s, z), data) in enumerate(zip("aby", shapes, quants, (*consts, None), strict=True))
    ]
    # pot_scale_int16 = false: TFLite's general int16 path, the one TFLite Micro always takes.
    options = {"activation": activation, "pot_scale_int16": False}
    op = Operator(0, op_type, (0, 1), (2,), options)
    return Graph(tensors, [op], tuple(t.index for t in tensors[:2] if not t.is_const), (2,), name="binary")


@st.composite
def cases(draw, op_type: str, dtype: str):
    a_shape, b_shape, out_shape = draw(broadcast_shapes())
    so = 10 ** draw(st.floats(-4, -1))
    sa, sb = (so * 10 ** draw(st.floats(-1.5, 1.5)) for _ in range(2))
    # int16: mostly symmetric (16x8; TFLite requires it); TFLite Micro's general path also takes zero points
    if dtype == "int8" or draw(st.integers(0, 3)) == 0:
        zps = [draw(st.integers(-128, 127) if dtype == "int8" else st.integers(-3000, 3000)) for _ in range(3)]
    else:
        zps = [0, 0, 0]
    lo, hi = RANGES[dtype]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(lo, hi + 1, size=a_shape).astype(dtype)
    b = rng.integers(lo, hi + 1, size=b_shape).astype(dtype)
    const = draw(st.sampled_from(("none", "none", "a", "b")))
    graph = binary(op_type, dtype, (a_shape, b_shape, out_shape), list(zip((sa, sb, so), zps, strict=True)),
                   draw(st.sampled_from(("NONE", "RELU", "RELU6", "RELU_N1_TO_1"))),
                   (a if const == "a" else None, b if const == "b" else None))
    values = [v for v, c in ((a, "a"), (b, "b")) if c != const]
    return graph, values


@pytest.mark.parametrize(("op_type", "dtype"), [("SUB", "int8"), ("SUB", "int16"), ("ADD", "int16")])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_add_sub_match_tflm_and_tflite(host_runtime, op_type, dtype, data):
    graph, values = data.draw(cases(op_type, dtype))
    (call,) = lower(graph)
    assert call.kernel == f"{op_type.lower()}_s{8 if dtype == 'int8' else 16}"
    symmetric = all(graph.tensor(i).zero_point == 0 for i in range(3))
    check_single_op(host_runtime, graph, values, ("tflm", "tflite") if dtype == "int8" or symmetric else ("tflm",))


def test_sub_with_a_constant_first_operand_swaps_exactly(host_runtime):
    """The constant first operand moves behind the activation: `swapped` keeps first - second."""
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, size=(3, 4)).astype(np.int8)
    b = rng.integers(-128, 128, size=(3, 4)).astype(np.int8)
    graph = binary("SUB", "int8", ((3, 4), (3, 4), (3, 4)), [(0.05, 3), (0.03, -7), (0.07, 1)], "NONE", (a, None))
    (call,) = lower(graph)
    assert call.params.swapped == 1 and call.inputs == (1,)
    out = check_single_op(host_runtime, graph, [b])
    assert len(np.unique(out)) > 5  # not all saturated: the comparison means something


def test_int16_add_uses_the_general_path_with_left_shift_15():
    p = add_sub_multipliers("ADD", "int16", 0.5, 0.25, 0.5)
    assert p["left_shift"] == 15 and p["input1_multiplier"] == 1 << 30 and p["input1_shift"] == 0


@pytest.mark.parametrize(
    ("dtypes", "message"),
    [(("int16", "int16", "int8"), "int16, int16 -> int8"), (("float32", "float32", "int16"), "float32"),
     (("uint8",) * 3, "uint8")],
)
def test_mixed_or_unsupported_types_are_refused(dtypes, message):
    q = Quantization((0.1,), (0,))
    tensors = [Tensor(i, n, (2,), d, q if d != "float32" else None)
               for i, (n, d) in enumerate(zip("aby", dtypes, strict=True))]
    graph = Graph(tensors, [Operator(0, "SUB", (0, 1), (2,), {"activation": "NONE"})], (0, 1), (2,))
    with pytest.raises(Unsupported, match=message):
        lower(graph)


@pytest.mark.parametrize(("op_type", "dtype"), [("SUB", "int8"), ("SUB", "int16"), ("ADD", "int16")])
def test_in_place_output_over_the_first_operand(host_runtime, op_type, dtype):
    """Calls without broadcasting may write over their first input (the planner shares the bytes)."""
    lo, hi = RANGES[dtype]
    rng = np.random.default_rng(5)
    a, b = (rng.integers(lo, hi + 1, size=(2, 3, 7)).astype(dtype) for _ in range(2))
    graph = binary(op_type, dtype, ((2, 3, 7),) * 3, [(0.02, 0), (0.03, 0), (0.04, 0)], "NONE")
    (call,) = lower(graph)
    assert call.in_place
    want = check_single_op(host_runtime, graph, [a, b], ())
    buf = a.copy()
    host_runtime.run(call.kernel, call.params, [buf, b], buf.shape, buf.dtype, out=buf)
    np.testing.assert_array_equal(buf, want)


def test_sub_multipliers_are_double_like_the_tflm_under_test(host_runtime):
    """Scales where float32 multipliers (some sub_common.cc revisions) would change outputs: TFLite Micro and
    tflite-runtime both follow the double ones."""
    rng = np.random.default_rng(11)
    a = rng.integers(-32768, 32768, size=(64, 64)).astype(np.int16)
    b = rng.integers(-32768, 32768, size=(64, 64)).astype(np.int16)
    for _ in range(20000):
        sc = [_f32(10 ** rng.uniform(-4, -1)) for _ in range(3)]
        f1, f2, fo = (np.float32(v) for v in sc)
        twice = np.float32(2.0) * max(f1, f2)
        as_float = [quantize_multiplier(float(v)) for v in (f1 / twice, f2 / twice, twice / (np.float32(1 << 15) * fo))]
        graph = binary("SUB", "int16", ((64, 64),) * 3, [(v, 0) for v in sc], "NONE")
        (call,) = lower(graph)
        floated = dataclasses.replace(call.params, input1_multiplier=as_float[0][0], input1_shift=as_float[0][1],
                                      input2_multiplier=as_float[1][0], input2_shift=as_float[1][1],
                                      output_multiplier=as_float[2][0], output_shift=as_float[2][1])
        if floated == call.params:
            continue
        ours = check_single_op(host_runtime, graph, [a, b], ("tflm", "tflite"))
        if not np.array_equal(REFERENCES["sub_s16"](floated, a, b), ours):
            return  # the two readings disagree here, and TFLite Micro sided with double
    pytest.skip("no scales found where float32 and double multipliers give different outputs")
