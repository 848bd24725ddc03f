"""State across invocations in the emulated firmware, through `codegen run --sequence`:
- tflm_keyword_scrambled (7 SVDFs, int16 in, int32 out) against its golden vector and the reference executor with
  state carried (its softmax output saturates to 16384, 16384 whatever the state, so it cannot show the state);
- two SVDFs in a row (generated; outputs that move with the state) against the reference with state carried,
  and RESET between invocations changes the outputs, which proves the state is real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES
from codegen.pipeline import read_model
from codegen.reference_executor import run_reference
from tests.codegen.kernels.sequence.test_svdf_model import _two_svdfs
from tools.build import EMULATED_DIR
from tools.cli import main
from tools.link.emulator import Emulator

STEPS = 5

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


@pytest.fixture(scope="module")
def keyword(shared_models: Path) -> Path:
    path = shared_models / "tflm_keyword_scrambled.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def sequence_run(keyword: Path, shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`codegen run --sequence` of STEPS inputs, the golden vector's first; the build is kept for more runs."""
    tmp = tmp_path_factory.mktemp("kws")
    golden = np.load(shared_models / "vectors" / "tflm_keyword_scrambled.npz")
    rng = np.random.default_rng(7)
    steps = np.concatenate([golden["in0"][None], rng.integers(-3000, 3000, (STEPS - 1, 1, 96)).astype(np.int16)])
    np.save(tmp / "seq.npy", steps)
    code = main(["run", "--board", "nucleo-f746", "--emulate", "--model", str(keyword), "--sequence",
                 "--input", str(tmp / "seq.npy"), "--output", str(tmp / "out.npy"), "--out", str(tmp / "build")])
    assert code == 0
    return {"steps": steps, "outputs": np.load(tmp / "out.npy"), "build": tmp / "build", "golden": golden}


@pytest.mark.emulator
def test_sequence_equals_reference_with_state_carried(sequence_run: dict, keyword: Path) -> None:
    graph, _ = read_model(keyword)
    outputs = sequence_run["outputs"]
    assert outputs.shape == (STEPS, 1, 2) and outputs.dtype == np.int32
    # The first step starts from zero state: TFLM's golden output, bit for bit.
    np.testing.assert_array_equal(outputs[0], sequence_run["golden"]["out0"])
    state: dict[int, np.ndarray] = {}
    want = np.stack([run_reference(graph, [x], state=state)[0] for x in sequence_run["steps"]])
    np.testing.assert_array_equal(outputs, want)
    report = json.loads((sequence_run["build"] / "report.json").read_text())
    assert report["state_bytes"] > 0 and report["arena_bytes"] > 0


@pytest.fixture(scope="module")
def svdf_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("svdf")
    model = tmp / "two_svdfs.tflite"
    model.write_bytes(write_tflite(_two_svdfs()))
    rng = np.random.default_rng(3)
    steps = rng.integers(-128, 128, (STEPS, 1, 24)).astype(np.int8)
    np.save(tmp / "seq.npy", steps)
    code = main(["run", "--board", "nucleo-f746", "--emulate", "--model", str(model), "--sequence",
                 "--input", str(tmp / "seq.npy"), "--output", str(tmp / "out.npy"), "--out", str(tmp / "build")])
    assert code == 0
    return {"model": model, "steps": steps, "outputs": np.load(tmp / "out.npy"), "build": tmp / "build"}


@pytest.mark.emulator
def test_reset_between_invocations_changes_the_outputs(svdf_run: dict) -> None:
    graph, _ = read_model(svdf_run["model"])
    out = graph.tensor(graph.outputs[0])
    state: dict[int, np.ndarray] = {}
    carried = np.stack([run_reference(graph, [x], state=state)[0] for x in svdf_run["steps"]])
    np.testing.assert_array_equal(svdf_run["outputs"], carried)
    with Emulator(svdf_run["build"] / EMULATED_DIR / "firmware.elf") as emu:
        fresh = []
        for x in svdf_run["steps"]:
            emu.link.reset_state()
            raw, _ = emu.link.infer([x])
            fresh.append(np.frombuffer(raw[0], dtype=NUMPY_DTYPES[out.dtype]).reshape(out.shape))
    fresh = np.stack(fresh)
    np.testing.assert_array_equal(fresh, np.stack([run_reference(graph, [x])[0] for x in svdf_run["steps"]]))
    np.testing.assert_array_equal(fresh[0], carried[0])
    # Carried state makes a difference: the steps after the first differ when RESET comes between them (with these
    # inputs, steps 2 to 4; the outputs are mostly saturated, but not the same ones).
    assert not np.array_equal(fresh[1:], carried[1:])


@pytest.mark.emulator
def test_eval_resets_before_each_sample_unless_stateful(svdf_run: dict, tmp_path: Path) -> None:
    """Both runs are bit-exact with their host reference (eval exits 0 only then); they differ from each other."""
    np.savez(tmp_path / "data.npz", x=svdf_run["steps"])
    outputs = {}
    for mode in ("fresh", "stateful"):
        path = tmp_path / f"{mode}.npy"
        extra = ["--stateful"] if mode == "stateful" else []
        code = main(["eval", str(svdf_run["build"]), "--emulate", "--data", str(tmp_path / "data.npz"),
                     "--save-outputs", str(path), *extra])
        assert code == 0
        outputs[mode] = np.load(path)
    np.testing.assert_array_equal(outputs["stateful"], svdf_run["outputs"])
    assert not np.array_equal(outputs["fresh"], outputs["stateful"])
