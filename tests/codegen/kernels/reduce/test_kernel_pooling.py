"""AVERAGE_POOL_2D / MAX_POOL_2D: lowering, C against the NumPy reference, and the reference against
TFLite's reference kernels on the pooling layers of real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.reduce import pooling
from codegen.kernels.reduce.pooling import PoolParams, avg_pool2d_s8_ref, max_pool2d_s8_ref

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
OP_TYPES = {"avg_pool2d_s8": "AVERAGE_POOL_2D", "max_pool2d_s8": "MAX_POOL_2D"}


def pool_graph(op_type: str, in_shape, out_shape, options: dict, in_q=(0.05, 0), out_q=None) -> Graph:
    out_q = in_q if out_q is None else out_q
    x = Tensor(0, "x", tuple(in_shape), "int8", Quantization((in_q[0],), (in_q[1],)))
    y = Tensor(1, "y", tuple(out_shape), "int8", Quantization((out_q[0],), (out_q[1],)))
    op = Operator(0, op_type, (0,), (1,), dict(options))
    return Graph([x, y], [op], (0,), (1,))


def lower_one(graph: Graph):
    op = graph.operators[0]
    (call,) = pooling.LOWERINGS[op.op_type](op, graph)
    return call


@st.composite
def pool_cases(draw):
    kernel = draw(st.sampled_from(sorted(OP_TYPES)))
    n = draw(st.integers(1, 2))
    in_h, in_w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 70))  # crosses the C kernel's 32-channel blocks
    fh, fw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    out_h = pooling.compute_out_size(padding, in_h, fh, sh)
    out_w = pooling.compute_out_size(padding, in_w, fw, sw)
    assume(out_h > 0 and out_w > 0)
    scale = float(np.float32(draw(st.floats(0.002, 0.5))))
    zp = draw(st.integers(-128, 127))
    options = {"padding": padding, "stride_h": sh, "stride_w": sw, "filter_h": fh, "filter_w": fw,
               "activation": draw(st.sampled_from(ACTIVATIONS))}
    graph = pool_graph(OP_TYPES[kernel], (n, in_h, in_w, c), (n, out_h, out_w, c), options, (scale, zp))
    seed = draw(st.integers(0, 2**31))
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, in_h, in_w, c), dtype=np.int8)
    return graph, x


@settings(max_examples=150, deadline=None)
@given(pool_cases())
def test_pool_c_matches_reference(host_runtime, case):
    graph, x = case
    call = lower_one(graph)
    p: PoolParams = call.params
    expected = pooling.REFERENCES[call.kernel](p, x)
    got = host_runtime.run(call.kernel, p, [x], p.out_shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    assert call.macs == expected.size * p.filter_h * p.filter_w
    assert expected.min() >= p.act_min and expected.max() <= p.act_max


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**31))
def test_reference_against_plain_loops(h, w, c, seed):
    """The vectorised reference against a literal per-element transcription (SAME, 3x3 window, stride 2)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(1, h, w, c), dtype=np.int8)
    out_h, out_w = -(-h // 2), -(-w // 2)
    p = PoolParams(1, h, w, c, out_h, out_w, 3, 3, 2, 2, pooling.compute_padding(h, 3, 2, out_h),
                   pooling.compute_padding(w, 3, 2, out_w), -128, 127)
    avg, mx = avg_pool2d_s8_ref(p, x), max_pool2d_s8_ref(p, x)
    for oy in range(out_h):
        for ox in range(out_w):
            for ch in range(c):
                vals = [int(x[0, iy, ix, ch])
                        for iy in range(oy * 2 - p.pad_h, oy * 2 - p.pad_h + 3)
                        for ix in range(ox * 2 - p.pad_w, ox * 2 - p.pad_w + 3)
                        if 0 <= iy < h and 0 <= ix < w]
                total, count = sum(vals), len(vals)
                mag = (abs(total) + count // 2) // count
                assert avg[0, oy, ox, ch] == (mag if total > 0 else -mag)
                assert mx[0, oy, ox, ch] == max(vals)


def test_average_rounds_half_away_from_zero(host_runtime):
    # One 1x2 window per channel: sums 3, -3, 1, -1, 0, 254, -256 over 2 elements.
    pairs = [(1, 2), (-1, -2), (0, 1), (0, -1), (5, -5), (127, 127), (-128, -128)]
    x = np.array([[[[a for a, _ in pairs], [b for _, b in pairs]]]], dtype=np.int8)
    p = PoolParams(1, 1, 2, len(pairs), 1, 1, 1, 2, 1, 2, 0, 0, -128, 127)
    expected = np.array([2, -2, 1, -1, 0, 127, -128], dtype=np.int8).reshape(1, 1, 1, -1)
    np.testing.assert_array_equal(avg_pool2d_s8_ref(p, x), expected)
    np.testing.assert_array_equal(host_runtime.run("avg_pool2d_s8", p, [x], p.out_shape, np.int8), expected)


def test_same_padding_and_edge_windows():
    # 5x5 input, 2x2 window, stride 2, SAME: 3x3 output, total padding 1 -> 0 before, 1 after.
    g = pool_graph("AVERAGE_POOL_2D", (1, 5, 5, 1), (1, 3, 3, 1),
                   {"padding": "SAME", "stride_h": 2, "stride_w": 2, "filter_h": 2, "filter_w": 2,
                    "activation": "NONE"})
    p = lower_one(g).params
    assert (p.pad_h, p.pad_w, p.out_h, p.out_w) == (0, 0, 3, 3)
    x = np.arange(25, dtype=np.int8).reshape(1, 5, 5, 1)
    out = avg_pool2d_s8_ref(p, x).reshape(3, 3)
    assert out[2, 2] == 24  # the corner window holds one element
    assert out[0, 2] == 7  # rows 0-1, column 4 only: (4 + 9) / 2 = 6.5 rounds up
    # 3x3 window on 4 wide, stride 1, SAME: total padding 2 -> 1 before.
    g = pool_graph("MAX_POOL_2D", (1, 4, 4, 1), (1, 4, 4, 1),
                   {"padding": "SAME", "stride_h": 1, "stride_w": 1, "filter_h": 3, "filter_w": 3,
                    "activation": "NONE"})
    assert (lower_one(g).params.pad_h, lower_one(g).params.pad_w) == (1, 1)


def test_activation_clamps_with_output_quantization(host_runtime):
    # scale 0.1, zp -10: RELU6 clamps to [-10, 50].
    g = pool_graph("MAX_POOL_2D", (1, 2, 2, 2), (1, 1, 1, 2),
                   {"padding": "VALID", "stride_h": 2, "stride_w": 2, "filter_h": 2, "filter_w": 2,
                    "activation": "RELU6"}, in_q=(0.1, -10))
    call = lower_one(g)
    assert (call.params.act_min, call.params.act_max) == (-10, 50)
    x = np.array([-100, 100, -90, 90, -80, 80, -70, 70], dtype=np.int8).reshape(1, 2, 2, 2)
    got = host_runtime.run(call.kernel, call.params, [x], call.params.out_shape, np.int8)
    np.testing.assert_array_equal(got.reshape(-1), [-10, 50])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"out_q": (0.06, 0)}, "quantization"),
        ({"out_q": (0.05, 1)}, "quantization"),
        ({"activation": "TANH"}, "TANH"),
        ({"padding": "EXPLICIT"}, "padding"),
        ({"out_shape": (1, 3, 3, 4)}, "output shape"),
        ({"filter_h": 0}, "filter"),
        ({"in_shape": (1, 1, 4, 4), "out_shape": (1, 0, 2, 4), "filter_h": 3}, "no output"),
        ({"in_shape": (4, 4, 4)}, "rank"),
    ],
)
def test_lowering_refuses(change, message):
    options = {"padding": "VALID", "stride_h": 2, "stride_w": 2, "filter_h": 2, "filter_w": 2,
               "activation": "NONE"}
    options.update({k: v for k, v in change.items() if k in options})
    in_shape = change.get("in_shape", (1, 4, 4, 4))
    out_shape = change.get("out_shape", (1, 2, 2, 4))
    g = pool_graph("AVERAGE_POOL_2D", in_shape, out_shape, options, out_q=change.get("out_q"))
    with pytest.raises(Unsupported, match=message):
        lower_one(g)


def test_scale_within_tflm_tolerance_is_accepted():
    g = pool_graph("MAX_POOL_2D", (1, 4, 4, 1), (1, 2, 2, 1),
                   {"padding": "VALID", "stride_h": 2, "stride_w": 2, "filter_h": 2, "filter_w": 2,
                    "activation": "NONE"}, in_q=(0.05, 3), out_q=(0.05 + 5e-7, 3))
    assert lower_one(g).kernel == "max_pool2d_s8"


# --- Real models: the runtime's own intermediate tensors (BUILTIN_REF agrees with TFLM on these) ---

REAL_POOLS = [
    ("mlperf_ic_resnet8_int8", "AVERAGE_POOL_2D"),
    ("mlperf_ic_resnet_large_int8", "AVERAGE_POOL_2D"),
    ("mlperf_vww_96_int8", "AVERAGE_POOL_2D"),
    ("tflm_test_conv_model", "MAX_POOL_2D"),
]


def run_with_intermediates(model: Path, vectors: Path):
    """Run the golden input through tflite-runtime's reference kernels, keeping every tensor."""
    interpreter_mod = pytest.importorskip("tflite_runtime.interpreter")
    it = interpreter_mod.Interpreter(
        model_path=str(model),
        experimental_op_resolver_type=interpreter_mod.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    golden = np.load(vectors)
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], golden["in0"].reshape(inp["shape"]).astype(inp["dtype"]))
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    # The run reproduces the TFLM golden output, so its intermediates are TFLM's too.
    np.testing.assert_array_equal(out.reshape(golden["out0"].shape), golden["out0"])
    return it


@pytest.mark.parametrize("name, op_type", REAL_POOLS)
def test_real_model_pool_matches_tflite(shared_models, host_runtime, name, op_type):
    model = shared_models / f"{name}.tflite"
    if not model.exists():
        pytest.skip(f"{model} is absent")
    graph = read_tflite(model)
    it = run_with_intermediates(model, shared_models / "vectors" / f"{name}.npz")
    ops = [op for op in graph.operators if op.op_type == op_type]
    assert ops, f"{name} has no {op_type}"
    for op in ops:
        (call,) = pooling.LOWERINGS[op_type](op, graph)
        x = it.get_tensor(op.inputs[0])
        want = it.get_tensor(op.outputs[0])
        p = call.params
        np.testing.assert_array_equal(pooling.REFERENCES[call.kernel](p, x), want)
        np.testing.assert_array_equal(host_runtime.run(call.kernel, p, [x], p.out_shape, np.int8), want)
