"""scripts/keyword_spotting.py: framing and quantization against TFLM's own vectors (the front end's 49 frames of
the WAVs and its features), the classifier on the host, and end to end in QEMU once the front end builds."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import CodegenError
from codegen.pipeline import compile_file, read_model
from codegen.reference_executor import run_reference
from scripts.keyword_spotting import (
    CLASSIFIER,
    FRONT_END,
    frame_audio,
    keyword_of,
    main,
    quantize_features,
    read_wav,
    spot,
)


def _testdata(shared_models: Path, name: str) -> Path:
    path = shared_models / "tflm_micro_speech_testdata" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("word", ["yes", "no"])
def test_frames_are_the_front_ends_inputs(shared_models: Path, word: str) -> None:
    frames = frame_audio(read_wav(_testdata(shared_models, f"{word}_1000ms.wav")))
    vector = np.load(shared_models / "vectors" / f"tflm_audio_preprocessor_float__{word}_1000ms.npz")
    assert frames.shape == (49, 480) and frames.dtype == np.int16
    np.testing.assert_array_equal(frames, vector["in0"].reshape(49, 480))


def test_framing_takes_whole_windows_only() -> None:
    samples = np.arange(1_000, dtype=np.int16)
    frames = frame_audio(samples)
    assert frames.shape == (2, 480)  # 1 + (1000 - 480) // 320
    np.testing.assert_array_equal(frames[1], samples[320:800])
    with pytest.raises(CodegenError, match="at least one 480-sample window"):
        frame_audio(samples[:479])


@pytest.mark.parametrize(("word", "keyword"), [("yes", "yes"), ("no", "no")])
def test_quantized_features_classify_as_the_word(shared_models: Path, word: str, keyword: str) -> None:
    """TFLM's front-end features, quantized here, classified by the reference executor on micro_speech."""
    if not CLASSIFIER.is_file():
        pytest.skip(f"{CLASSIFIER} is absent")
    vector = np.load(shared_models / "vectors" / f"tflm_audio_preprocessor_float__{word}_1000ms.npz")
    graph, _ = read_model(CLASSIFIER)
    x = graph.tensor(graph.inputs[0])
    q = quantize_features(vector["out0"].reshape(49, 40), x.scale, x.zero_point)
    assert q.shape == (1, 1960) and q.dtype == np.int8
    assert keyword_of(run_reference(graph, [q])[0]) == keyword


def test_quantization_rounds_and_saturates() -> None:
    q = quantize_features(np.array([[0.0, 0.26, -100.0, 100.0]], np.float32), 0.1, -128)
    np.testing.assert_array_equal(q, [[-128, -125, -128, 127]])


def test_bad_wav_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(bytes(4 * 1000))
    assert main([str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"codegen: {path}: 16000 Hz, 2 channel(s), 16-bit: keyword spotting takes 16 kHz mono 16-bit PCM"]


@pytest.mark.emulator
def test_keyword_spotting_end_to_end_in_qemu(shared_models: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """yes_1000ms.wav through the two-model firmware: the front end's 49 x 40 features (state carried from frame
    to frame) equal TFLM's, and the classifier says yes."""
    wav = _testdata(shared_models, "yes_1000ms.wav")
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    try:
        compile_file(FRONT_END)
    except CodegenError as exc:  # the Signal* ops of the front end are being written (issue: audio)
        pytest.skip("the audio front end does not build yet: " + " ".join(line.strip() for line in exc.lines()[:2]))
    found = spot(wav, tmp_path / "build")
    vector = np.load(shared_models / "vectors" / "tflm_audio_preprocessor_float__yes_1000ms.npz")
    np.testing.assert_array_equal(found.features, vector["out0"].reshape(49, 40))
    assert found.keyword == "yes" and found.scores.tolist() == [-128, -128, 127, -128]
