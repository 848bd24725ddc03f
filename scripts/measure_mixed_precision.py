"""Measure QuantMCU-style mixed precision (phase 1, codegen/quantize/mixed_precision.py) on the digits example
and on MLPerf Tiny VWW: stage-1 bit operations int8 / mixed, and top-1 agreement of the mixed-precision reference
with the int8 reference on held-out inputs.

    python -m scripts.measure_mixed_precision [--models digits,vww] [--percentile 90] [--lam 0.3] [--firmware N]

With --firmware N, firmwares are built for nucleo-f746 at the same budget (int8 on the search's schedule, int8
on the patch schedule mixed precision runs, and mixed with its VDPC branches) and run in QEMU (-icount,
instructions = SysTick ticks x 40) on N held-out inputs: instructions of the whole inference (unprofiled build)
and of stage 1 (profiled build: the reading after stage 1's last call), the VDPC checks' share, peak SRAM (as
build measures it) and flash.

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


# ---- firmware figures (--firmware) ---------------------------------------------------------------------


def _runs(result, inputs: list[list[np.ndarray]], profile: bool) -> list[tuple[int, list[int] | None]]:
    """Per input: instructions of one inference and, from a profiled build, the cumulative ticks per point."""
    from tools.build import EMULATED_DIR, instructions_from_ticks
    from tools.link.emulator import Emulator

    compiled = result.compiled
    out = []
    with Emulator(result.out / EMULATED_DIR / "firmware.elf", link_options={"invoke_timeout": 600.0}) as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for x in inputs:
            _, stats = emu.link.infer(x)
            ticks = emu.link.read_profile(len(compiled.sources.profile_positions)) if profile else None
            out.append((instructions_from_ticks(stats.ticks, stats.tick_unit), ticks))
    return out


def firmware_figures(name: str, graph: Graph, calib: list, test: list, budget: int,
                     options: mp.MixedPrecisionOptions, folder: Path) -> dict:
    """Build the int8 and the mixed-precision firmware of `graph` at `budget` and measure them on `test`."""
    from codegen.frontend.tflite_writer import write_tflite
    from codegen.targets.boards import load_board
    from tools.build import build

    board = load_board("nucleo-f746")
    model = folder / f"{graph.name}.tflite"
    model.write_bytes(write_tflite(graph))
    n_calls = len(lower_graph(fuse_pads(graph)))

    def search(stage: mp.PatchStage) -> mp.MixedPrecisionResult:
        return mp.search(stage, calib, options)

    from codegen.pipeline import compile_file
    from codegen.targets.core import Target

    mixed_build = build(model, board, folder / "mixed", budget, mixed=search)  # measured: SRAM as build reports
    schedule = mixed_build.compiled.schedule
    chosen = build(model, board, folder / "int8-chosen", budget)
    same = (chosen if chosen.compiled.schedule.describe() == schedule.describe() else
            build(model, board, folder / "int8", budget,
                  compiled=compile_file(model, Target(board.core), budget, schedule=schedule)))
    figures = {}
    for label, plain in (("int8 (search's choice)", chosen), ("int8", same), ("mixed", mixed_build)):
        c = plain.compiled
        totals = [n for n, _ in _runs(plain, test, profile=False)]
        f = {"schedule": c.schedule.describe(), "instructions": float(np.mean(totals)),
             "peak_sram": plain.sram_used, "flash": plain.size.flash_bytes, "flash_code": plain.size.flash_code_bytes}
        if label != "int8 (search's choice)":
            profiled = build(model, board, folder / f"{label}-profile", budget, profile=True, compiled=c)
            runs = _runs(profiled, test, profile=True)
            sources = profiled.compiled.sources
            last = len(c.calls) - (n_calls - c.schedule.split - 1) - 1
            stage1_point = max(k for k, pos in enumerate(sources.profile_positions) if pos <= last)
            f["stage1_instructions"] = float(np.mean([ticks[stage1_point] * 40 for _, ticks in runs]))
            f["check_instructions"] = float(np.mean([sum(ticks[k] - ticks[k - 1] for k in sources.check_points) * 40
                                                     for _, ticks in runs]))
        if c.mixed_precision is not None:
            low = [p for x in test for p in mp.run_mixed(c.mixed_precision.stage, c.mixed_precision.plan, x)[1]]
            f["low_bit_patches"] = float(np.mean(low))
        figures[label] = f
    i, m = figures["int8"], figures["mixed"]
    print(f"{name} firmware on nucleo-f746 (QEMU), budget {budget:,} B, mean of {len(test)} inputs:")
    for label, f in figures.items():
        stage1 = (f" stage 1 {f['stage1_instructions']:,.0f} (VDPC checks {f['check_instructions']:,.0f}),"
                  if "stage1_instructions" in f else "")
        low = f"; low-bit patches {f['low_bit_patches']:.1%}" if "low_bit_patches" in f else ""
        print(f"  {label:22} {f['schedule']}: {f['instructions']:,.0f} instructions,{stage1} peak SRAM "
              f"{f['peak_sram']:,} B, flash {f['flash']:,} B (code {f['flash_code']:,}){low}")
    print(f"  mixed/int8 on the same schedule: instructions {m['instructions'] / i['instructions']:.3f}x, stage 1 "
          f"{m['stage1_instructions'] / i['stage1_instructions']:.3f}x, VDPC checks "
          f"{m['check_instructions'] / m['stage1_instructions']:.2%} of mixed stage 1, flash "
          f"{m['flash'] - i['flash']:+,} B, peak SRAM {m['peak_sram'] - i['peak_sram']:+,} B")
    return figures


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="digits,vww")
    p.add_argument("--percentile", type=float, default=mp.MixedPrecisionOptions.outlier_percentile)
    p.add_argument("--lam", type=float, default=mp.MixedPrecisionOptions.lam)
    p.add_argument("--firmware", type=int, default=0, metavar="N",
                   help="build both firmwares and measure them in QEMU on N held-out inputs (skips agreement)")
    args = p.parse_args(argv)
    options = mp.MixedPrecisionOptions(outlier_percentile=args.percentile, lam=args.lam)
    models = args.models.split(",")
    with tempfile.TemporaryDirectory(prefix="mp-") as tmp:
        jobs = []
        if "digits" in models:
            (Path(tmp) / "digits").mkdir()
            jobs.append(("digits", *digits_data(Path(tmp) / "digits"), 12 * 1024))
        if "vww" in models:
            jobs.append(("mlperf_vww_96_int8", *vww_data(), 48 * 1024))
        for name, graph, calib, test, budget in jobs:
            if args.firmware:
                folder = Path(tmp) / f"fw-{name}"
                folder.mkdir()
                firmware_figures(name, graph, calib, test[: args.firmware], budget, options, folder)
            else:
                measure(name, graph, calib, test, budget, options)


if __name__ == "__main__":
    main()
