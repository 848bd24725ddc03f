"""AVERAGE_POOL_2D and MAX_POOL_2D 16x8 (int16): C kernels against the NumPy reference, and the reference
against TFLite Micro and tflite-runtime (BUILTIN_REF) on generated single-op models, across windows, strides,
SAME/VALID padding, scales and fused activations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.reduce.pooling import compute_out_size
from tests.support.op_check import check_single_op
from tests.support.single_op import lower

KERNELS = {"AVERAGE_POOL_2D": "avg_pool2d_s16", "MAX_POOL_2D": "max_pool2d_s16"}


def pool16(op_type: str, in_shape, options: dict, q=(0.01, 0), out_q=None) -> Graph:
    out_q = q if out_q is None else out_q
    n, h, w, c = in_shape
    out_shape = (n, compute_out_size(options["padding"], h, options["filter_h"], options["stride_h"]),
                 compute_out_size(options["padding"], w, options["filter_w"], options["stride_w"]), c)
    x = Tensor(0, "x", tuple(in_shape), "int16", Quantization((float(np.float32(q[0])),), (q[1],)))
    y = Tensor(1, "y", out_shape, "int16", Quantization((float(np.float32(out_q[0])),), (out_q[1],)))
    return Graph([x, y], [Operator(0, op_type, (0,), (1,), dict(options))], (0,), (1,), name="pool16")


@pytest.mark.parametrize("op_type", sorted(KERNELS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_pool_s16_matches_tflm_and_tflite(host_runtime, op_type, data):
    n, h, w, c = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8)),
                  data.draw(st.integers(1, 6)))
    options = {"padding": data.draw(st.sampled_from(["SAME", "VALID"])),
               "filter_h": data.draw(st.integers(1, 4)), "filter_w": data.draw(st.integers(1, 4)),
               "stride_h": data.draw(st.integers(1, 3)), "stride_w": data.draw(st.integers(1, 3)),
               "activation": data.draw(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))}
    assume(compute_out_size(options["padding"], h, options["filter_h"], options["stride_h"]) > 0)
    assume(compute_out_size(options["padding"], w, options["filter_w"], options["stride_w"]) > 0)
    # scales from 1e-5 (RELU6 clamps at 6e5, beyond int16) to 1e-2 (RELU6 clamps at 600)
    graph = pool16(op_type, (n, h, w, c), options, (10 ** data.draw(st.floats(-5, -2)), 0))
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(-32768, 32768, size=(n, h, w, c))
    (call,) = lower(graph)
    assert call.kernel == KERNELS[op_type]
    check_single_op(host_runtime, graph, [x.astype(np.int16)])


def test_average_pool_s16_rounds_half_away_from_zero_at_the_limits(host_runtime):
    x = np.array([32767, 32766, -32768, -32767, 3, 4, -3, -4], dtype=np.int16).reshape(1, 1, 8, 1)
    opts = {"padding": "VALID", "filter_h": 1, "filter_w": 2, "stride_h": 1, "stride_w": 2, "activation": "NONE"}
    out = check_single_op(host_runtime, pool16("AVERAGE_POOL_2D", (1, 1, 8, 1), opts), [x])
    np.testing.assert_array_equal(out.reshape(-1), [32767, -32768, 4, -4])  # 32766.5, -32767.5, 3.5, -3.5


@pytest.mark.parametrize(("change", "message"), [
    ({"out_q": (0.02, 0)}, "differs from the output"),
    ({"filter_h": 256, "filter_w": 256}, "window"),
])
def test_pool_s16_refusals(change, message):
    opts = {"padding": "SAME", "filter_h": change.get("filter_h", 2), "filter_w": change.get("filter_w", 2),
            "stride_h": 1, "stride_w": 1, "activation": "NONE"}
    graph = pool16("AVERAGE_POOL_2D", (1, 4, 4, 2), opts, out_q=change.get("out_q"))
    with pytest.raises(Unsupported, match=message):
        lower(graph)
