"""LEAKY_RELU int8 and int16: C against the NumPy reference, the reference against TFLite Micro and
tflite-runtime (BUILTIN_REF) on generated single-op models, over alphas (including > 1 and negative) and
quantization parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import REFERENCES
from codegen.kernels.fixedpoint import quantize_multiplier
from tests.support.op_check import check_single_op
from tests.support.single_op import lower


def leaky_graph(dtype: str, shape, sx: float, zx: int, sy: float, zy: int, alpha: float) -> Graph:
    tensors = [Tensor(0, "x", tuple(shape), dtype, Quantization((float(np.float32(sx)),), (zx,))),
               Tensor(1, "y", tuple(shape), dtype, Quantization((float(np.float32(sy)),), (zy,)))]
    op = Operator(0, "LEAKY_RELU", (0,), (1,), {"alpha": float(np.float32(alpha))})
    return Graph(tensors, [op], (0,), (1,), name="leaky")


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), sx=st.floats(-4, -1), ratio=st.floats(-1, 1),
       alpha=st.one_of(st.floats(0.0, 1.0), st.floats(-2.0, 3.0)), zps=st.tuples(st.integers(-128, 127),
                                                                                  st.integers(-128, 127)),
       seed=st.integers(0, 2**32 - 1))
def test_leaky_relu_matches_tflm_and_tflite(host_runtime, dtype, shape, sx, ratio, alpha, zps, seed):
    sx = 10**sx
    zx, zy = zps if dtype == "int8" else (0, 0)  # int16 activations are symmetric
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=shape).astype(dtype)
    graph = leaky_graph(dtype, shape, sx, zx, sx * 10**ratio, zy, alpha)
    (call,) = lower(graph)
    assert call.kernel == f"leaky_relu_s{8 if dtype == 'int8' else 16}"
    # The tflite-micro build computes the multipliers in double (see below): compare with it where both
    # readings give the same parameters.
    s_in, s_out, a = graph.tensor(0).scale, graph.tensor(1).scale, graph.operators[0].options["alpha"]
    p = call.params
    same = (quantize_multiplier(s_in * a / s_out) == (p.alpha_multiplier, p.alpha_shift)
            and quantize_multiplier(s_in / s_out) == (p.identity_multiplier, p.identity_shift))
    check_single_op(host_runtime, graph, [x], ("tflm", "tflite") if same else ("tflite",))


def test_negative_inputs_take_the_alpha_branch(host_runtime):
    x = np.arange(-32768, 32768, 257, dtype=np.int16).reshape(1, -1)
    graph = leaky_graph("int16", x.shape, 1e-3, 0, 1e-3, 0, 0.25)
    out = check_single_op(host_runtime, graph, [x])
    neg, pos = x < 0, x >= 0
    np.testing.assert_array_equal(out[pos], x[pos])  # identity at equal scales
    assert np.all(np.abs(out[neg].astype(int) - np.round(x[neg] * 0.25)) <= 1)


def test_multipliers_come_from_float32_arithmetic(host_runtime):
    """On values where double multipliers would change outputs, tflite-runtime sides with float32 arithmetic,
    as TFLM's SEANet goldens do (the pre-release tflite-micro build, computing in double, does not)."""
    rng = np.random.default_rng(7)
    x = np.arange(-32768, 32768, 3, dtype=np.int16).reshape(1, -1)
    for _ in range(20000):
        sx, sy = (float(np.float32(10 ** rng.uniform(-4, -2))) for _ in range(2))
        alpha = float(np.float32(rng.uniform(0.01, 0.9)))
        graph = leaky_graph("int16", x.shape, sx, 0, sy, 0, alpha)
        (call,) = lower(graph)
        am, ash = quantize_multiplier(sx * alpha / sy)
        im, ish = quantize_multiplier(sx / sy)
        doubled = dataclasses.replace(call.params, alpha_multiplier=am, alpha_shift=ash, identity_multiplier=im,
                                      identity_shift=ish)
        if doubled == call.params:
            continue
        ours = check_single_op(host_runtime, graph, [x], ("tflite",))
        if not np.array_equal(REFERENCES[call.kernel](doubled, x).reshape(ours.shape), ours):
            return  # the two readings disagree here, and tflite-runtime sided with float32
    pytest.skip("no parameters found where float32 and double multipliers give different outputs")
