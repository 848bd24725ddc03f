"""TFLM's audio preprocessor from the CAST after SignalEnergy to the end (CAST, STRIDED_SLICE, CONCATENATION,
CAST, SignalFilterBank, SquareRoot, SpectralSubtraction, PCAN, FilterBankLog, CAST, MUL): the reference and the
generated C against TFLite Micro over the 49 frames of the 'yes' clip, in one interpreter (the spectral
subtraction's noise estimate carried from frame to frame).

The cut model's inputs are SignalEnergy's output and SignalFftAutoScale's scale bits (SquareRoot reads them),
both computed by TFLM itself on a model of the front half.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference

MODELS = Path(__file__).resolve().parents[5] / "shared" / "models"
MODEL = MODELS / "tflm_audio_preprocessor_float.tflite"
FRAMES = MODELS / "vectors" / "tflm_audio_preprocessor_float__yes_1000ms.npz"
FIRST_TAIL_OP = 5  # the CAST after SignalEnergy
ENERGY, SCALE_BITS = 20, 18  # SignalEnergy's output, SignalFftAutoScale's second output


def _micro(graph_or_bytes: Graph | bytes):
    from tflite_micro.python.tflite_micro import runtime

    model = graph_or_bytes if isinstance(graph_or_bytes, bytes) else write_tflite(graph_or_bytes)
    return runtime.Interpreter.from_bytes(model, arena_size=64 * 1024)


@pytest.fixture(scope="module")
def halves() -> tuple[Graph, Graph, list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """(front graph, tail graph, per frame (energy, scale bits) from TFLM, per frame TFLM's tail output)."""
    if not MODEL.exists() or not FRAMES.exists():
        pytest.skip(f"{MODEL} or {FRAMES} is absent")
    graph = read_tflite(MODEL)
    assert graph.operators[FIRST_TAIL_OP - 1].op_type == "CUSTOM:SignalEnergy"
    assert graph.operators[FIRST_TAIL_OP].op_type == "CAST"
    front = copy.deepcopy(graph)
    front.operators = front.operators[:FIRST_TAIL_OP]
    front.outputs = (ENERGY, SCALE_BITS)
    tail = copy.deepcopy(graph)
    tail.operators = tail.operators[FIRST_TAIL_OP:]
    tail.inputs = (ENERGY, SCALE_BITS)
    tail.name = "preprocessor_tail"
    frames = np.load(FRAMES)["in0"]
    assert frames.shape == (49, 1, 480)
    front_it, tail_it, whole_it = _micro(front), _micro(tail), _micro(MODEL.read_bytes())
    features, wanted = [], []
    for frame in frames:
        front_it.set_input(frame, 0)
        front_it.invoke()
        energy, bits = front_it.get_output(0).copy(), front_it.get_output(1).copy()
        tail_it.set_input(energy, 0)
        tail_it.set_input(bits, 1)
        tail_it.invoke()
        whole_it.set_input(frame, 0)
        whole_it.invoke()
        out = tail_it.get_output(0).copy()
        # the cut is faithful: front then tail is the whole model, bit for bit
        np.testing.assert_array_equal(out.view(np.uint32), whole_it.get_output(0).view(np.uint32))
        features.append((energy, bits))
        wanted.append(out)
    return front, tail, features, wanted


def _bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).reshape(-1).view(np.uint32)


def test_reference_matches_tflite_micro_over_49_frames(halves):
    _, tail, features, wanted = halves
    state: dict[int, np.ndarray] = {}
    for k, ((energy, bits), want) in enumerate(zip(features, wanted, strict=True)):
        got = run_reference(tail, [energy, bits], state=state)[0]
        np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=f"frame {k}")
    assert state and all(v.any() for v in state.values())  # the noise estimate is there, and nonzero


def test_generated_c_matches_tflite_micro_over_49_frames(halves):
    from tools.host_model import HostModel

    _, tail, features, wanted = halves
    compiled = compile_graph(copy.deepcopy(tail), write_tflite(tail))
    assert "MODEL_STATE_BYTES 160" in compiled.sources.files["model.h"]  # 40 uint32 noise estimates
    model = HostModel(compiled.graph, compiled.sources.files)
    for k, ((energy, bits), want) in enumerate(zip(features, wanted, strict=True)):
        got = model.run([energy, bits])[0]
        np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=f"frame {k}")
    # model_reset() zeroes the estimate: the first frame comes out as it did the first time
    model.reset()
    np.testing.assert_array_equal(_bits(model.run(list(features[0]))[0]), _bits(wanted[0]))


def test_state_matters(halves):
    """Starting every frame from a zero noise estimate (reset before each) changes the features of most frames."""
    _, tail, features, wanted = halves
    differ = 0
    for (energy, bits), want in zip(features[1:], wanted[1:], strict=True):
        got = run_reference(tail, [energy, bits], state={})[0]  # a fresh state: as after model_reset()
        differ += int(not np.array_equal(_bits(got), _bits(want)))
    assert differ >= len(features) // 2, f"only {differ} of {len(features) - 1} frames depend on the state"
