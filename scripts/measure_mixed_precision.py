"""Measure QuantMCU-style mixed precision (phase 1, codegen/quantize/mixed_precision.py) on the digits example
and on MLPerf Tiny VWW: stage-1 bit operations int8 / mixed, and top-1 agreement of the mixed-precision reference
with the int8 reference on held-out inputs.

    python -m scripts.measure_mixed_precision [--models digits,vww] [--percentile 90] [--lam 0.3]

digits: trained here (scripts/train_digits.py, seed 0), quantized on its calib.npz, planned under 12 kB (so that
stage 1 holds two convolutions), measured on the 360 held-out digits.
vww: ../shared/models/mlperf_vww_96_int8.tflite calibrated on tflm_person.bmp, tflm_no_person.bmp and 20 random
96x96 crops of scikit-learn's two sample photos, planned under 48 kB; measured on 100 other crops.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from codegen.ir import Graph
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.quantize import mixed_precision as mp
from codegen.reference_executor import run_reference
from codegen.schedule.cost_model import load_default
from codegen.schedule.search import choose

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def photo_crops(count: int, seed: int) -> np.ndarray:
    """`count` random square crops of scikit-learn's sample photos, resized to 96x96, RGB uint8."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    out = []
    for i in range(count):
        im = photos[i % len(photos)]
        side = int(rng.integers(96, min(im.shape[:2]) + 1))
        y, x = int(rng.integers(0, im.shape[0] - side + 1)), int(rng.integers(0, im.shape[1] - side + 1))
        out.append(np.asarray(Image.fromarray(im[y : y + side, x : x + side]).resize((96, 96), Image.BILINEAR)))
    return np.stack(out)


def vww_data() -> tuple[Graph, list[list[np.ndarray]], list[list[np.ndarray]]]:
    from PIL import Image

    from codegen.pipeline import read_model

    graph = read_model(SHARED_MODELS / "mlperf_vww_96_int8.tflite")[0]
    bmps = [np.asarray(Image.open(SHARED_MODELS / f"tflm_{n}.bmp").convert("RGB")) for n in ("person", "no_person")]
    calib = np.concatenate([np.stack(bmps), photo_crops(20, seed=1)])
    test = photo_crops(100, seed=2)

    def as_int8(images: np.ndarray) -> list[list[np.ndarray]]:  # p - 128, as eval feeds images
        return [[(im.astype(np.int16) - 128).astype(np.int8)[None]] for im in images]

    return graph, as_int8(calib), as_int8(test)


def digits_data(folder: Path) -> tuple[Graph, list[list[np.ndarray]], list[list[np.ndarray]]]:
    from codegen.quantize.calibrate import CalibrationConfig
    from codegen.quantize.command import quantize_model
    from codegen.quantize.ptq import QuantizeOptions
    from scripts.train_digits import train

    result = train(folder, log=False)
    model, _ = quantize_model(result.model, result.calib, CalibrationConfig(), QuantizeOptions())
    graph = model.graph
    calib = mp.calibration_samples(dict(np.load(result.calib)), graph, limit=200)
    test = mp.calibration_samples(dict(np.load(result.test)), graph, limit=1000)
    return graph, calib, test


def measure(name: str, graph: Graph, calib: list, test: list, budget: int,
            options: mp.MixedPrecisionOptions) -> dict:
    graph = fuse_pads(graph)
    calls = lower_graph(graph)
    cost = load_default()
    chosen, weighed = choose(graph, calls, budget, None, cost)
    if len(weighed) == 1:
        from codegen.schedule.search import candidates

        weighed = candidates(graph, calls, cost)
    schedule = mp.patch_schedule_of(graph, calls, chosen, weighed, budget)
    stage = mp.patch_stage(graph, calls, schedule.split, schedule.grid)
    result = mp.search(stage, calib, options)
    print(f"{name}: budget {budget:,} B, {schedule.describe()}")
    print(mp.format_result(result))
    agree, low = 0, []
    for inputs in test:
        ref = run_reference(graph, inputs, calls)[0]
        mixed, paths = mp.run_mixed(stage, result.plan, inputs)
        agree += int(np.argmax(ref) == np.argmax(mixed[0]))
        low.extend(paths)
    print(f"  held-out: top-1 agreement with int8 {agree}/{len(test)} = {agree / len(test):.1%}, "
          f"low-bit patches {np.mean(low):.1%}")
    return {"agreement": agree / len(test), "ratio": mp.bitops_ratio(result), **result.to_json()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="digits,vww")
    p.add_argument("--percentile", type=float, default=mp.MixedPrecisionOptions.outlier_percentile)
    p.add_argument("--lam", type=float, default=mp.MixedPrecisionOptions.lam)
    args = p.parse_args(argv)
    options = mp.MixedPrecisionOptions(outlier_percentile=args.percentile, lam=args.lam)
    models = args.models.split(",")
    if "digits" in models:
        with tempfile.TemporaryDirectory(prefix="mp-digits-") as tmp:
            measure("digits", *digits_data(Path(tmp)), 12 * 1024, options)
    if "vww" in models:
        measure("mlperf_vww_96_int8", *vww_data(), 48 * 1024, options)


if __name__ == "__main__":
    main()
