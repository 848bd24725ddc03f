"""UNIDIRECTIONAL_SEQUENCE_LSTM int8 (int16 cell state): the C kernel against the NumPy reference, the reference
against TFLite Micro on models written with codegen.frontend.tflite_writer, and the real micro_speech LSTM.

Each case is a one-LSTM IR graph lowered with the family's own lowering, so the multipliers TFLM derives are
under test too. Every check runs several consecutive invokes, carrying both states.
"""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.sequence import lstm
from codegen.reference_executor import run_reference
from tests.support.single_op import run_tflm_steps as run_tflm

MODELS = Path(__file__).resolve().parents[5] / "shared" / "models"
INVOKES = 3
HIDDEN, CELL, OUT = 18, 19, 20  # tensor indices in lstm_graph


def _f32(x: float) -> float:
    return float(np.float32(x))


def lstm_graph(rng: np.random.Generator, batches: int, steps: int, n_in: int, units: int, time_major: bool,
               s_x: float, z_x: int, s_h: float, z_h: int, gain: tuple[float, float], cell_power: int,
               cell_clip: float = 0.0, act: str = "int8") -> Graph:
    """Tensors 0 input, 1-8 weights, 9-12 biases (TFLite's inputs 12-15), 18 hidden, 19 cell, 20 output.
    `gain` sets the typical size of the input and recurrent contributions to a gate pre-activation (in real
    units), from which the weight scales follow. act "int16" makes the 16x8 variant (int16 activations and
    hidden state, int64 biases; zero points are then forced to 0)."""
    mag = 64 if act == "int8" else 16384  # a typical input or hidden magnitude in LSBs
    if act == "int16":
        z_x = z_h = 0
    s_x, s_h = _f32(s_x), _f32(s_h)
    shape = (steps, batches, n_in) if time_major else (batches, steps, n_in)
    tensors = [Tensor(0, "x", shape, act, Quantization((s_x,), (z_x,)))]
    w_in_scale = _f32(gain[0] / (math.sqrt(n_in) * 64 * mag * s_x))
    w_rec_scale = _f32(gain[1] / (math.sqrt(units) * 64 * mag * s_h))
    for k in range(4):
        w = rng.integers(-127, 128, (units, n_in), dtype=np.int8)
        tensors.append(Tensor(1 + k, f"w_in{k}", w.shape, "int8", Quantization((w_in_scale,), (0,)), w))
    for k in range(4):
        w = rng.integers(-127, 128, (units, units), dtype=np.int8)
        tensors.append(Tensor(5 + k, f"w_rec{k}", w.shape, "int8", Quantization((w_rec_scale,), (0,)), w))
    b_scale = _f32(s_x * w_in_scale)
    b_range = int(min(2**30, 2.0 / b_scale))  # biases up to +-2 in real units
    for k in range(4):
        b = rng.integers(-b_range, b_range + 1, units).astype(np.int32 if act == "int8" else np.int64)
        tensors.append(Tensor(9 + k, f"bias{k}", (units,), str(b.dtype), Quantization((b_scale,), (0,)), b))
    for i in range(13, 18):  # padding so that indices 18.. are stable; never referenced
        tensors.append(Tensor(i, f"unused{i}", (1,), "int8", Quantization((1.0,), (0,)), np.zeros(1, np.int8)))
    tensors.append(Tensor(HIDDEN, "hidden", (batches, units), act, Quantization((s_h,), (z_h,)),
                          is_variable=True))
    tensors.append(Tensor(CELL, "cell", (batches, units), "int16", Quantization((2.0**cell_power,), (0,)),
                          is_variable=True))
    y_shape = (shape[0], shape[1], units)
    tensors.append(Tensor(OUT, "y", y_shape, act, Quantization((s_h,), (z_h,))))
    inputs = (0, 1, 2, 3, 4, 5, 6, 7, 8, -1, -1, -1, 9, 10, 11, 12, -1, -1, HIDDEN, CELL, -1, -1, -1, -1)
    options = {"activation": "TANH", "cell_clip": cell_clip, "proj_clip": 0.0, "time_major": time_major,
               "asymmetric_quantize_inputs": False}
    op = Operator(0, "UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, (OUT,), options)
    graph = Graph(tensors, [op], (0,), (OUT,), name="lstm_case")
    return graph


@st.composite
def cases(draw, act: str = "int8"):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    batches, steps = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    n_in, units = draw(st.integers(1, 24)), draw(st.integers(1, 12))
    time_major = draw(st.booleans())
    s_x = draw(st.floats(0.005, 1.0)) / (1 if act == "int8" else 256)
    s_h = draw(st.sampled_from([1 / 128, 1 / 256, 0.01, 0.02])) / (1 if act == "int8" else 256)
    gain = (draw(st.floats(0.1, 6.0)), draw(st.floats(0.1, 6.0)))
    cell_power = draw(st.integers(-17, -8))
    clip = draw(st.sampled_from([0.0, 0.0, 0.5, 3.0, 10.0]))
    graph = lstm_graph(rng, batches, steps, n_in, units, time_major, s_x, draw(st.integers(-128, 127)), s_h,
                       draw(st.integers(-128, 127)), gain, cell_power, clip, act)
    dtype = np.int8 if act == "int8" else np.int16
    info = np.iinfo(dtype)
    xs = [rng.integers(info.min, info.max + 1, graph.tensor(0).shape, dtype=dtype) for _ in range(INVOKES)]
    return graph, xs


def run_c(lib: ctypes.CDLL, graph: Graph, xs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    (call,) = lstm.LOWERINGS["UNIDIRECTIONAL_SEQUENCE_LSTM"](graph.operators[0], graph)
    fn = getattr(lib, call.kernel)
    fn.restype = None
    act = np.int8 if call.kernel == "lstm_s8" else np.int16
    struct = call.params.to_ctypes()
    # in place, as the generated code passes them; TFLM resets an int8 variable tensor to its zero point
    hidden = np.full(graph.tensor(HIDDEN).shape, graph.tensor(HIDDEN).zero_point, act)
    cell = np.zeros(graph.tensor(CELL).shape, np.int16)
    consts = [np.ascontiguousarray(c.data) for c in call.consts]
    scratch = np.zeros(call.scratch_bytes, np.int8)
    outs = []
    for x in xs:
        x = np.ascontiguousarray(x)
        y = np.zeros(graph.tensor(OUT).shape, act)
        h, c = ctypes.c_void_p(hidden.ctypes.data), ctypes.c_void_p(cell.ctypes.data)
        fn(ctypes.byref(struct), ctypes.c_void_p(x.ctypes.data), h, c,
           *[ctypes.c_void_p(k.ctypes.data) for k in consts], ctypes.c_void_p(y.ctypes.data), h, c,
           ctypes.c_void_p(scratch.ctypes.data))
        outs.append(y)
    return outs, hidden, cell


def run_ref(graph: Graph, xs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    state: dict[int, np.ndarray] = {}
    outs = [run_reference(graph, [x], state=state)[0] for x in xs]
    return outs, state[HIDDEN], state[CELL]


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
def test_c_matches_reference(lib, case):
    graph, xs = case
    got, got_h, got_c = run_c(lib, graph, xs)
    want, want_h, want_c = run_ref(graph, xs)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g, w, err_msg=f"invoke {i}")
    np.testing.assert_array_equal(got_h, want_h)
    np.testing.assert_array_equal(got_c, want_c)


@settings(max_examples=int(__import__("os").environ.get("LSTM_EXAMPLES", 40)), deadline=None)
@given(cases())
def test_reference_matches_tflite_micro(case):
    graph, xs = case
    want = run_tflm(graph, xs)
    got, _, _ = run_ref(graph, xs)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g, w.reshape(g.shape), err_msg=f"invoke {i}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases("int16"))
def test_16x8_c_matches_reference(lib, case):
    graph, xs = case
    got, got_h, got_c = run_c(lib, graph, xs)
    want, want_h, want_c = run_ref(graph, xs)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g, w, err_msg=f"invoke {i}")
    np.testing.assert_array_equal(got_h, want_h)
    np.testing.assert_array_equal(got_c, want_c)


@settings(max_examples=int(__import__("os").environ.get("LSTM_EXAMPLES", 30)), deadline=None)
@given(cases("int16"))
def test_16x8_reference_matches_tflite_micro(case):
    graph, xs = case
    want = run_tflm(graph, xs)
    got, _, _ = run_ref(graph, xs)
    assert got[0].dtype == np.int16
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_array_equal(g, w.reshape(g.shape), err_msg=f"invoke {i}")


def test_state_is_carried_between_invokes():
    """The same input twice gives different outputs once the states hold the first: the states matter, and
    the outputs span many levels (the case is not saturated)."""
    rng = np.random.default_rng(3)
    graph = lstm_graph(rng, 1, 4, 10, 8, False, 0.05, 3, 1 / 128, -1, (2.0, 2.0), -11, 10.0)
    x = rng.integers(-128, 128, (1, 4, 10), dtype=np.int8)
    outs, _, cell = run_ref(graph, [x, x, x])
    assert not np.array_equal(outs[0], outs[1])
    assert len(np.unique(np.concatenate([o.ravel() for o in outs]))) > 20 and np.any(cell != 0)
    np.testing.assert_array_equal(outs, [o.reshape(outs[0].shape) for o in run_tflm(graph, [x, x, x])])


def test_written_model_round_trips_options():
    graph = lstm_graph(np.random.default_rng(0), 2, 3, 4, 5, True, 0.1, 0, 1 / 128, 0, (1.0, 1.0), -12, 2.5)
    back = parse_tflite(write_tflite(graph), "lstm_case")
    assert back.operators[0].options == {"activation": "TANH", "cell_clip": 2.5, "proj_clip": 0.0,
                                         "time_major": True, "asymmetric_quantize_inputs": False,
                                         "diagonal_recurrent_tensors": False}
    assert [t.is_variable for t in back.tensors][HIDDEN:] == [True, True, False]
    graph.operators[0].options.update(diagonal_recurrent_tensors=True, proj_clip=1.5, time_major=False)
    options = parse_tflite(write_tflite(graph), "lstm_case").operators[0].options
    assert options["diagonal_recurrent_tensors"] and options["proj_clip"] == 1.5 and not options["time_major"]


def _drop(position: int):
    def change(g: Graph) -> None:
        op = g.operators[0]
        op.inputs = tuple(-1 if k == position else i for k, i in enumerate(op.inputs))
    return change


def _add(position: int):
    def change(g: Graph) -> None:
        op = g.operators[0]
        op.inputs = tuple(5 if k == position else i for k, i in enumerate(op.inputs))
    return change


@pytest.mark.parametrize("change, message", [
    (_drop(1), "CIFG"),
    (_add(9), "peephole"),
    (_add(16), "projection"),
    (_add(20), "layer normalisation"),
    (lambda g: setattr(g.tensors[CELL], "is_variable", False), "cell state is not a variable"),
    (lambda g: setattr(g.tensors[CELL], "quant", Quantization((0.001,), (0,))), "not a power of two"),
    (lambda g: setattr(g.tensors[CELL], "dtype", "int8"), "int16 only"),
    (lambda g: setattr(g.tensors[OUT], "quant", Quantization((0.5,), (0,))), "differs from the hidden"),
    (lambda g: g.operators[0].options.update(activation="RELU"), "fused activation RELU"),
    (lambda g: g.operators[0].options.update(asymmetric_quantize_inputs=True), "asymmetric_quantize_inputs"),
    (lambda g: setattr(g.tensors[2], "quant", Quantization((0.01,), (3,))), "zero point 3"),
    (lambda g: setattr(g.tensors[HIDDEN], "dtype", "int16"), "all int8, or all int16"),
    (lambda g: g.operators[0].options.update(diagonal_recurrent_tensors=True), "diagonal recurrent"),
    (lambda g: setattr(g.tensors[9], "dtype", "int64"), "constant int32"),
])
def test_refusals(change, message):
    """Each change makes the int8 case one the family refuses, with a reason naming what."""
    graph = lstm_graph(np.random.default_rng(0), 1, 2, 4, 3, False, 0.1, 0, 1 / 128, 0, (1.0, 1.0), -12)
    change(graph)
    with pytest.raises(Unsupported, match=message):
        lstm.LOWERINGS["UNIDIRECTIONAL_SEQUENCE_LSTM"](graph.operators[0], graph)


def micro_speech_lstm() -> Path:
    path = MODELS / "tflm_micro_speech_lstm.tflite"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_micro_speech_lstm_layer_matches_tflite_micro():
    """The real model's LSTM alone (49 steps, 257 inputs, 80 units, cell clip 10): its output (before the
    classifier saturates it) equals TFLM's over the golden input and 2 more invokes carrying state."""
    graph = read_tflite(micro_speech_lstm())
    assert graph.operators[0].op_type == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    graph.operators = graph.operators[:1]
    graph.outputs = graph.operators[0].outputs
    golden = np.load(MODELS / "vectors" / "tflm_micro_speech_lstm.npz")
    rng = np.random.default_rng(0)
    xs = [golden["in0"]] + [rng.integers(-128, 128, (1, 49, 257), dtype=np.int8) for _ in range(2)]
    want = run_tflm(graph, xs)
    state: dict[int, np.ndarray] = {}
    for i, (x, w) in enumerate(zip(xs, want, strict=True)):
        got = run_reference(graph, [x], state=state)[0]
        np.testing.assert_array_equal(got, w.reshape(got.shape), err_msg=f"invoke {i}")
        assert len(np.unique(got)) > 20


def test_micro_speech_lstm_golden():
    golden = np.load(MODELS / "vectors" / "tflm_micro_speech_lstm.npz") if micro_speech_lstm() else None
    graph = read_tflite(micro_speech_lstm())
    np.testing.assert_array_equal(run_reference(graph, [golden["in0"]])[0], golden["out0"])


def test_16x8_refuses_nonzero_zero_points():
    graph = lstm_graph(np.random.default_rng(0), 1, 2, 4, 3, False, 1e-4, 0, 1e-4, 0, (1.0, 1.0), -12, act="int16")
    graph.tensors[0].quant = Quantization((1e-4,), (5,))
    with pytest.raises(Unsupported, match="16x8 with input and hidden zero points 5, 0"):
        lstm.LOWERINGS["UNIDIRECTIONAL_SEQUENCE_LSTM"](graph.operators[0], graph)
