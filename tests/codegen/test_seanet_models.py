"""TFLite Micro's SEANet integration models (127 single-op int16x8 models in ../shared/models/tflm_seanet/<op>/):
the NumPy reference executor and the generated C built for the host both equal TFLM's golden outputs bit for
bit."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.pipeline import compile_file
from codegen.reference_executor import run_reference
from tests.conftest import SHARED_MODELS
from tools.host_model import HostModel

SEANET = SHARED_MODELS / "tflm_seanet"
MODELS = sorted(f"{p.parent.name}/{p.stem}" for p in SEANET.glob("*/*.tflite")) if SEANET.is_dir() else []
# The operator folders and how many models each holds (shared/models/README.md); a folder that lost or gained
# models would silently change what this test covers.
FOLDERS = {"add": 17, "conv": 22, "leaky_relu": 23, "pad": 19, "quantize": 2, "strided_slice": 34, "sub": 5,
           "transpose_conv": 5}


def _load(name: str) -> tuple[list[np.ndarray], np.ndarray]:
    z = np.load(SEANET / f"{name}.npz")
    return [z[k] for k in ("in0", "in1") if k in z.files], z["out0"]


def test_every_folder_is_present(shared_models):
    if not SEANET.is_dir():
        pytest.skip(f"{SEANET} is absent")
    counts = {f: sum(m.startswith(f + "/") for m in MODELS) for f in FOLDERS}
    assert counts == FOLDERS


@pytest.mark.parametrize("name", MODELS or [pytest.param("none", marks=pytest.mark.skip(f"{SEANET} is absent"))])
def test_seanet_model_is_bit_exact_with_tflm(name):
    path = SEANET / f"{name}.tflite"
    inputs, want = _load(name)
    (ref,) = run_reference(read_tflite(path), inputs)
    assert ref.dtype == want.dtype and ref.shape == want.shape
    np.testing.assert_array_equal(ref, want, err_msg=f"{name}: NumPy reference differs from TFLM")
    compiled = compile_file(path)
    (got,) = HostModel(compiled.graph, compiled.sources.files).run(inputs)
    np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"{name}: generated C differs from TFLM")
