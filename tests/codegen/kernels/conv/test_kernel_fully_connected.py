"""FULLY_CONNECTED int8: C against the NumPy reference, the reference against TFLite Micro, and real models.

Each case is a one-op IR graph lowered with the family's own LOWERINGS, so the quantization parameter
derivation is under test too. The TFLite Micro comparisons write the same graph with codegen.frontend.tflite_writer.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.conv import fully_connected
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _f32(x: float) -> float:
    return float(np.float32(x))


def fc_graph(
    in_shape,
    weights: np.ndarray,
    bias: np.ndarray | None,
    in_q,
    w_scales,
    w_zp,
    out_q,
    out_shape,
    activation="NONE",
    keep_num_dims=False,
    in_dtype="int8",
    weights_format=0,
    w_axis=0,
) -> Graph:
    """One FULLY_CONNECTED: tensor 0 input, 1 weights, 2 bias (op input -1 when None), 3 output."""
    w_scales = tuple(_f32(s) for s in w_scales)
    bias_scales = tuple(_f32(in_q[0] * s) for s in w_scales)
    tensors = [
        Tensor(0, "x", tuple(in_shape), in_dtype, Quantization((_f32(in_q[0]),), (in_q[1],))),
        Tensor(1, "w", weights.shape, "int8", Quantization(w_scales, (w_zp,) * len(w_scales), w_axis), weights),
        Tensor(2, "b", (weights.shape[0],), "int32", Quantization(bias_scales, (0,) * len(bias_scales)), bias),
        Tensor(3, "y", tuple(out_shape), in_dtype, Quantization((_f32(out_q[0]),), (out_q[1],))),
    ]
    options = {"activation": activation, "weights_format": weights_format, "keep_num_dims": keep_num_dims}
    op = Operator(0, "FULLY_CONNECTED", (0, 1, 2 if bias is not None else -1), (3,), options)
    return Graph(tensors, [op], (0,), (3,), name="fc_case")


def lower(graph: Graph) -> list[KernelCall]:
    return [c for op in graph.operators for c in fully_connected.LOWERINGS[op.op_type](op, graph)]


def run_graph(graph: Graph, x: np.ndarray, kernel_fn) -> np.ndarray:
    """Execute every operator's calls with kernel_fn(call, args, out_tensor) (NumPy or C)."""
    env = {graph.inputs[0]: x}
    for call in lower(graph):
        out_t = graph.tensor(call.outputs[0])
        args = [env[i] for i in call.inputs] + [c.data for c in call.consts]
        env[call.outputs[0]] = np.asarray(kernel_fn(call, args, out_t)).reshape(out_t.shape)
    return env[graph.outputs[0]]


def run_reference(graph: Graph, x: np.ndarray) -> np.ndarray:
    return run_graph(graph, x, lambda call, args, t: fully_connected.REFERENCES[call.kernel](call.params, *args))


def run_c(host_runtime, graph: Graph, x: np.ndarray) -> np.ndarray:
    return run_graph(graph, x, lambda call, args, t: host_runtime.run(call.kernel, call.params, args, t.shape, np.int8))


def run_tflm(graph: Graph, x: np.ndarray) -> np.ndarray:
    writer = pytest.importorskip("codegen.frontend.tflite_writer")
    from tflite_micro.python.tflite_micro import runtime

    arena = 16384 + 4 * sum(t.nbytes for t in graph.tensors)  # the default sizes from the file length
    interp = runtime.Interpreter.from_bytes(writer.write_tflite(graph), arena_size=arena)
    interp.set_input(x, 0)
    interp.invoke()
    return interp.get_output(0)


# ---------------------------------------------------------------- strategies


@st.composite
def fc_cases(draw, allow_per_channel: bool = True):
    batches = draw(st.integers(1, 4))
    n_in = draw(st.integers(1, 48))
    n_out = draw(st.integers(1, 24))
    keep_num_dims = draw(st.booleans())
    per_channel = allow_per_channel and draw(st.booleans())
    if per_channel:
        keep_num_dims = False
    # Input of rank 1..4 holding batches * n_in values; with keep_num_dims its last dim must be n_in.
    if keep_num_dims:
        lead = draw(st.sampled_from([(batches,), (1, batches), (batches, 1)]))
        in_shape, out_shape = (*lead, n_in), (*lead, n_out)
    else:
        total = batches * n_in
        in_shape = draw(st.sampled_from([(total,), (batches, n_in), (1, batches, n_in), (batches, 1, 1, n_in)]))
        out_shape = (batches, n_out)
    si = 10 ** draw(st.floats(-3, 0))
    so = 10 ** draw(st.floats(-3, 0))
    # Weight scales put sqrt(n_in) * 128 * si * sw near so, within 1e-2..1e2: outputs span the range.
    base = so / (si * 128 * np.sqrt(n_in))
    n_scales = n_out if per_channel else 1
    w_scales = [base * 10 ** draw(st.floats(-2, 2)) for _ in range(n_scales)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.integers(-127, 128, size=(n_out, n_in), dtype=np.int8)
    bias = None
    if draw(st.booleans()):
        bias = rng.integers(-(2**14), 2**14, size=n_out, dtype=np.int32)
    # TFLite's FC keeps a per-tensor weight zero point for old models; the per-channel path ignores it.
    w_zp = 0 if draw(st.booleans()) else draw(st.integers(-20, 20))
    graph = fc_graph(
        in_shape,
        weights,
        bias,
        (si, draw(st.integers(-128, 127))),
        w_scales,
        w_zp,
        (so, draw(st.integers(-128, 127))),
        out_shape,
        draw(st.sampled_from(ACTIVATIONS)),
        keep_num_dims,
    )
    x = rng.integers(-128, 128, size=in_shape, dtype=np.int8)
    return graph, x


def float_oracle(graph: Graph, x: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
    """The real-valued FC, rounded to the output grid and clamped."""
    xt, wt, bt, yt = graph.tensors
    n_out, n_in = wt.shape
    w_scales = np.broadcast_to(np.asarray(wt.quant.scale), (n_out,))
    # Per-channel weights are symmetric: TFLM ignores their zero point.
    w_zp = 0 if wt.quant.per_channel else wt.zero_point
    xr = (x.reshape(-1, n_in).astype(np.float64) - xt.zero_point) * xt.scale
    wr = (wt.data.astype(np.float64) - w_zp) * w_scales[:, None]
    real = xr @ wr.T
    if bt.data is not None:
        real += bt.data * xt.scale * w_scales
    return np.clip(np.round(real / yt.scale) + yt.zero_point, act_min, act_max).reshape(yt.shape)


# ---------------------------------------------------------------- C == NumPy, NumPy == TFLM


@settings(max_examples=150, deadline=None)
@given(fc_cases())
def test_c_matches_reference(host_runtime, case):
    graph, x = case
    expected = run_reference(graph, x)
    np.testing.assert_array_equal(run_c(host_runtime, graph, x), expected)
    (call,) = lower(graph)
    assert call.macs == graph.tensors[1].size * (x.size // graph.tensors[1].shape[1])
    # The reference itself is TFLite's integer approximation of the real-valued FC.
    approx = float_oracle(graph, x, call.params.act_min, call.params.act_max)
    assert np.abs(expected.astype(np.int64) - approx).max() <= 1


@settings(max_examples=60, deadline=None)
@given(fc_cases())
def test_reference_matches_tflm(case):
    graph, x = case
    np.testing.assert_array_equal(run_reference(graph, x), run_tflm(graph, x))


def test_per_tensor_multiplier_is_double_product():
    """TFLM computes double(si) * double(sw) / double(so); TFLite 2.14 multiplies si * sw in float32.

    Search scales where the two give different outputs on a 256 x 255 grid of accumulators (every input
    value times every weight value), then check TFLM sides with double.
    """
    x = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    weights = np.arange(-127, 128, dtype=np.int8).reshape(255, 1)
    bias = np.random.default_rng(6).integers(-3000, 3000, size=255, dtype=np.int32)
    acc = (x.astype(np.int64) - 5) * weights.astype(np.int64).T + bias
    rng = np.random.default_rng(5)
    for _ in range(500):
        si, sw = (_f32(v) for v in 10 ** rng.uniform(-3, -1, size=2))
        so = _f32(si * sw * 10 ** rng.uniform(2, 3))
        m_f64 = quantize_multiplier(si * sw / so)
        m_f32 = quantize_multiplier(float(np.float32(si) * np.float32(sw)) / so)
        if (
            m_f32 != m_f64
            and (multiply_by_quantized_multiplier(acc, *m_f32) != multiply_by_quantized_multiplier(acc, *m_f64)).any()
        ):
            break
    else:
        pytest.skip("no scales found where float32 and double products give different outputs")
    graph = fc_graph((256, 1), weights, bias, (si, 5), (sw,), 0, (so, 0), (256, 255))
    (call,) = lower(graph)
    assert (call.params.output_multiplier, call.params.output_shift) == m_f64
    np.testing.assert_array_equal(run_reference(graph, x), run_tflm(graph, x))


def test_per_channel_uses_one_multiplier_per_output(host_runtime):
    rng = np.random.default_rng(11)
    weights = rng.integers(-127, 128, size=(6, 20), dtype=np.int8)
    scales = [0.001, 0.0037, 0.00055, 0.0021, 0.0093, 0.0031]
    graph = fc_graph(
        (3, 20), weights, rng.integers(-500, 500, size=6, dtype=np.int32), (0.05, 7), scales, 0, (0.08, -4), (3, 6)
    )
    (call,) = lower(graph)
    assert call.kernel == "fully_connected_per_channel_s8"
    assert [c.role for c in call.consts] == ["filter", "bias", "mult", "shift"]
    assert len(set(call.consts[2].data.tolist())) == 6
    x = rng.integers(-128, 128, size=(3, 20), dtype=np.int8)
    expected = run_tflm(graph, x)
    np.testing.assert_array_equal(run_reference(graph, x), expected)
    np.testing.assert_array_equal(run_c(host_runtime, graph, x), expected)


# ---------------------------------------------------------------- refusals


def _refusal_graph(**overrides) -> Graph:
    weights = np.ones((4, 8), dtype=np.int8)
    args = dict(
        in_shape=(2, 8),
        weights=weights,
        bias=np.zeros(4, dtype=np.int32),
        in_q=(0.1, 0),
        w_scales=(0.01,),
        w_zp=0,
        out_q=(0.2, 0),
        out_shape=(2, 4),
    )
    args.update(overrides)
    return fc_graph(**args)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(weights_format=1), "weights_format 1"),
        (dict(in_dtype="int16"), "int16 input"),
        (dict(in_shape=(2, 7)), "not a multiple of 8"),
        (dict(out_shape=(2, 5)), "does not match"),
        (dict(w_scales=(0.01,) * 4, in_shape=(1, 2, 8), out_shape=(1, 2, 4), keep_num_dims=True), "rank-3 output"),
        (dict(w_scales=(0.01,) * 8, w_axis=1), "on axis 1"),
        (dict(activation="TANH"), "TANH"),
    ],
)
def test_unsupported_configurations_are_refused(overrides, message):
    with pytest.raises(Unsupported, match=message):
        lower(_refusal_graph(**overrides))


def test_inconsistent_bias_scale_is_refused_like_tflm():
    graph = _refusal_graph()
    b = graph.tensors[2]
    graph.tensors[2] = Tensor(b.index, b.name, b.shape, b.dtype, Quantization((0.5,), (0,)), b.data)
    with pytest.raises(Unsupported, match="bias scale"):
        lower(graph)
    with pytest.raises(RuntimeError):
        run_tflm(graph, np.zeros((2, 8), dtype=np.int8))


def test_non_constant_weights_are_refused():
    graph = _refusal_graph()
    w = graph.tensors[1]
    graph.tensors[1] = Tensor(w.index, w.name, w.shape, w.dtype, w.quant, None)
    with pytest.raises(Unsupported, match="non-constant weights"):
        lower(graph)


# ---------------------------------------------------------------- real models


@pytest.mark.parametrize("name", ["tflm_hello_world_int8", "mlperf_ad01_int8"])
def test_model_matches_golden(host_runtime, shared_models, name):
    graph = read_tflite(shared_models / f"{name}.tflite")
    vec = np.load(shared_models / "vectors" / f"{name}.npz")
    assert {op.op_type for op in graph.operators} == {"FULLY_CONNECTED"}
    np.testing.assert_array_equal(run_reference(graph, vec["in0"]), vec["out0"])
    np.testing.assert_array_equal(run_c(host_runtime, graph, vec["in0"]), vec["out0"])


@pytest.mark.parametrize(
    "name",
    ["tflm_micro_speech_quantized", "tinyengine_mnist_lenet300_100", "tflm_test_conv_model", "tinyengine_mcunet_vww"],
)
def test_fc_layers_of_models_match_tflm(host_runtime, shared_models, name):
    """Each FC of a model, cut out with its real weights and quantization, on random inputs."""
    model = read_tflite(shared_models / f"{name}.tflite")
    rng = np.random.default_rng(0)
    fcs = [op for op in model.operators if op.op_type == "FULLY_CONNECTED"]
    assert fcs
    for op in fcs:
        x_t, w_t, b_t = model.op_inputs(op)
        (y_t,) = model.op_outputs(op)
        graph = fc_graph(
            x_t.shape,
            w_t.data,
            b_t.data,
            (x_t.scale, x_t.zero_point),
            w_t.quant.scale,
            w_t.zero_point,
            (y_t.scale, y_t.zero_point),
            y_t.shape,
            op.options["activation"],
            op.options["keep_num_dims"],
        )
        x = rng.integers(-128, 128, size=x_t.shape, dtype=np.int8)
        expected = run_tflm(graph, x)
        np.testing.assert_array_equal(run_reference(graph, x), expected)
        np.testing.assert_array_equal(run_c(host_runtime, graph, x), expected)
