"""SignalFftAutoScale and SignalRfft (int16): the reference against TFLite Micro across sizes, the C kernels
against the reference, and the front of the real audio preprocessor (Window -> RESHAPE -> FftAutoScale ->
Rfft -> Energy) bit-exact with TFLM over the 49 frames of its golden input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph
from codegen.kernels.base import Unsupported
from codegen.kernels.signal.fft import kiss_factors
from tests.codegen.kernels.signal.signal_support import assert_equal, lower, one_op_graph, run_c, run_ref, run_tflm

MODELS = Path(__file__).resolve().parents[5] / "shared" / "models"
PREPROCESSOR = MODELS / "tflm_audio_preprocessor_float.tflite"
VECTORS = MODELS / "vectors" / "tflm_audio_preprocessor_float__yes_1000ms.npz"


def _signal(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "full":
        return rng.integers(-32768, 32768, shape).astype(np.int16)
    if kind == "extremes":
        return rng.choice(np.array([-32768, 32767, -32767, 0], np.int16), shape)
    if kind == "tone":  # a loud sinusoid with noise: a spectrum with a peak, as audio gives
        n = np.arange(int(np.prod(shape)))
        tone = 20000 * np.sin(2 * np.pi * rng.uniform(0.01, 0.45) * n) + rng.normal(0, 300, n.size)
        return np.clip(tone, -32768, 32767).astype(np.int16).reshape(shape)
    bits = int(rng.integers(0, 15))  # "small": the auto scale has bits to add
    return rng.integers(-(1 << bits), (1 << bits) + 1, shape).astype(np.int16)


KINDS = st.sampled_from(["full", "extremes", "tone", "small"])
T_CODES = {"int16": 7, "int32": 2, "float32": 0}  # TFLite's TensorType, the ops' "T" option
DTYPES = st.sampled_from(["int16", "int16", "int32", "float32"])
# Even lengths whose half kissfft splits into radices 2, 3, 4 and 5.
MIXED_LENGTHS = [6, 10, 12, 20, 30, 60, 96, 120, 240, 400, 480, 960]


def _length(draw, dtype: str) -> int:
    if draw(st.booleans()):
        return draw(st.sampled_from(MIXED_LENGTHS))
    return 1 << draw(st.integers(2, 10))


def _typed_signal(rng: np.random.Generator, shape: tuple[int, ...], kind: str, dtype: str) -> np.ndarray:
    """int16 signals as _signal gives them; int32 scaled up to its range (or kept small); float32 at random
    magnitudes."""
    x = _signal(rng, shape, kind)
    if dtype == "int32":
        if kind in ("full", "extremes"):
            return x.astype(np.int32) * 65536 + rng.integers(0, 65536, shape).astype(np.int32)
        return x.astype(np.int32)
    if dtype == "float32":
        return (x.astype(np.float32) * np.float32(10.0 ** rng.uniform(-3, 3))).astype(np.float32)
    return x


@st.composite
def auto_scale_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.integers(1, 300))
    x = _signal(rng, (size,), draw(KINDS))
    if draw(st.booleans()):
        x[rng.integers(0, size)] = draw(st.sampled_from([-32768, 0, 1, -1, 16384, -16384]))
    graph = one_op_graph("SignalFftAutoScale", [((size,), "int16", None)], [((size,), "int16"), ((), "int32")])
    return graph, [x]


@settings(max_examples=50, deadline=None)
@given(auto_scale_cases())
def test_auto_scale_reference_matches_tflm(case) -> None:
    graph, inputs = case
    got, expected = run_ref(graph, inputs), run_tflm(graph, inputs)
    assert_equal(got[0], expected[0], "SignalFftAutoScale output")
    assert int(got[1]) == int(expected[1]), "SignalFftAutoScale scale bits"


@settings(max_examples=50, deadline=None)
@given(auto_scale_cases())
def test_auto_scale_c_matches_reference(host_runtime, case) -> None:
    graph, inputs = case
    got, expected = run_c(host_runtime, graph, inputs), run_ref(graph, inputs)
    assert_equal(got[0], expected[0], "SignalFftAutoScale C output")
    assert int(got[1].reshape(-1)[0]) == int(expected[1]), "SignalFftAutoScale C scale bits"


def test_auto_scale_bits() -> None:
    graph = one_op_graph("SignalFftAutoScale", [((3,), "int16", None)], [((3,), "int16"), ((), "int32")])
    y, bits = run_ref(graph, [np.array([3, -100, 7], np.int16)])
    assert int(bits) == 8 and y.tolist() == [768, -25600, 1792]
    y, bits = run_ref(graph, [np.zeros(3, np.int16)])
    assert int(bits) == 0


@st.composite
def rfft_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(DTYPES)
    n = _length(draw, dtype)
    in_len = draw(st.integers(1, n))
    lead = draw(st.sampled_from([(), (), (2,), (3,)]))
    out_len = n + 2 + 2 * draw(st.sampled_from([0, 0, 1]))
    graph = one_op_graph("SignalRfft", [((*lead, in_len), dtype, None)], [((*lead, out_len), dtype)],
                         T=T_CODES[dtype], fft_length=n)
    return graph, [_typed_signal(rng, (*lead, in_len), draw(KINDS), dtype)], n


def _bins(y: np.ndarray, n: int) -> np.ndarray:
    """The n + 2 values TFLM writes of each output row (past them it leaves its arena's bytes)."""
    return np.asarray(y).reshape(-1, np.asarray(y).shape[-1])[:, : n + 2]


@settings(max_examples=80, deadline=None)
@given(rfft_cases())
def test_rfft_reference_matches_tflm(case) -> None:
    graph, inputs, n = case
    got, expected = run_ref(graph, inputs)[0], run_tflm(graph, inputs)[0]
    assert_equal(_bins(got, n), _bins(expected, n), f"SignalRfft {n} reference vs TFLM")


@settings(max_examples=80, deadline=None)
@given(rfft_cases())
def test_rfft_c_matches_reference(host_runtime, case) -> None:
    graph, inputs, n = case
    assert_equal(run_c(host_runtime, graph, inputs)[0], run_ref(graph, inputs)[0], f"SignalRfft {n} C vs reference")


def test_rfft_of_a_constant_is_its_scaled_sum() -> None:
    # kissfft divides by the transform's length on the way: 64 samples of 1024 give DC 64 * 1024 / 64.
    graph = one_op_graph("SignalRfft", [((64,), "int16", None)], [((66,), "int16")], T=7, fft_length=64)
    y = run_ref(graph, [np.full(64, 1024, np.int16)])[0]
    assert abs(int(y[0]) - 1024) <= 2 and not np.any(y[2:])


def test_kiss_factors() -> None:
    assert kiss_factors(240) == [(4, 60), (4, 15), (3, 5), (5, 1)]
    assert kiss_factors(256) == [(4, 64), (4, 16), (4, 4), (4, 1)]
    assert kiss_factors(128) == [(4, 32), (4, 8), (4, 2), (2, 1)]
    assert kiss_factors(2) == [(2, 1)]


def test_rfft_refuses_what_it_lacks() -> None:
    graph = one_op_graph("SignalRfft", [((14,), "int16", None)], [((16,), "int16")], T=7, fft_length=14)
    with pytest.raises(Unsupported, match="radix"):  # 7 points: kissfft's generic stage
        lower(graph)
    graph = one_op_graph("SignalIrfft", [((44,), "float32", None)], [((42,), "float32")], T=0, fft_length=42)
    with pytest.raises(Unsupported, match="radix"):  # 21 = 3 x 7
        lower(graph)
    graph = one_op_graph("SignalRfft", [((9,), "int16", None)], [((11,), "int16")], T=7, fft_length=9)
    with pytest.raises(Unsupported, match="even"):
        lower(graph)
    graph = one_op_graph("SignalRfft", [((16,), "int16", None)], [((16,), "int16")], T=7, fft_length=16)
    with pytest.raises(Unsupported, match="values"):
        lower(graph)


def _front(graph: Graph) -> Graph:
    """The preprocessor's first five ops: Window, RESHAPE, FftAutoScale, Rfft, Energy; outputs the energy and
    the scale bits."""
    ops = [op for op in graph.operators if op.index <= 4]
    assert [op.op_type for op in ops] == ["CUSTOM:SignalWindow", "RESHAPE", "CUSTOM:SignalFftAutoScale",
                                          "CUSTOM:SignalRfft", "CUSTOM:SignalEnergy"]
    return Graph(graph.tensors, ops, graph.inputs, (ops[4].outputs[0], ops[2].outputs[1]), name="front")


def test_preprocessor_front_is_bit_exact_with_tflm(host_runtime) -> None:
    if not PREPROCESSOR.is_file() or not VECTORS.is_file():
        pytest.skip(f"{PREPROCESSOR.name} or its vectors are absent from {MODELS}")
    front = _front(read_tflite(PREPROCESSOR))
    energy_op = front.operators[4]
    start, end = energy_op.options["start_index"], energy_op.options["end_index"]
    frames = np.load(VECTORS)["in0"]
    assert frames.shape == (49, 1, 480)
    scales = set()
    for frame in frames:
        expected = run_tflm(front, [frame])
        got_ref, got_c = run_ref(front, [frame]), run_c(host_runtime, front, [frame])
        for got, what in ((got_ref, "reference"), (got_c, "C")):
            assert_equal(got[0][start:end], expected[0][start:end], f"energy, {what} vs TFLM")
            assert int(np.asarray(got[1]).reshape(-1)[0]) == int(expected[1]), f"scale bits, {what} vs TFLM"
        scales.add(int(expected[1]))
        assert np.any(expected[0][start:end])
    assert len(scales) > 1  # the frames exercise several block scales


@st.composite
def irfft_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(DTYPES)
    n = _length(draw, dtype)
    lead = draw(st.sampled_from([(), (), (2,), (3,)]))
    in_len = n + 2 + 2 * draw(st.sampled_from([0, 0, 1]))
    out_len = n + draw(st.sampled_from([0, 0, 3]))
    graph = one_op_graph("SignalIrfft", [((*lead, in_len), dtype, None)], [((*lead, out_len), dtype)],
                         T=T_CODES[dtype], fft_length=n)
    return graph, [_typed_signal(rng, (*lead, in_len), draw(KINDS), dtype)], n


@settings(max_examples=80, deadline=None)
@given(irfft_cases())
def test_irfft_reference_matches_tflm(case) -> None:
    graph, inputs, n = case
    got, expected = run_ref(graph, inputs)[0], run_tflm(graph, inputs)[0]
    # TFLM writes the first n samples of each output row.
    assert_equal(_bins(got, n - 2), _bins(expected, n - 2), f"SignalIrfft {n} reference vs TFLM")


@settings(max_examples=80, deadline=None)
@given(irfft_cases())
def test_irfft_c_matches_reference(host_runtime, case) -> None:
    graph, inputs, n = case
    assert_equal(run_c(host_runtime, graph, inputs)[0], run_ref(graph, inputs)[0], f"SignalIrfft {n} C vs reference")


def test_irfft_inverts_rfft() -> None:
    """Rfft then Irfft gives the signal back, scaled by kissfft's divisions (1/N overall for the pair)."""
    n = 64
    x = (8000 * np.sin(2 * np.pi * 5 * np.arange(n) / n)).astype(np.int16)
    spectrum = run_ref(one_op_graph("SignalRfft", [((n,), "int16", None)], [((n + 2,), "int16")], T=7,
                                    fft_length=n), [x])[0]
    back = run_ref(one_op_graph("SignalIrfft", [((n + 2,), "int16", None)], [((n,), "int16")], T=7,
                                fft_length=n), [spectrum])[0]
    xf, bf = x.astype(np.float64), back.astype(np.float64)
    scale = float(np.dot(bf, xf)) / float(np.dot(xf, xf))
    assert np.abs(bf - scale * xf).max() <= 3 and 0.5 / n < scale < 2.0 / n
