"""The NumPy reference executor on the real models of ../shared/models against their golden vectors (TFLM
outputs), and the refusals the edge-case models (tier C) must produce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.errors import ModelError
from codegen.frontend.tflite_reader import read_tflite
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference
from tests.support.model_catalog import TIER_AB, expected_output

# (model, golden vector) for every tier A and B model of shared/models/README.md.
GOLDEN = [(m, v) for m, vectors in TIER_AB.items() for v in vectors]


def _read(shared_models: Path, name: str):
    path = shared_models / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return read_tflite(path)


@pytest.mark.parametrize(("model", "vector"), GOLDEN, ids=[v for _, v in GOLDEN])
def test_reference_matches_golden_vector(shared_models, model, vector):
    graph = _read(shared_models, model)
    z = np.load(shared_models / "vectors" / f"{vector}.npz")
    inputs = [z[k] for k in ("in0", "in1") if k in z.files]
    (out,) = run_reference(graph, inputs)
    assert out.dtype == z["out0"].dtype and out.shape == z["out0"].shape
    np.testing.assert_array_equal(out, expected_output(vector, z["out0"]))


def test_person_detect_images_score_as_published(shared_models):
    # The two real images score as shared/models/README.md states (no-person, person logits).
    graph = _read(shared_models, "tflm_person_detect")
    for vector, expected in (("tflm_person", [-113, 113]), ("tflm_no_person", [57, -57])):
        z = np.load(shared_models / "vectors" / f"tflm_person_detect__{vector}.npz")
        (out,) = run_reference(graph, [z["in0"]])
        assert out.reshape(-1).tolist() == expected, vector


def _refusal(shared_models: Path, name: str) -> tuple[str, list[str]]:
    graph = _read(shared_models, name)
    with pytest.raises(ModelError) as info:
        lower_graph(graph)
    return str(info.value), info.value.problems


def test_vela_custom_op_is_refused(shared_models):
    message, problems = _refusal(shared_models, "tflm_person_detect_vela")
    assert message.startswith("tflm_person_detect_vela")
    assert any("operator 0 (CUSTOM:ethos-u)" in p for p in problems), problems


def test_float_resnet_is_refused(shared_models):
    message, problems = _refusal(shared_models, "mlperf_ic_pretrainedResnet")
    assert any("operator 0 (CONV_2D)" in p for p in problems), problems
    assert "float32" in " ".join([message, *problems]), (message, problems)
