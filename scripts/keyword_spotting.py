"""Keyword spotting on the emulated board: a 16 kHz mono WAV -> TFLM's audio front end, frame by frame with its
state carried -> TFLM's micro_speech classifier, both models in ONE firmware (`codegen build --model pre --model
kws`), run in QEMU over the serial protocol; prints the keyword.

    python -m scripts.keyword_spotting ../shared/models/tflm_micro_speech_testdata/yes_1000ms.wav [--out DIR]

The WAV is cut into 30 ms windows (480 samples) every 20 ms (320 samples): 49 frames for one second. The front end
(tflm_audio_preprocessor_float.tflite: 480 int16 samples -> 40 float features, stateful) runs once per frame, reset
before the first; the 49 x 40 features are quantized with the classifier's input scale and zero point into its
1 x 1960 int8 input; the classifier's 4 scores give the keyword.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.errors import CodegenError

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
FRONT_END = SHARED_MODELS / "tflm_audio_preprocessor_float.tflite"
CLASSIFIER = SHARED_MODELS / "tflm_micro_speech_quantized.tflite"
SAMPLE_RATE = 16_000
WINDOW = 480  # 30 ms
STRIDE = 320  # 20 ms
FEATURES = 40
LABELS = ("silence", "unknown", "yes", "no")  # the order of micro_speech's outputs


@dataclass(frozen=True)
class Spotted:
    keyword: str
    scores: np.ndarray  # the classifier's int8 output, one per label
    features: np.ndarray  # (frames, FEATURES) float32 from the front end


def read_wav(path: Path) -> np.ndarray:
    """The samples of a 16 kHz mono 16-bit PCM WAV as int16; anything else is refused with one line."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
                raise CodegenError(f"{path}: {w.getframerate()} Hz, {w.getnchannels()} channel(s), "
                                   f"{8 * w.getsampwidth()}-bit: keyword spotting takes 16 kHz mono 16-bit PCM")
            data = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise CodegenError(f"cannot read {path}: {exc}") from None
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def frame_audio(samples: np.ndarray, window: int = WINDOW, stride: int = STRIDE) -> np.ndarray:
    """(frames, window) int16: windows of `window` samples every `stride`, only whole ones (49 for 16,000)."""
    if len(samples) < window:
        raise CodegenError(f"{len(samples)} samples: at least one {window}-sample window is needed")
    count = 1 + (len(samples) - window) // stride
    return np.stack([samples[k * stride : k * stride + window] for k in range(count)]).astype(np.int16)


def quantize_features(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The classifier's int8 input (1, frames * FEATURES) from float features: round(x / scale) + zero point,
    saturated to int8, as TFLM's micro_speech example feeds its model."""
    q = np.round(np.asarray(features, dtype=np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8).reshape(1, -1)


def keyword_of(scores: np.ndarray) -> str:
    return LABELS[int(np.argmax(np.asarray(scores).reshape(-1)))]


def spot(wav: Path, out: Path, board_name: str = "nucleo-f746",
         front_end: Path = FRONT_END, classifier: Path = CLASSIFIER) -> Spotted:
    """Build the two-model firmware into `out`, run the WAV through it in QEMU, return the keyword."""
    from codegen.ir import NUMPY_DTYPES
    from codegen.targets.boards import load_board
    from tools.build import EMULATED_DIR, build_models
    from tools.link.emulator import Emulator

    frames = frame_audio(read_wav(wav))
    board = load_board(board_name)
    result = build_models([front_end, classifier], board, out, measure_run=False)
    pre, kws = (c.graph for c in result.compiled)
    pre_in, pre_out = pre.tensor(pre.inputs[0]), pre.tensor(pre.outputs[0])
    kws_in, kws_out = kws.tensor(kws.inputs[0]), kws.tensor(kws.outputs[0])
    features = np.zeros((len(frames), FEATURES), np.float32)
    with Emulator(out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine or "mps2-an500") as emu:
        link = emu.link
        link.hello(0)
        link.reset_state()  # the front end's state (noise estimate, PCAN) starts from zero, then runs on
        for k, frame in enumerate(frames):
            raw, _ = link.infer([frame.reshape(pre_in.shape)])
            features[k] = np.frombuffer(raw[0], dtype=NUMPY_DTYPES[pre_out.dtype]).reshape(-1)[:FEATURES]
        link.hello(1)
        x = quantize_features(features, kws_in.scale, kws_in.zero_point).reshape(kws_in.shape)
        raw, _ = link.infer([x])
    scores = np.frombuffer(raw[0], dtype=NUMPY_DTYPES[kws_out.dtype])
    return Spotted(keyword_of(scores), scores, features)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.keyword_spotting", description=__doc__.split("\n\n")[0])
    p.add_argument("wav", type=Path, help="16 kHz mono 16-bit WAV (e.g. tflm_micro_speech_testdata/yes_1000ms.wav)")
    p.add_argument("--board", default="nucleo-f746", help="board whose emulated twin runs the firmware")
    p.add_argument("--out", type=Path, help="keep the two-model build here (default: a temporary folder)")
    args = p.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="codegen-kws-") as tmp:
            found = spot(args.wav, args.out or Path(tmp) / "build", args.board)
    except CodegenError as exc:
        print(f"codegen: {exc.lines()[0]}", file=sys.stderr)
        return exc.exit_code
    print(f"{args.wav.name}: {found.keyword} (scores {found.scores.tolist()} for {', '.join(LABELS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
