"""The command line under abuse (issue 18): sizes, board paths, unwritable or odd --out / --plot / --output
paths, symbolic links, foreign input files, NaN inputs, decompression bombs, absurd timeouts and two builds
racing for one folder. Every case runs the real CLI as a process and expects one `codegen: ...` line on
stderr, the documented exit code, and nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor

REPO = Path(__file__).resolve().parents[2]
BOARD = "nucleo-f746"
needs_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")


def codegen(*args: str | Path, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tools.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=300)


def one_line(result: subprocess.CompletedProcess, code: int, *phrases: str) -> str:
    """The process failed with `code` and exactly one `codegen: ` line on stderr holding every phrase."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("codegen: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Staging, lock, probe and moved-aside folders a build must never leave behind."""
    return sorted(p.name for p in folder.iterdir()
                  if any(tag in p.name for tag in (".partial", ".old-", ".lock", ".probe-")))


def image_model(side: int = 8) -> bytes:
    """An int8 image classifier in one layer: FULLY_CONNECTED over a side x side x 1 image, two classes."""
    q = Quantization((1 / 255,), (-128,))
    rng = np.random.default_rng(1)
    tensors = [
        Tensor(0, "image", (1, side, side, 1), "int8", q),
        Tensor(1, "w", (2, side * side), "int8", Quantization((0.01,), (0,)),
               rng.integers(-127, 128, (2, side * side), dtype=np.int8)),
        Tensor(2, "scores", (1, 2), "int8", Quantization((0.5,), (0,))),
    ]
    op = Operator(0, "FULLY_CONNECTED", (0, 1, -1), (2,), {"activation": "NONE", "weights_format": 0,
                                                          "keep_num_dims": False})
    return write_tflite(Graph(tensors, [op], (0,), (2,), name="image_fc"))


def gray_png(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grayscale PNG of any size, compressed row by row (a 20000 x 20000 one is 0.4 MB)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    rows = bytes((width + 1) * 100)  # filter byte 0 + black pixels, 100 rows at a time
    parts = [packer.compress(rows) for _ in range(height // 100)]
    parts += [packer.compress(bytes((width + 1) * (height % 100))), packer.flush()]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def image_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `codegen build --no-measure` of image_model(), for the eval cases (none of them boots QEMU)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    root = tmp_path_factory.mktemp("image_build")
    (root / "image_fc.tflite").write_bytes(image_model())
    result = codegen("build", "--board", BOARD, "--model", root / "image_fc.tflite", "--out", root / "build",
                     "--no-measure")
    assert result.returncode == 0, result.stderr
    return root / "build"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs: root ignores permission bits, not a read-only mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "codegen-test", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# ---- 1. sizes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["infk", "inf", "nan", "nank", "-1", "-96k", "0", "0k", "0.4", "1e5", "",
                                  "5g", "4097m", "99999999999999999999999", "9" * 400])
def test_bad_sram_budgets_are_refused_at_parse_time(size: str, tmp_path: Path) -> None:
    model = tmp_path / "missing.tflite"  # never read: the command line is refused first
    for command in (["plan", "--model", model], ["build", "--board", BOARD, "--model", model,
                                                 "--out", tmp_path / "out"]):
        result = codegen(*command, f"--sram-budget={size}")
        one_line(result, 2, "--sram-budget")
    assert list(tmp_path.iterdir()) == []


def test_good_sizes_still_parse(shared_models: Path) -> None:
    model = shared_models / "tflm_hello_world_int8.tflite"
    for size in ("65536", "96k", "96K", "96kB", "1.5m", "4096m"):
        result = codegen("plan", "--model", model, "--sram-budget", size)
        assert result.returncode == 0, (size, result.stderr)


# ---- 2. boards are catalogue names --------------------------------------------------------------------------


def test_board_paths_are_refused(tmp_path: Path, shared_models: Path) -> None:
    empty_json = tmp_path / "myboard"
    empty_json.mkdir()
    (empty_json / "board.json").write_text("{}")
    not_json = tmp_path / "garbled"
    not_json.mkdir()
    (not_json / "board.json").write_text("memory: lots")
    model = shared_models / "tflm_hello_world_int8.tflite"
    for board in (empty_json, not_json, "../boards/nucleo-f746", REPO / "boards" / "nucleo-f746", "mps2-an500",
                  "", "nucleo-f746/", "nucleo-f746/../nucleo-f746"):
        result = codegen("build", "--board", board, "--model", model, "--out", tmp_path / "out", "--no-measure")
        one_line(result, 1, f"unknown board '{board}'", "nucleo-f746, nucleo-f767zi")
        one_line(codegen("plan", "--board", board, "--model", model), 1, "unknown board")
    assert not (tmp_path / "out").exists()


@needs_gcc
def test_eval_refuses_a_report_whose_board_is_a_path(image_build: Path, tmp_path: Path) -> None:
    fake = tmp_path / "board"
    fake.mkdir()
    (fake / "board.json").write_text('["not", "a", "board"]')
    np.savez(tmp_path / "data.npz", x=np.zeros((2, 1, 8, 8, 1), np.int8))
    for board in ("../boards/nucleo-f746", str(fake)):
        tampered = tmp_path / f"build-{len(board)}"
        shutil.copytree(image_build, tampered)
        report = json.loads((tampered / "report.json").read_text())
        (tampered / "report.json").write_text(json.dumps({**report, "board": board}))
        for target in (["--emulate"], ["--port", "socket://127.0.0.1:9"]):
            result = codegen("eval", tampered, *target, "--data", tmp_path / "data.npz")
            one_line(result, 1, f"names board '{board}'", "nucleo-f746")


# ---- 3. --out and --plot that cannot be written: refused before compiling -----------------------------------


def test_unwritable_out_is_refused_before_the_model_is_read(tmp_path: Path, read_only_dir: Path) -> None:
    garbage = tmp_path / "garbage.tflite"  # a model error (exit 2) would mean the model was read first
    garbage.write_bytes(b"not a model")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = {
        read_only_dir / "out": "Read-only file system",
        read_only_dir / "deeper" / "out": "Read-only file system",
        a_file / "out": "is not a folder",
        a_file: "exists and is not a codegen build directory",
        Path("/proc/codegen-out"): "cannot write in /proc",
    }
    for out, phrase in cases.items():
        one_line(codegen("build", "--board", BOARD, "--model", garbage, "--out", out), 1, f"--out {out}", phrase)
        result = codegen("run", "--board", BOARD, "--emulate", "--model", garbage, "--input", a_file, "--out", out)
        one_line(result, 1, f"--out {out}", phrase)
    assert list(read_only_dir.iterdir()) == [] and leftovers(tmp_path) == []


def test_out_that_is_the_current_folder_or_above_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model")
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (".", "", "..", "/", os.fspath(empty)):
        result = codegen("build", "--board", BOARD, "--model", garbage, "--out", out, cwd=empty)
        one_line(result, 1, "current folder")
    assert list(empty.iterdir()) == [] and leftovers(tmp_path) == []


def test_missing_parents_of_out_are_removed_again_when_the_build_fails(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model")
    result = codegen("build", "--board", BOARD, "--model", garbage, "--out", tmp_path / "a" / "b" / "out")
    one_line(result, 2, "not a TFLite flatbuffer")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.tflite"]


@needs_gcc
def test_unwritable_plot_is_refused_before_building(tmp_path: Path, read_only_dir: Path,
                                                    shared_models: Path) -> None:
    model = shared_models / "tflm_hello_world_int8.tflite"
    (tmp_path / "file").write_text("x")
    cases = {
        read_only_dir / "mem.png": "Read-only file system",
        tmp_path / "file" / "mem.png": "is not a folder",
        tmp_path / "missing" / "mem.png": "does not exist",
        tmp_path: "is a folder",
    }
    for plot, phrase in cases.items():
        result = codegen("build", "--board", BOARD, "--model", model, "--out", tmp_path / "out", "--plot", plot)
        one_line(result, 1, f"--plot {plot}", phrase)
        assert not (tmp_path / "out").exists()
    # A plot inside --out is fine: the build creates the folder it goes into.
    result = codegen("build", "--board", BOARD, "--model", model, "--out", tmp_path / "out", "--no-measure",
                     "--plot", tmp_path / "out" / "mem.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "mem.png").read_bytes().startswith(b"\x89PNG")
    assert leftovers(tmp_path) == []


# ---- 4. --out that is a symbolic link -----------------------------------------------------------------------


@needs_gcc
def test_out_symlink_builds_into_its_target_and_stays_a_link(tmp_path: Path, shared_models: Path) -> None:
    model = shared_models / "tflm_hello_world_int8.tflite"
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to("real")
    for _ in range(2):  # into the empty target, then over the build already there
        result = codegen("build", "--board", BOARD, "--model", model, "--out", link, "--no-measure")
        assert result.returncode == 0, result.stderr
        assert link.is_symlink() and os.readlink(link) == "real"
        assert (real / "report.json").is_file() and (real / "firmware.elf").is_file()
        assert leftovers(tmp_path) == []
    precious = tmp_path / "src"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    to_precious = tmp_path / "to-src"
    to_precious.symlink_to(precious)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for out, phrase in ((to_precious, "is not a codegen build directory"), (dangling, "does not exist"),
                        (loop, "does not exist")):
        result = codegen("build", "--board", BOARD, "--model", model, "--out", out, "--no-measure")
        one_line(result, 1, f"--out {out}", phrase)
        assert out.is_symlink()
    assert (precious / "notes.txt").read_text() == "keep me" and not (tmp_path / "nowhere").exists()
    assert leftovers(tmp_path) == []


# ---- 5, 6. run: input files, output paths, NaN -------------------------------------------------------------


def test_run_refuses_foreign_and_empty_input_files(tmp_path: Path, shared_models: Path) -> None:
    model = shared_models / "tflm_hello_world_int8.tflite"
    x = np.zeros((1, 1), np.int8)
    np.savez(tmp_path / "x.npz", x=x)
    shutil.copy(tmp_path / "x.npz", tmp_path / "npz_named.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("1 2 3\n")
    cases = {"x.npz": "is an .npz archive, not an .npy array", "npz_named.npy": "is an .npz archive",
             "empty.npy": "the file is empty", "text.npy": "cannot read input 0", "missing.npy": "cannot read input 0"}
    for name, phrase in cases.items():
        result = codegen("run", "--board", BOARD, "--emulate", "--model", model, "--input", tmp_path / name)
        one_line(result, 1, phrase, name)


def test_run_refuses_nan_and_inf_float_inputs(tmp_path: Path, shared_models: Path) -> None:
    model = shared_models / "tflm_test_conv_model.tflite"  # float32 input (1, 16, 16, 1)
    for name, bad in (("nan", np.nan), ("inf", np.inf), ("minus_inf", -np.inf)):
        x = np.zeros((1, 16, 16, 1), np.float32)
        x[0, 3, 5, 0] = bad
        np.save(tmp_path / f"{name}.npy", x)
        result = codegen("run", "--board", BOARD, "--emulate", "--model", model, "--input", tmp_path / f"{name}.npy",
                         "--out", tmp_path / "out")
        one_line(result, 1, f"input 0 ({tmp_path / name}.npy) contains NaN or infinite values")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_run_checks_output_paths_before_building(tmp_path: Path, shared_models: Path) -> None:
    model = tmp_path / "garbage.tflite"  # refused with exit 2 if the model were read before --output is checked
    model.write_bytes(b"not a model")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    cases = {tmp_path / "missing" / "y.npy": "does not exist", tmp_path / "file" / "y.npy": "is not a folder",
             tmp_path / "dir": "is a folder: name a file", Path("/proc/y.npy"): "cannot write in /proc"}
    for output, phrase in cases.items():
        result = codegen("run", "--board", BOARD, "--emulate", "--model", model, "--input", tmp_path / "x.npy",
                         "--output", output, "--out", tmp_path / "out")
        one_line(result, 1, f"--output {output}", phrase)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file", "garbage.tflite"]


@needs_gcc
def test_eval_save_outputs_refuses_a_folder(image_build: Path, tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", x=np.zeros((2, 1, 8, 8, 1), np.int8))
    (tmp_path / "outs").mkdir()
    for option in ("--save-outputs", "--histogram", "--report"):
        result = codegen("eval", image_build, "--emulate", "--data", tmp_path / "data.npz", option, tmp_path / "outs")
        one_line(result, 1, f"{option} {tmp_path / 'outs'} is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npz", "outs"]


@needs_gcc
def test_eval_refuses_nan_in_a_float_dataset(tmp_path: Path, shared_models: Path) -> None:
    out = tmp_path / "conv"
    model = shared_models / "tflm_test_conv_model.tflite"  # float32 input (1, 16, 16, 1)
    assert codegen("build", "--board", BOARD, "--model", model, "--out", out, "--no-measure").returncode == 0
    x = np.zeros((3, 16, 16, 1), np.float32)
    x[2, 4, 4, 0] = np.nan
    np.savez(tmp_path / "data.npz", x=x)
    one_line(codegen("eval", out, "--emulate", "--data", tmp_path / "data.npz"), 1, "'x' sample 2 contains NaN")


# ---- 7. decompression bombs ---------------------------------------------------------------------------------


@needs_gcc
@pytest.mark.parametrize("side", [20000, 10000])  # over Pillow's error limit; between its warning and error
def test_eval_refuses_huge_images_unread(side: int, image_build: Path, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(gray_png(8, 8))
    (images / "bomb.png").write_bytes(gray_png(side, side))
    started = time.monotonic()
    result = codegen("eval", image_build, "--emulate", "--data", images)
    one_line(result, 1, f"image {images / 'bomb.png'} is refused unread, too large", "the model takes 8x8")
    assert time.monotonic() - started < 60  # refused from the header: 400M pixels are never decoded


# ---- 8. --timeout ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["inf", "-inf", "nan", "0", "-1", "1e9", "3601", "soon"])
def test_absurd_timeouts_are_refused_at_parse_time(timeout: str, tmp_path: Path) -> None:
    result = codegen("eval", tmp_path / "no-build", "--emulate", "--data", tmp_path / "d.npz", f"--timeout={timeout}")
    one_line(result, 2, "--timeout", repr(timeout))


# ---- 9. two builds into one folder at once ---------------------------------------------------------------------


@needs_gcc
def test_concurrent_builds_into_one_out_are_refused(tmp_path: Path, shared_models: Path) -> None:
    models = {"hello_world": shared_models / "tflm_hello_world_int8.tflite",
              "simple_add": shared_models / "tflm_simple_add_model.tflite"}
    out = tmp_path / "out"
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = {name: subprocess.Popen([sys.executable, "-m", "tools.cli", "build", "--board", BOARD, "--model",
                                     str(model), "--out", str(out)], cwd=REPO, env=environment, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, model in models.items()}
    results = {name: (*p.communicate(timeout=300), p.returncode) for name, p in procs.items()}
    results = {name: (code, out_text, err) for name, (out_text, err, code) in results.items()}
    winners = [name for name, (code, _, _) in results.items() if code == 0]
    losers = [name for name, (code, _, _) in results.items() if code != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    code, _, stderr = results[losers[0]]
    assert code == 1 and stderr.splitlines() == [stderr.strip()], stderr
    assert stderr.startswith(f"codegen: --out {out} is being built by another codegen process (pid ")
    report = json.loads((out / "report.json").read_text())
    assert (out / "model.tflite").read_bytes() == models[winners[0]].read_bytes(), report["model"]
    assert leftovers(tmp_path) == []
