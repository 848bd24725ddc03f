"""The int8 post-training quantizer (codegen/quantize) and the float .tflite frontend.

- Quantization parameters follow TFLite's rules (activation ranges, symmetric per-channel weights, biases).
- Random float graphs of every supported op: the float executor agrees with tflite-runtime's float kernels,
  and the quantized model written as .tflite gives bit for bit the same int8 outputs under tflite-runtime
  (BUILTIN_REF), TFLite Micro and the project's reference executor, and compiles.
- The float MLPerf ResNet-8 quantized on random calibration data builds and runs in the emulator, bit-exact
  with tflite-runtime on its quantized .tflite.
- Errors: missing or mismatched calibration data, unsupported ops, models too big for the board's flash.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codegen.emit.c_source import model_hash
from codegen.errors import CodegenError
from codegen.frontend.float_graph import FloatGraphBuilder
from codegen.frontend.float_passes import simplify
from codegen.frontend.tflite_float import float_graph_from_tflite, load_float_tflite
from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.pipeline import compile_graph
from codegen.quantize.calibrate import (
    CalibrationConfig,
    CalibrationData,
    collect_ranges,
    load_calibration,
    mse_range,
    percentile_range,
)
from codegen.quantize.float_executor import run_float
from codegen.quantize.ptq import QuantizeOptions, activation_quant, quantize_graph, quantize_weights
from codegen.quantize.report import build_report
from codegen.reference_executor import run_reference
from tests.support.model_factory import run_builtin_ref, run_tflm
from tools.cli import main

FLOAT_RESNET = "mlperf_ic_pretrainedResnet.tflite"


# ---- helpers shared with the frontend tests ---------------------------------------------------------------------


def quantize_for_test(graph: Graph, samples: np.ndarray, method: str = "minmax",
                      int8_io: bool = False) -> tuple[Graph, bytes]:
    ranges = collect_ranges(graph, CalibrationData([samples], None), CalibrationConfig(method=method))
    model = quantize_graph(graph, ranges, QuantizeOptions(int8_io=int8_io))
    buf = write_tflite(model.graph)
    return parse_tflite(buf, graph.name), buf


def build_float_model(model: Path | str, calib: Path, out: Path, *extra: str) -> None:
    """`codegen build` of a float model for nucleo-f746 (without the measuring run)."""
    status = main(["build", "--board", "nucleo-f746", "--model", str(model), "--calib", str(calib),
                   "--out", str(out), "--no-measure", *extra])
    assert status == 0


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """x as the model's input tensor takes it: float unchanged, or quantized with the input's parameters."""
    t = graph.tensor(graph.inputs[0])
    if t.dtype == "float32":
        return x.astype(np.float32).reshape(t.shape)
    q = np.clip(np.floor(x / t.scale + 0.5) + t.zero_point, -128, 127)
    return q.astype(NUMPY_DTYPES[t.dtype]).reshape(t.shape)


def emulate_and_compare(build_dir: Path, samples: np.ndarray) -> list[np.ndarray]:
    """Run each sample on the build's emulated firmware; each output must equal tflite-runtime's (BUILTIN_REF)
    on the build's quantized model.tflite, bit for bit. Returns the device outputs."""
    from tools.link.emulator import Emulator

    buf = (build_dir / "model.tflite").read_bytes()
    graph = parse_tflite(buf, "model")
    out_t = graph.tensor(graph.outputs[0])
    outputs = []
    with Emulator(build_dir / "emulated" / "firmware.elf") as emu:
        emu.link.expect_model(model_hash(buf))
        for x in samples:
            inp = quantize_input(graph, x)
            raw, stats = emu.link.infer([inp])
            got = np.frombuffer(raw[0], dtype=NUMPY_DTYPES[out_t.dtype]).reshape(out_t.shape)
            want = run_builtin_ref(buf, [inp])[0]
            np.testing.assert_array_equal(got, want.reshape(out_t.shape), err_msg="firmware != tflite-runtime")
            assert stats.ticks > 0
            outputs.append(got)
    return outputs


# ---- quantization parameters --------------------------------------------------------------------------------------


@given(st.floats(-100, 0), st.floats(0, 100))
@example(-1.0, 0.2)  # the float32 scale's rounding puts the top 8e-9 under half a step
def test_activation_quant_covers_the_range_and_represents_zero(lo: float, hi: float):
    q = activation_quant(lo, hi)
    scale, zp = q.scale[0], q.zero_point[0]
    assert -128 <= zp <= 127 and scale > 0
    if hi - lo > 1e-5:
        assert scale == pytest.approx((hi - lo) / 255.0, rel=1e-6)
        # The representable range is the calibrated one, shifted by at most half a step by the nudging (up to
        # the float32 rounding of the stored scale, ~1e-7 relative, times up to 255 steps).
        slack = 1e-9 + 255 * 1e-7 * scale
        assert scale * (-128 - zp) <= lo + 0.5 * scale + slack
        assert scale * (127 - zp) >= hi - 0.5 * scale - slack


def test_activation_quant_matches_tflite_conventions():
    relu = activation_quant(0.0, 6.0)
    assert relu.zero_point == (-128,) and relu.scale[0] == np.float32(6.0 / 255.0)
    symmetric = activation_quant(-1.0, 1.0)
    assert symmetric.zero_point[0] in (-1, 0)
    assert activation_quant(0.5, 2.0).zero_point == (-128,)  # widened to include 0
    assert activation_quant(-3.0, -1.0).zero_point == (127,)
    assert activation_quant(0.0, 0.0).scale[0] > 0 and activation_quant(0.0, 1e-300).scale[0] > 0


@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_per_channel_weights_are_symmetric_with_max_over_127(cout: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((cout, k, k, 3)) * rng.uniform(0.01, 10, size=(cout, 1, 1, 1))
    w[0] = 0.0 if cout > 1 else w[0]
    q, scales = quantize_weights(w, 0)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    for c in range(cout):
        m = np.abs(w[c]).max()
        if m == 0:
            assert scales[c] == 1.0 and not q[c].any()
        else:
            assert scales[c] == pytest.approx(m / 127.0, rel=1e-6)
            assert np.abs(q[c]).max() == 127
            assert np.abs(q[c] * scales[c] - w[c]).max() <= 0.5 * scales[c] * (1 + 1e-5)
    q1, s1 = quantize_weights(w, None)
    assert len(s1) == 1 and s1[0] == pytest.approx(np.abs(w).max() / 127.0, rel=1e-6)


def _quantization_mse(values: np.ndarray, lo: float, hi: float) -> float:
    q = activation_quant(lo, hi)
    scale, zp = q.scale[0], q.zero_point[0]
    back = (np.clip(np.floor(values / scale + 0.5) + zp, -128, 127) - zp) * scale
    return float(np.mean((back - values) ** 2))


def test_percentile_and_mse_ranges_clip_heavy_tails():
    rng = np.random.default_rng(0)
    values = rng.laplace(0.0, 1.0, 200_000)
    lo, hi = float(values.min()), float(values.max())
    hist = np.histogram(values, bins=2048, range=(lo, hi))[0]
    p_lo, p_hi = percentile_range(hist, lo, hi, 99.9)
    want_lo, want_hi = np.percentile(values, [0.1, 99.9])
    step = (hi - lo) / 2048
    assert want_lo - 2 * step <= p_lo <= want_lo and want_hi <= p_hi <= want_hi + 2 * step  # rounded outward
    m_lo, m_hi = mse_range(hist, lo, hi)
    assert lo < m_lo < 0 < m_hi < hi
    assert _quantization_mse(values, m_lo, m_hi) < 0.8 * _quantization_mse(values, lo, hi)


# ---- random float graphs of every op ---------------------------------------------------------------------------


def _conv(b: FloatGraphBuilder, x: int, rng: np.random.Generator, draw: st.DrawFn, depthwise: bool) -> int:
    _, h, w, c = b.shape(x)
    k = draw(st.sampled_from([1, 3]))
    stride = draw(st.sampled_from([1, 2]))
    padding = "SAME" if min(h, w) < k + stride else draw(st.sampled_from(["SAME", "VALID"]))
    act = draw(st.sampled_from(["NONE", "RELU", "RELU6"]))
    if depthwise:
        mult = draw(st.sampled_from([1, 2]))
        weights = rng.standard_normal((1, k, k, c * mult)).astype(np.float32)
    else:
        weights = (rng.standard_normal((draw(st.integers(1, 6)), k, k, c)) / math.sqrt(k * k * c)).astype(np.float32)
    bias = rng.normal(0, 0.3, weights.shape[3] if depthwise else weights.shape[0]).astype(np.float32)
    return b.conv2d(x, weights, bias, f"conv{len(b.operators)}", (stride, stride), (1, 1), padding, act, depthwise)


def _layer(kind: str, b: FloatGraphBuilder, x: int, rng: np.random.Generator, draw: st.DrawFn) -> int:
    n, h, w, c = b.shape(x)
    name = f"{kind}{len(b.operators)}"
    if kind in ("conv", "depthwise"):
        return _conv(b, x, rng, draw, kind == "depthwise")
    if kind == "batchnorm":  # MUL + ADD by per-channel constants (folded when after a conv)
        scaled = b.unary("MUL", x, f"{name}/scale", extra_inputs=(b.const("g", rng.uniform(0.5, 2, c)),),
                         activation="NONE")
        return b.unary("ADD", scaled, name, extra_inputs=(b.const("b", rng.normal(0, 0.5, c)),), activation="NONE")
    if kind == "residual":
        y = b.conv2d(x, (rng.standard_normal((c, 3, 3, c)) / (3 * math.sqrt(c))).astype(np.float32),
                     None, f"{name}/conv", (1, 1), (1, 1), "SAME")
        return b.unary("ADD", x, name, extra_inputs=(y,), activation=draw(st.sampled_from(["NONE", "RELU"])))
    if kind == "relu":
        return b.unary(draw(st.sampled_from(["RELU", "RELU6", "RELU_N1_TO_1"])), x, name)
    if kind == "concat":
        other = b.unary("RELU", x, f"{name}/relu")
        y = b.activation(name, (n, h, w, 2 * c))
        b.op("CONCATENATION", (x, other), (y,), axis=3, activation="NONE")
        return y
    if kind in ("maxpool", "avgpool"):
        if min(h, w) < 2:
            return x
        padding = draw(st.sampled_from(["SAME", "VALID"]))
        op = "MAX_POOL_2D" if kind == "maxpool" else "AVERAGE_POOL_2D"
        return b.pool(op, x, name, (2, 2), (draw(st.sampled_from([1, 2])),) * 2, padding)
    if kind == "pad":
        return b.pad(x, [(0, 0), (1, 0), (0, 2), (0, 0)], name)
    if kind == "transpose":
        return b.transpose(x, (0, 2, 1, 3), name)
    if kind == "mul":
        return b.unary("MUL", x, name, extra_inputs=(x,), activation="NONE")
    if kind == "logistic":
        return b.unary("LOGISTIC", x, name)
    raise AssertionError(kind)


_KINDS = ("conv", "depthwise", "batchnorm", "residual", "relu", "concat", "maxpool", "avgpool", "pad", "transpose",
          "mul", "logistic")


@st.composite
def float_graphs(draw: st.DrawFn) -> Graph:
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    b = FloatGraphBuilder("random")
    x = b.activation("input", (1, draw(st.integers(3, 8)), draw(st.integers(3, 8)), draw(st.integers(1, 4))))
    y = x
    for kind in draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=4)):
        y = _layer(kind, b, y, rng, draw)
    head = draw(st.sampled_from(["none", "fc", "fc_softmax", "mean", "log_softmax"]))
    if head in ("fc", "fc_softmax"):
        flat = b.reshape(y, (1, int(np.prod(b.shape(y)))), "flatten")
        y = b.fully_connected(flat, (rng.standard_normal((5, b.shape(flat)[1])) / 3).astype(np.float32),
                              rng.normal(0, 0.2, 5).astype(np.float32), "fc")
        if head == "fc_softmax":
            y = b.unary("SOFTMAX", y, "softmax", beta=1.0)
    elif head == "mean":
        axes = b.const("axes", np.array([1, 2], np.int32), "int32")
        y = b.unary("MEAN", y, "mean", (1, b.shape(y)[3]), (axes,), keep_dims=False)
    elif head == "log_softmax":
        y = b.unary("LOG_SOFTMAX", y, "log_softmax")
    return simplify(b.build([x], [y]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(float_graphs(), st.sampled_from(["minmax", "percentile", "mse"]), st.booleans(), st.integers(0, 2**31 - 1))
def test_random_float_graphs_quantize_bit_exact_across_runtimes(graph: Graph, method: str, int8_io: bool, seed: int):
    rng = np.random.default_rng(seed)
    shape = graph.tensor(graph.inputs[0]).shape
    samples = rng.standard_normal((12, *shape[1:])).astype(np.float32)
    # The float executor is TFLite's float semantics.
    float_buf = write_tflite(graph, allow_lossy=True)  # the writer lacks RELU_N1_TO_1, which has no options
    want = run_builtin_ref(float_buf, [samples[:1]])[0]
    got = run_float(graph, [samples[:1]])[graph.outputs[0]]
    np.testing.assert_allclose(got, want.reshape(got.shape), rtol=1e-4, atol=1e-4)

    qgraph, buf = quantize_for_test(graph, samples, method, int8_io)
    assert all(t.dtype != "float32" for op in qgraph.operators if op.op_type not in ("QUANTIZE", "DEQUANTIZE")
               for t in (qgraph.tensor(i) for i in op.inputs if i >= 0))
    compile_graph(qgraph, buf)  # lowers, plans and emits without complaint
    for x in samples[:3]:
        inp = quantize_input(qgraph, x)
        ours = run_reference(qgraph, [inp])[0]
        np.testing.assert_array_equal(run_builtin_ref(buf, [inp])[0].reshape(ours.shape), ours)
        np.testing.assert_array_equal(run_tflm(buf, [inp], qgraph)[0].reshape(ours.shape), ours)


def test_weights_and_biases_follow_tflite_rules():
    rng = np.random.default_rng(1)
    b = FloatGraphBuilder("rules")
    x = b.activation("input", (1, 6, 6, 3))
    y = b.conv2d(x, rng.standard_normal((4, 3, 3, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32),
                 "conv", (1, 1), (1, 1), "SAME", "RELU")
    z = b.conv2d(y, rng.standard_normal((1, 3, 3, 8)).astype(np.float32), None, "dw", (2, 2), (1, 1), "SAME",
                 depthwise=True)
    p = b.pool("MAX_POOL_2D", z, "pool", (3, 3), (1, 1), "VALID")
    flat = b.reshape(p, (1, 8), "flatten")
    fc = b.fully_connected(flat, rng.standard_normal((3, 8)).astype(np.float32), None, "fc")
    s = b.unary("SOFTMAX", fc, "softmax", beta=1.0)
    graph = simplify(b.build([x], [s]))
    qgraph, _ = quantize_for_test(graph, rng.standard_normal((8, 6, 6, 3)).astype(np.float32))
    ops = {op.op_type: op for op in qgraph.operators}
    conv, dw, fully = ops["CONV_2D"], ops["DEPTHWISE_CONV_2D"], ops["FULLY_CONNECTED"]
    cw, db = qgraph.tensor(conv.inputs[1]), qgraph.tensor(dw.inputs[2])
    assert cw.dtype == "int8" and len(cw.quant.scale) == 4 and cw.quant.axis == 0 and set(cw.quant.zero_point) == {0}
    assert qgraph.tensor(dw.inputs[1]).quant.axis == 3 and len(qgraph.tensor(dw.inputs[1]).quant.scale) == 8
    assert not qgraph.tensor(fully.inputs[1]).quant.per_channel  # FULLY_CONNECTED: per tensor by default
    in_scale = qgraph.tensor(dw.inputs[0]).scale
    assert db.dtype == "int32" and db.quant.scale == tuple(
        float(np.float32(in_scale * s)) for s in qgraph.tensor(dw.inputs[1]).quant.scale)
    assert qgraph.tensor(conv.outputs[0]).zero_point == -128  # ReLU output range starts at 0
    assert qgraph.tensor(ops["MAX_POOL_2D"].outputs[0]).quant == qgraph.tensor(dw.outputs[0]).quant
    assert qgraph.tensor(ops["RESHAPE"].outputs[0]).quant == qgraph.tensor(dw.outputs[0]).quant
    assert qgraph.tensor(ops["SOFTMAX"].outputs[0]).quant.scale == (1.0 / 256.0,)
    assert qgraph.tensor(ops["SOFTMAX"].outputs[0]).zero_point == -128
    assert [op.op_type for op in qgraph.operators][0] == "QUANTIZE" and qgraph.operators[-1].op_type == "DEQUANTIZE"
    assert qgraph.tensor(qgraph.inputs[0]).dtype == "float32" and qgraph.tensor(qgraph.outputs[0]).dtype == "float32"


def test_standalone_relu_becomes_an_exact_requantization():
    b = FloatGraphBuilder("relu")
    x = b.activation("input", (1, 4, 4, 2))
    r = b.unary("RELU6", x, "relu6")
    y = b.activation("cat", (1, 4, 4, 4))
    b.op("CONCATENATION", (x, r), (y,), axis=3, activation="NONE")
    graph = simplify(b.build([x], [y]))
    samples = np.linspace(-8, 8, 12 * 32, dtype=np.float32).reshape(12, 4, 4, 2)
    qgraph, buf = quantize_for_test(graph, samples)
    assert "RELU6" not in [op.op_type for op in qgraph.operators]
    out = run_builtin_ref(buf, [samples[:1]])[0]
    out_t = qgraph.tensor(qgraph.operators[-1].inputs[0])
    relu_half = (out[..., 2:].astype(np.float64))
    assert relu_half.min() >= 0.0 and relu_half.max() <= 6.0 + out_t.scale
    np.testing.assert_allclose(relu_half, np.clip(samples[:1], 0, 6), atol=out_t.scale)


def test_report_quantizes_the_inputs_of_int8_io_models():
    rng = np.random.default_rng(3)
    b = FloatGraphBuilder("io")
    x = b.activation("input", (1, 6, 6, 2))
    y = b.conv2d(x, rng.standard_normal((3, 3, 3, 2)).astype(np.float32), None, "conv", (1, 1), (1, 1), "SAME")
    graph = simplify(b.build([x], [y]))
    data = CalibrationData([rng.standard_normal((16, 6, 6, 2)).astype(np.float32)], None)
    ranges = collect_ranges(graph, data, CalibrationConfig())
    reports = [build_report(quantize_graph(graph, ranges, QuantizeOptions(int8_io=io)), data) for io in (False, True)]
    assert reports[0].input_sqnr_db > 35 and reports[0].output_sqnr_db > 30
    assert reports[1].input_sqnr_db == pytest.approx(reports[0].input_sqnr_db)
    assert reports[1].output_sqnr_db == pytest.approx(reports[0].output_sqnr_db)


# ---- the float ResNet-8 ----------------------------------------------------------------------------------------


def test_float_resnet8_quantizes_with_random_calibration(shared_models):
    graph = load_float_tflite(shared_models / FLOAT_RESNET)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (48, 32, 32, 3)).astype(np.float32)
    model_bytes = (shared_models / FLOAT_RESNET).read_bytes()
    np.testing.assert_allclose(run_float(graph, [x[:2]])[graph.outputs[0]],
                               np.concatenate([run_builtin_ref(model_bytes, [x[i:i + 1]])[0] for i in range(2)]),
                               atol=1e-5)
    data = CalibrationData([x[:32]], None)
    model = quantize_graph(graph, collect_ranges(graph, data, CalibrationConfig()))
    report = build_report(model, CalibrationData([x[32:]], None))
    assert report.top1_agreement is not None and report.top1_agreement >= 0.8
    assert report.output_sqnr_db is not None and report.output_sqnr_db > 10
    assert len(report.layers) == len(graph.operators) and sum(lr.flagged for lr in report.layers) <= 3


@pytest.mark.emulator
def test_float_resnet8_builds_and_runs_bit_exact(shared_models, tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.uniform(0, 1, (64, 32, 32, 3)).astype(np.float32))
    build_float_model(shared_models / FLOAT_RESNET, tmp_path / "calib.npz", tmp_path / "build")
    printed = capsys.readouterr().out
    assert "float vs int8 top-1 agreement" in printed and "SQNR" in printed
    info = json.loads((tmp_path / "build" / "quantization.json").read_text())
    assert info["top1_agreement"] >= 0.8 and info["samples"] == 64
    emulate_and_compare(tmp_path / "build", rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32))


# ---- errors ---------------------------------------------------------------------------------------------------


def _tiny_float_tflite(path: Path, op_type: str = "RELU", features: int = 4, out_features: int = 3) -> Path:
    b = FloatGraphBuilder(path.stem)
    x = b.activation("input", (1, features))
    y = b.fully_connected(x, np.ones((out_features, features), np.float32) * 0.01, None, "fc")
    z = b.unary(op_type, y, "act")
    path.write_bytes(write_tflite(b.build([x], [z])))
    return path


def test_calibration_data_errors(tmp_path):
    graph = float_graph_from_tflite(read_tflite(_tiny_float_tflite(tmp_path / "m.tflite")))
    with pytest.raises(CodegenError, match="does not exist"):
        load_calibration(tmp_path / "missing.npz", graph)
    np.savez(tmp_path / "nox.npz", inputs=np.zeros((2, 4), np.float32))
    with pytest.raises(CodegenError, match="has no array x"):
        load_calibration(tmp_path / "nox.npz", graph)
    np.savez(tmp_path / "shape.npz", x=np.zeros((2, 5), np.float32))
    with pytest.raises(CodegenError, match=r"expected \(N, 4\)"):
        load_calibration(tmp_path / "shape.npz", graph)
    np.savez(tmp_path / "int.npz", x=np.zeros((2, 4), np.uint8))
    with pytest.raises(CodegenError, match="uint8; the float model takes float32"):
        load_calibration(tmp_path / "int.npz", graph)
    np.savez(tmp_path / "nan.npz", x=np.full((2, 4), np.nan, np.float32))
    with pytest.raises(CodegenError, match="NaN"):
        load_calibration(tmp_path / "nan.npz", graph)
    np.savez(tmp_path / "labels.npz", x=np.zeros((2, 4), np.float32), y=np.zeros(3, np.int64))
    with pytest.raises(CodegenError, match="labels"):
        load_calibration(tmp_path / "labels.npz", graph)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CodegenError, match="cannot read calibration data"):
        load_calibration(tmp_path / "junk.npz", graph)


def test_nchw_calibration_data_gets_a_hint(tmp_path):
    b = FloatGraphBuilder("img")
    x = b.activation("input", (1, 8, 8, 3))
    graph = b.build([x], [b.unary("RELU", x, "r")])
    np.savez(tmp_path / "c.npz", x=np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(CodegenError, match=r"looks NCHW.*transpose\(0, 2, 3, 1\)"):
        load_calibration(tmp_path / "c.npz", graph)


def _cli(capsys, *args: str) -> tuple[int, str]:
    status = main(list(args))
    return status, capsys.readouterr().err


def test_cli_float_model_without_calibration_is_refused(tmp_path, capsys):
    model = _tiny_float_tflite(tmp_path / "m.tflite")
    status, err = _cli(capsys, "build", "--board", "nucleo-f746", "--model", str(model), "--out", str(tmp_path / "o"))
    assert status == 2 and "operator 0 (FULLY_CONNECTED) computes in float32" in err and "--calib" in err
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 7), np.float32))
    status, err = _cli(capsys, "build", "--board", "nucleo-f746", "--model", str(model), "--calib",
                       str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o"))
    assert status == 1 and "has shape (3, 7): expected (N, 4)" in err
    assert not (tmp_path / "o").exists()


def test_cli_unsupported_float_op_is_named(tmp_path, capsys):
    model = _tiny_float_tflite(tmp_path / "m.tflite", op_type="TANH")
    np.savez(tmp_path / "c.npz", x=np.zeros((3, 4), np.float32))
    status, err = _cli(capsys, "build", "--board", "nucleo-f746", "--model", str(model), "--calib",
                       str(tmp_path / "c.npz"), "--out", str(tmp_path / "o"))
    assert status == 2 and "operator 1 (TANH) producing 'act'" in err


def test_cli_model_larger_than_flash_is_refused(tmp_path, capsys):
    model = _tiny_float_tflite(tmp_path / "big.tflite", features=1024, out_features=1100)
    np.savez(tmp_path / "c.npz", x=np.ones((2, 1024), np.float32))
    status, err = _cli(capsys, "build", "--board", "nucleo-f746", "--model", str(model), "--calib",
                       str(tmp_path / "c.npz"), "--out", str(tmp_path / "o"))
    assert status == 3 and "1,130,800 bytes of flash" in err and "1,048,576" in err


def test_int8_model_goes_straight_to_the_command(shared_models, tmp_path, capsys):
    from argparse import Namespace

    from codegen.quantize.command import with_quantized_model

    np.savez(tmp_path / "c.npz", x=np.zeros((1, 2), np.float32))
    model = shared_models / "tflm_network_tester_model.tflite"
    seen = []
    args = Namespace(model=model, calib=tmp_path / "c.npz")
    assert with_quantized_model(args, lambda a: seen.append(a.model) or 0) == 0
    assert seen == [model]
    assert "already int8; --calib is ignored" in capsys.readouterr().err
