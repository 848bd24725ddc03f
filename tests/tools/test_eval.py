"""`codegen eval`: datasets (npz and image folders), accuracy, agreement with the host reference, latency, the
output files, and every error path; end to end on the emulated board for every tier A model of
../shared/models (50 random inputs each, bit-exact), through `tools.cli.main` as the user runs it."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import CodegenError
from codegen.frontend.tflite_reader import parse_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from tests.support.model_catalog import TIER_A
from tools import cli
from tools.build import EMULATED_DIR, build
from tools.datasets import load_dataset
from tools.evaluate import Progress, accuracy, agreement, format_result, histogram_png, latency_summary
from tools.link.emulator import free_tcp_port, qemu_command

REPO = Path(__file__).resolve().parents[2]


needs_toolchain = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


# ---- models and builds -------------------------------------------------------------------------------------


def argmax_model(weights: np.ndarray, name: str = "argmax4") -> bytes:
    """One int8 FULLY_CONNECTED layer y = x @ (weights / 64).T, with all scales exact powers of two: with
    weights = 64 * a permutation matrix, y is a permutation of x, so the top-1 class of every input is known."""
    n = weights.shape[0]
    tensors = [
        Tensor(0, "x", (1, n), "int8", Quantization((1.0,), (0,))),
        Tensor(1, "w", (n, n), "int8", Quantization((1 / 64,), (0,)), weights.astype(np.int8)),
        Tensor(2, "y", (1, n), "int8", Quantization((1.0,), (0,))),
    ]
    op = Operator(0, "FULLY_CONNECTED", (0, 1, -1), (2,), {"activation": "NONE", "weights_format": 0,
                                                          "keep_num_dims": False})
    return write_tflite(Graph(tensors, [op], (0,), (2,), name=name))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Path], Path]:
    """build_of(name, model): a `codegen build` directory of the model, built once per module."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    done: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("builds")

    def build_of(name: str, model: Path) -> Path:
        if name not in done:
            build(model, load_board("nucleo-f746"), root / name, measure_run=False)
            done[name] = root / name
        return done[name]

    return build_of


@pytest.fixture(scope="module")
def tiny(builds: Callable[[str, Path], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build of the identity argmax model: output = input."""
    model = tmp_path_factory.mktemp("tiny") / "argmax4.tflite"
    model.write_bytes(argmax_model(64 * np.eye(4)))
    return builds("argmax4", model)


def run_eval(*args: str | Path) -> int:
    return cli.main(["eval", *map(str, args)])


def read_report(path: Path) -> dict:
    return json.loads(path.read_text())


def check_png(data: bytes) -> tuple[int, int]:
    """Validate a PNG by hand (signature, chunk CRCs, IHDR, decompressed size); return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    assert list(chunks)[-1] == b"IEND" and pos == len(data)
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width)
    return width, height


# ---- every tier A model on the emulated board ------------------------------------------------------------------


@pytest.mark.emulator
@needs_toolchain
@pytest.mark.parametrize("model", TIER_A)
def test_tier_a_model_is_bit_exact_on_the_emulator(model: str, shared_models: Path, builds, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = builds(model, shared_models / f"{model}.tflite")
    graph = parse_tflite((out / "model.tflite").read_bytes(), name=model)
    rng = np.random.default_rng(TIER_A.index(model))
    inputs = [rng.integers(-128, 128, size=(50, *graph.tensor(i).shape), dtype=np.int8) for i in graph.inputs]
    keys = ["x"] if len(inputs) == 1 else [f"x{k}" for k in range(len(inputs))]
    np.savez(tmp_path / "data.npz", **dict(zip(keys, inputs, strict=True)))
    code = run_eval(out, "--emulate", "--jobs", "2", "--data", tmp_path / "data.npz", "--report",
                    tmp_path / "r.json", "--save-outputs", tmp_path / "y.npy", "--histogram", tmp_path / "lat.png")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = read_report(tmp_path / "r.json")
    assert report["agreement"]["bit_exact"] == report["agreement"]["total"] == report["samples"] == 50
    assert report["agreement"]["max_abs_diff"] == 0
    assert "50/50 bit-exact with the host reference" in captured.out
    lat = report["latency"]
    assert lat["tick_unit"] == "instructions/40" and lat["ms"] is None
    assert 0 < lat["ticks"]["min"] <= lat["ticks"]["median"] <= lat["ticks"]["max"]
    assert lat["instructions"]["min"] == 40 * lat["ticks"]["min"]
    assert "ms are not meaningful in QEMU" in captured.out
    assert 0 < report["stack_high_water_bytes"] < load_board("nucleo-f746").stack_bytes
    assert "2 instances" in report["target"] and report["model"] == model
    # The saved outputs are the host reference's, in input order (eval compared all 50; spot-check the order).
    saved = np.load(tmp_path / "y.npy")
    assert saved.shape == (50, *graph.tensor(graph.outputs[0]).shape)
    for i in (0, 1, 24, 48, 49):
        np.testing.assert_array_equal(saved[i], run_reference(graph, [x[i] for x in inputs])[0], err_msg=f"{i}")
    check_png((tmp_path / "lat.png").read_bytes())
    assert "eval: 50/50 samples" in captured.err  # stderr is not a terminal: progress as plain lines


# ---- accuracy and agreement on a model whose answers are known --------------------------------------------


def _distinct_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """n rows of 4 distinct int8 values: every row has one clear top-1."""
    return np.stack([rng.choice(np.arange(-128, 128), size=4, replace=False) for _ in range(n)]).astype(np.int8)


@pytest.mark.emulator
@needs_toolchain
def test_accuracy_counts_top1_against_the_labels(tiny: Path, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    x = _distinct_rows(rng, 20)
    truth = np.argmax(x, axis=1)
    y = truth.copy()
    wrong = [2, 5, 11, 17, 19]
    y[wrong] = (truth[wrong] + 1) % 4  # 5 of 20 labels disagree with the (identity) model
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code = run_eval(tiny, "--emulate", "--data", tmp_path / "d.npz", "--report", tmp_path / "r.json",
                    "--save-outputs", tmp_path / "o.npy")
    out = capsys.readouterr().out
    assert code == 0
    report = read_report(tmp_path / "r.json")
    assert report["accuracy"] == {"correct": 15, "total": 20, "top1": 0.75}
    assert "15/20 = 75.0% (top-1)" in out
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy").reshape(20, 4), x)  # identity model, in order

    # One-hot labels, and float labels holding whole numbers (as Keras writes them), give the same answer;
    # --limit keeps the first samples.
    np.savez(tmp_path / "h.npz", x=x, y=np.eye(4, dtype=np.float32)[y])
    assert run_eval(tiny, "--emulate", "--data", tmp_path / "h.npz", "--limit", "6", "--report",
                    tmp_path / "h.json") == 0
    assert read_report(tmp_path / "h.json")["accuracy"] == {"correct": 4, "total": 6, "top1": 4 / 6}  # 2, 5 wrong
    np.savez(tmp_path / "f.npz", x=x[:, None, :], y=y.astype(np.float64))  # samples of (1, 4) are fine too
    assert run_eval(tiny, "--emulate", "--data", tmp_path / "f.npz", "--report", tmp_path / "f.json") == 0
    assert read_report(tmp_path / "f.json")["accuracy"]["correct"] == 15


@pytest.mark.emulator
@needs_toolchain
def test_disagreement_with_the_reference_fails_the_run(tiny: Path, tmp_path: Path, capsys,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference that differs on two samples: eval reports 8/10 and exits 1 with one line naming them."""
    import codegen.reference_executor as ref

    real = ref.run_reference
    calls = {"n": 0}

    def off_by_one_twice(graph, inputs, kernel_calls=None, **options):
        out = real(graph, inputs, kernel_calls, **options)
        calls["n"] += 1
        if calls["n"] in (4, 7):
            out[0] = (out[0].astype(np.int16) + 3).astype(np.int8)
        return out

    monkeypatch.setattr(ref, "run_reference", off_by_one_twice)
    np.savez(tmp_path / "d.npz", x=_distinct_rows(np.random.default_rng(0), 10) // 2)
    code = run_eval(tiny, "--emulate", "--data", tmp_path / "d.npz", "--report", tmp_path / "r.json")
    captured = capsys.readouterr()
    assert code == 1
    agree = read_report(tmp_path / "r.json")["agreement"]
    assert (agree["bit_exact"], agree["max_abs_diff"], agree["mismatched_samples"]) == (8, 3, [3, 6])
    assert "8/10 bit-exact" in captured.out
    assert captured.err.strip().splitlines()[-1] == (
        "codegen: 2 of 10 samples differ from the host reference (first: sample 3); max abs diff 3")


# ---- image folders, on the real person-detection model ---------------------------------------------------------


@pytest.mark.emulator
@needs_toolchain
def test_image_folder_classes_and_pixel_rule_on_person_detect(shared_models: Path, builds, tmp_path: Path,
                                                               capsys) -> None:
    """The shared BMPs hold TFLM's int8 test images as raw bytes; the natural image is those bytes ^ 0x80.
    Fed through the folder loader (pixel - 128), the natural images must give TFLM's golden scores."""
    from PIL import Image

    out = builds("tflm_person_detect", shared_models / "tflm_person_detect.tflite")
    data = tmp_path / "images"
    for cls in ("no_person", "person"):
        (data / cls).mkdir(parents=True)
    person = np.asarray(Image.open(shared_models / "tflm_person.bmp")) ^ 0x80
    no_person = np.asarray(Image.open(shared_models / "tflm_no_person.bmp")) ^ 0x80
    Image.fromarray(np.repeat(person[:, :, None], 3, axis=2)).save(data / "person" / "p1.png")  # RGB -> gray
    Image.fromarray(no_person).save(data / "no_person" / "n1.bmp")
    (data / "no_person" / "notes.txt").write_text("not an image: ignored")
    code = run_eval(out, "--emulate", "--data", data, "--report", tmp_path / "r.json", "--save-outputs",
                    tmp_path / "o.npy")
    assert code == 0, capsys.readouterr().err
    report = read_report(tmp_path / "r.json")
    assert report["classes"] == ["no_person", "person"]
    assert report["accuracy"] == {"correct": 2, "total": 2, "top1": 1.0}
    golden = [np.load(shared_models / "vectors" / f"tflm_person_detect__tflm_{c}.npz")["out0"]
              for c in ("no_person", "person")]
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), np.stack(golden))


# ---- errors ----------------------------------------------------------------------------------------------------


def assert_one_line_error(code: int, captured, expected_code: int, *phrases: str) -> None:
    assert code == expected_code, captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("codegen: ")]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@needs_toolchain
def test_dataset_errors_are_one_line(tiny: Path, tmp_path: Path, capsys) -> None:
    x = _distinct_rows(np.random.default_rng(1), 5)
    cases: list[tuple[dict[str, np.ndarray], str]] = [
        ({"inputs": x}, "has no 'x' array (arrays: inputs)"),
        ({"x": x.astype(np.float32)}, "'x' is float32, the model's input 0 takes int8"),
        ({"x": x[:, :3]}, "'x' has shape (5, 3), i.e. samples of (3,); the model's input 0 takes (1, 4)"),
        ({"x": x, "y": np.arange(4)}, "'y' has 4 labels for 5 samples"),
        ({"x": x, "y": np.array([0, 1, 2, 3, 4])}, "label 4 of sample 4 is out of range: argmax4's output has 4"),
        ({"x": x, "y": np.ones((5, 4))}, "'y' is 2-D but row 0 is not one-hot"),
        ({"x": x, "y": np.array([0.5, 1, 2, 3, 0])}, "'y' holds float64 values"),
    ]
    for arrays, phrase in cases:
        np.savez(tmp_path / "d.npz", **arrays)
        code = run_eval(tiny, "--emulate", "--data", tmp_path / "d.npz")
        assert_one_line_error(code, capsys.readouterr(), 1, phrase)
    code = run_eval(tiny, "--emulate", "--data", tmp_path / "missing.npz")
    assert_one_line_error(code, capsys.readouterr(), 1, "missing.npz does not exist")
    np.save(tmp_path / "single.npy", x)
    code = run_eval(tiny, "--emulate", "--data", tmp_path / "single.npy")
    assert_one_line_error(code, capsys.readouterr(), 1, "is a single array, not an .npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 junk")
    code = run_eval(tiny, "--emulate", "--data", tmp_path / "junk.npz")
    assert_one_line_error(code, capsys.readouterr(), 1, "cannot read dataset")
    np.savez(tmp_path / "ok.npz", x=x)
    code = run_eval(tiny, "--port", "/dev/null", "--jobs", "2", "--data", tmp_path / "ok.npz")
    assert_one_line_error(code, capsys.readouterr(), 1, "--jobs works with --emulate only")
    code = run_eval(tmp_path, "--emulate", "--data", tmp_path / "ok.npz")
    assert_one_line_error(code, capsys.readouterr(), 1, "is not a codegen build directory (no report.json)")


@needs_toolchain
def test_dead_port_is_a_bounded_device_error(tiny: Path, tmp_path: Path, capsys) -> None:
    """A pty whose peer never answers: HELLO is tried 3 times, then a one-line error (exit 5)."""
    master, slave = os.openpty()
    try:
        np.savez(tmp_path / "d.npz", x=_distinct_rows(np.random.default_rng(2), 3))
        started = time.monotonic()
        code = run_eval(tiny, "--port", os.ttyname(slave), "--timeout", "0.2", "--data", tmp_path / "d.npz")
        elapsed = time.monotonic() - started
    finally:
        os.close(master)
        os.close(slave)
    assert_one_line_error(code, capsys.readouterr(), 5, "did not answer HELLO (seq 0): 3 attempts of 0.2 s each")
    assert elapsed < 3.0


@pytest.mark.emulator
@needs_toolchain
def test_stale_firmware_is_refused(tiny: Path, shared_models: Path, builds, tmp_path: Path, capsys) -> None:
    other = builds("tflm_hello_world_int8", shared_models / "tflm_hello_world_int8.tflite")
    np.savez(tmp_path / "d.npz", x=_distinct_rows(np.random.default_rng(4), 3))
    stale = tmp_path / "stale"
    shutil.copytree(tiny, stale)
    shutil.copy2(other / EMULATED_DIR / "firmware.elf", stale / EMULATED_DIR / "firmware.elf")
    code = run_eval(stale, "--emulate", "--data", tmp_path / "d.npz")
    assert_one_line_error(code, capsys.readouterr(), 5, "firmware runs model tflm_hello_world_int8 hash 505ee4fae7fa",
                          "expected argmax4 hash", "the firmware is stale, rebuild and flash it")

    # The same through --port: a "board" (QEMU on a TCP port) flashed with another model.
    port = free_tcp_port()
    with subprocess.Popen(qemu_command(other / EMULATED_DIR / "firmware.elf", port), stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as qemu:
        try:
            wait_listening(port)
            code = run_eval(tiny, "--port", f"socket://127.0.0.1:{port}", "--data", tmp_path / "d.npz")
        finally:
            qemu.kill()
    assert_one_line_error(code, capsys.readouterr(), 5, "the firmware is stale")


@pytest.mark.emulator
@needs_toolchain
def test_port_drives_a_device_like_the_emulator_option(tiny: Path, tmp_path: Path, capsys) -> None:
    """--port with a pyserial URL: QEMU listening on a TCP port stands in for a board on /dev/ttyACM0."""
    x = _distinct_rows(np.random.default_rng(5), 7)
    np.savez(tmp_path / "d.npz", x=x, y=np.argmax(x, axis=1))
    port = free_tcp_port()
    with subprocess.Popen(qemu_command(tiny / EMULATED_DIR / "firmware.elf", port), stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as qemu:
        try:
            wait_listening(port)
            code = run_eval(tiny, "--port", f"socket://127.0.0.1:{port}", "--baud", "9600", "--data",
                            tmp_path / "d.npz", "--report", tmp_path / "r.json", "--save-outputs", tmp_path / "o.npy")
        finally:
            qemu.kill()
    assert code == 0, capsys.readouterr().err
    report = read_report(tmp_path / "r.json")
    assert report["target"] == f"socket://127.0.0.1:{port} at 9600 baud"
    assert report["accuracy"]["correct"] == 7 and report["agreement"]["bit_exact"] == 7
    assert report["latency"]["tick_unit"] == "instructions/40"
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy").reshape(7, 4), x)


def wait_listening(port: int, seconds: float = 10.0) -> None:
    """Wait until something listens on the local TCP port (read from /proc: a probing connect would take
    QEMU's only connection)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
                        return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port}")


@needs_toolchain
def test_real_cli_process_reports_dataset_errors(tiny: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 5), np.int8))
    result = subprocess.run([sys.executable, "-m", "tools.cli", "eval", str(tiny), "--emulate", "--data",
                             str(tmp_path / "d.npz")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("codegen: dataset ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---- datasets (no device) ---------------------------------------------------------------------------------------


def image_graph(shape: tuple[int, ...], dtype: str = "int8", inputs: int = 1) -> Graph:
    q = Quantization((1 / 255,), (-128,)) if dtype == "int8" else None
    tensors = [Tensor(i, f"in{i}", shape, dtype, q) for i in range(inputs)]
    tensors.append(Tensor(inputs, "out", (1, 2), dtype, q))
    return Graph(tensors, [], tuple(range(inputs)), (inputs,), name="img")


@pytest.fixture
def pil() -> Iterator[object]:
    pytest.importorskip("PIL")
    from PIL import Image

    yield Image


def test_image_folder_rules(tmp_path: Path, pil) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    for sub in ("cat", "ant", "dog"):  # classes by sorted name: ant 0, cat 1, dog 2 (dog has no images)
        (tmp_path / sub).mkdir()
    pil.fromarray(gray).save(tmp_path / "cat" / "b.pgm")
    pil.fromarray(rgb).save(tmp_path / "cat" / "a.png")
    pil.fromarray(gray).save(tmp_path / "ant" / "z.bmp")

    data = load_dataset(tmp_path, image_graph((1, 6, 5, 3)))
    assert data.classes == ["ant", "cat", "dog"]
    assert data.names == ["ant/z.bmp", "cat/a.png", "cat/b.pgm"]
    assert data.labels.tolist() == [0, 1, 1]
    x = data.inputs[0]
    assert x.shape == (3, 1, 6, 5, 3) and x.dtype == np.int8
    np.testing.assert_array_equal(x[1, 0], (rgb.astype(np.int16) - 128).astype(np.int8))
    np.testing.assert_array_equal(x[0, 0], np.repeat((gray.astype(np.int16) - 128)[:, :, None], 3, 2))  # gray->RGB

    gray_model = load_dataset(tmp_path, image_graph((6, 5, 1), "float32"), limit=2)
    assert len(gray_model) == 2 and gray_model.inputs[0].dtype == np.float32
    luma = np.asarray(pil.fromarray(rgb).convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(gray_model.inputs[0][1, :, :, 0], luma / np.float32(255))

    flat = tmp_path / "flat"
    flat.mkdir()
    pil.fromarray(gray).save(flat / "2.png")
    pil.fromarray(gray).save(flat / "10.png")
    data = load_dataset(flat, image_graph((1, 6, 5, 1), "uint8"))
    assert data.labels is None and data.names == ["10.png", "2.png"]
    np.testing.assert_array_equal(data.inputs[0][0, 0, :, :, 0], gray)


def test_image_folder_refusals(tmp_path: Path, pil) -> None:
    pil.fromarray(np.zeros((6, 5), np.uint8)).save(tmp_path / "a.png")

    def refused(graph: Graph, phrase: str, folder: Path = tmp_path) -> None:
        with pytest.raises(CodegenError, match=phrase):
            load_dataset(folder, graph)

    refused(image_graph((1, 8, 5, 1)), r"a.png is 5x6 \(width x height\), the model takes 5x8: resize")
    refused(image_graph((1, 6, 5, 4)), "height x width x 1 or 3 channels")
    refused(image_graph((1, 30)), "height x width x 1 or 3 channels")
    refused(image_graph((1, 6, 5, 1), inputs=2), "can feed only a one-input model")
    refused(image_graph((1, 6, 5, 1), "int16"), "cannot feed an input of type int16")
    pil.fromarray(np.zeros((6, 5), np.uint16)).save(tmp_path / "b.png")  # 16-bit PNG
    refused(image_graph((1, 6, 5, 1)), "b.png has pixel mode I")
    (tmp_path / "b.png").unlink()
    (tmp_path / "sub").mkdir()
    refused(image_graph((1, 6, 5, 1)), "has both images .* and class sub-folders")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(image_graph((1, 6, 5, 1)), "has no images", empty)
    (empty / "c.jpg").write_bytes(b"not a jpeg")
    refused(image_graph((1, 6, 5, 1)), "cannot read image .*c.jpg", empty)


def test_npz_inputs_for_several_inputs(tmp_path: Path) -> None:
    graph = image_graph((1, 3), inputs=2)
    a, b = np.ones((4, 3), np.int8), np.zeros((4, 1, 3), np.int8)
    np.savez(tmp_path / "d.npz", x0=a, x1=b, y=np.array([1, 0, 1, 1], np.uint8))
    data = load_dataset(tmp_path / "d.npz", graph)
    assert [x.shape for x in data.inputs] == [(4, 1, 3), (4, 1, 3)] and data.labels.tolist() == [1, 0, 1, 1]
    np.savez(tmp_path / "e.npz", x=a)
    with pytest.raises(CodegenError, match=r"no 'x0' array .* takes 2 inputs, given as x0, x1"):
        load_dataset(tmp_path / "e.npz", graph)
    np.savez(tmp_path / "f.npz", x0=a, x1=b[:3])
    with pytest.raises(CodegenError, match="'x1' has 3 samples, 'x0' has 4"):
        load_dataset(tmp_path / "f.npz", graph)
    with pytest.raises(CodegenError, match="--limit must be at least 1"):
        load_dataset(tmp_path / "d.npz", graph, limit=0)


# ---- results and output files (no device) ------------------------------------------------------------------------


def test_latency_in_cycles_becomes_milliseconds() -> None:
    lat = latency_summary(np.array([16_000, 32_000, 48_000, 160_000]), "cycles", 16_000_000)
    assert lat["ms"] == {"min": 1.0, "median": 2.5, "max": 10.0}
    assert lat["cycles"] == {"min": 16_000, "median": 40_000, "max": 160_000} and lat["instructions"] is None
    lat = latency_summary(np.array([3, 1, 2]), "instructions/40", None)
    assert lat["instructions"] == {"min": 40, "median": 80, "max": 120} and lat["ms"] is None
    assert "not meaningful in QEMU" in lat["note"]
    assert latency_summary(np.array([5]), "cycles", None)["ms"] is None


def test_printed_summary_on_a_board() -> None:
    result = {
        "model": "m", "model_hash": "00", "target": "/dev/ttyACM0 at 115200 baud", "firmware": "firmware 1 on b",
        "samples": 4, "dataset": "d.npz", "accuracy": {"correct": 3, "total": 4, "top1": 0.75},
        "agreement": {"bit_exact": 4, "total": 4, "max_abs_diff": 0},
        "latency": latency_summary(np.array([216_000, 432_000, 432_000, 2_160_000]), "cycles", 216_000_000),
        "stack_high_water_bytes": 512, "wall_seconds": 1.0, "retransmissions": 0,
    }
    text = format_result(result)
    assert "accuracy   3/4 = 75.0% (top-1)" in text
    assert ("latency    min 1.000 / median 2.000 / max 10.000 ms (cycles 216,000 / 432,000 / 2,160,000 at 216 MHz)"
            in text)


def test_accuracy_and_agreement_arithmetic() -> None:
    scores = np.array([[1, 9, 3], [7, 0, 2], [0, 0, 5], [4, 5, 6]], np.int8).reshape(4, 1, 3)
    assert accuracy([scores], np.array([1, 0, 1, 2])) == {"correct": 3, "total": 4, "top1": 0.75}
    other = scores.copy()
    other[2, 0, 1] = -7
    a = agreement([scores, np.zeros((4, 2), np.float32)], [other, np.zeros((4, 2), np.float32)])
    assert (a["bit_exact"], a["total"], a["max_abs_diff"], a["mismatched_samples"]) == (3, 4, 7, [2])
    f = np.array([[0.0], [1.5]], np.float32)
    a = agreement([f], [np.array([[-0.0], [1.25]], np.float32)])
    assert (a["bit_exact"], a["max_abs_diff"]) == (0, 0.25)  # -0.0 is not bit-exact with 0.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_place_on_a_terminal_and_as_lines_otherwise() -> None:
    tty = _Terminal()
    bar = Progress(4, stream=tty, width=8)
    for done in range(1, 5):
        bar._last_draw = -1.0  # draw every update (updates are throttled to 10 per second)
        bar.update(done)
    bar.finish()
    text = tty.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "\reval: [####....] 2/4 samples" in text and "[########] 4/4 samples" in text
    plain = io.StringIO()
    bar = Progress(100, stream=plain)
    for done in range(1, 101):
        bar.update(done)
    bar.finish()
    lines = plain.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-1].startswith("eval: 100/100 samples") and "\r" not in plain.getvalue()


def test_histogram_png_is_valid(tmp_path: Path, pil) -> None:
    data = histogram_png(np.array([5, 5, 5]), "one value")
    assert check_png(data) == (640, 320)
    data = histogram_png(np.random.default_rng(0).normal(1e6, 1e3, 500), "latency (instructions)")
    assert check_png(data) == (640, 320)
    (tmp_path / "h.png").write_bytes(data)
    image = pil.open(tmp_path / "h.png")
    assert image.size == (640, 320) and image.mode == "RGB"
    pixels = np.asarray(image)
    assert (pixels == [52, 101, 164]).all(axis=2).sum() > 1000  # bars were drawn


def test_eval_parser_wiring() -> None:
    from tools.evaluate import add_eval_parser

    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "b", "--emulate", "--data", "d.npz", "--jobs", "3"])
    assert (args.build_dir, args.emulate, args.port, args.jobs, args.baud) == (Path("b"), True, None, 3, 115200)
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "b", "--emulate", "--port", "p", "--data", "d.npz"])
