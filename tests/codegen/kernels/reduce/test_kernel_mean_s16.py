"""MEAN 16x8 (int16): the C kernel against the NumPy reference, and the reference against TFLite Micro and
tflite-runtime (BUILTIN_REF) on generated single-op models, across ranks, axis sets, keep_dims and scales."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from tests.support.op_check import check_single_op
from tests.support.single_op import lower


def mean16(in_shape, axes, keep_dims: bool, in_q=(0.05, 0), out_q=(0.05, 0)) -> Graph:
    rank = len(in_shape)
    resolved = {a % rank for a in axes}
    out_shape = [1 if i in resolved else d for i, d in enumerate(in_shape)] if keep_dims else [
        d for i, d in enumerate(in_shape) if i not in resolved]
    tensors = [
        Tensor(0, "x", tuple(in_shape), "int16", Quantization((float(np.float32(in_q[0])),), (in_q[1],))),
        Tensor(1, "axis", (len(axes),), "int32", None, np.array(axes, dtype=np.int32)),
        Tensor(2, "y", tuple(out_shape), "int16", Quantization((float(np.float32(out_q[0])),), (out_q[1],))),
    ]
    return Graph(tensors, [Operator(0, "MEAN", (0, 1), (2,), {"keep_dims": keep_dims})], (0,), (2,), name="mean16")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mean_s16_matches_tflm_and_tflite(host_runtime, data):
    rank = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    chosen = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if data.draw(st.booleans()) else a for a in chosen]
    keep_dims = data.draw(st.booleans())
    s_in = 10 ** data.draw(st.floats(-4, -1))
    s_out = s_in if data.draw(st.booleans()) else s_in * 10 ** data.draw(st.floats(-1, 1))
    # 16x8 is symmetric; TFLite Micro's int16 MEAN also takes zero points (tflite-runtime does not)
    zps = (0, 0) if data.draw(st.integers(0, 3)) else tuple(data.draw(st.integers(-3000, 3000)) for _ in range(2))
    graph = mean16(shape, axes, keep_dims, (s_in, zps[0]), (s_out, zps[1]))
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(-32768, 32768, size=shape)
    (call,) = lower(graph)
    assert call.kernel == "mean_s16"
    check_single_op(host_runtime, graph, [x.astype(np.int16)], ("tflm", "tflite") if zps == (0, 0) else ("tflm",))


def test_mean_s16_global_pool_of_extremes(host_runtime):
    """A 4-D global average over H and W (the common use) of values at the int16 limits."""
    x = np.full((1, 8, 8, 3), 32767, dtype=np.int16)
    x[..., 1] = -32768
    x[0, ::2, :, 2] = -32768
    graph = mean16((1, 8, 8, 3), [1, 2], True, (0.01, 0), (0.004, 0))
    out = check_single_op(host_runtime, graph, [x])
    np.testing.assert_array_equal(out.reshape(-1), [32767, -32768, round(-0.5 * 0.01 / 0.004)])


def test_mean_s16_refuses_a_reduction_whose_int32_sum_could_wrap():
    graph = mean16((1, 256, 128, 1), [1, 2], True)
    with pytest.raises(Unsupported, match="elements per output"):
        lower(graph)
