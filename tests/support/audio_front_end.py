"""TFLM's audio preprocessor cut after SignalEnergy: the tail graph (CAST ... MUL) and, for the 49 frames of
the 'yes' clip, its inputs (SignalEnergy's output and SignalFftAutoScale's scale bits) and outputs, all from
TFLite Micro: one interpreter on the front half, one on the tail, one on the whole model (state carried in each).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
MODEL = MODELS / "tflm_audio_preprocessor_float.tflite"
FRAMES = MODELS / "vectors" / "tflm_audio_preprocessor_float__yes_1000ms.npz"
FIRST_TAIL_OP = 5  # the CAST after SignalEnergy
ENERGY, SCALE_BITS = 20, 18  # SignalEnergy's output, SignalFftAutoScale's second output


@dataclass
class TailCase:
    tail: Graph
    model: bytes  # the tail written as a .tflite
    inputs: list[list[np.ndarray]]  # per frame: energy (257 uint32), scale bits (int32 scalar)
    wanted: list[np.ndarray]  # per frame: TFLM's 40 float32 features


def _micro(model: bytes):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=64 * 1024)


def tail_case() -> TailCase:
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
    model = write_tflite(tail)
    frames = np.load(FRAMES)["in0"]
    assert frames.shape == (49, 1, 480)
    front_it, tail_it, whole_it = _micro(write_tflite(front)), _micro(model), _micro(MODEL.read_bytes())
    inputs, wanted = [], []
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
        inputs.append([energy, bits])
        wanted.append(out)
    return TailCase(tail, model, inputs, wanted)
