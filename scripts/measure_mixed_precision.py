"""Measure QuantMCU-style mixed precision (phase 1, codegen/quantize/mixed_precision.py) on the digits example,
MLPerf Tiny VWW, TFLM person_detect and MCUNet VWW: stage-1 bit operations int8 / mixed, top-1 agreement of the
mixed-precision reference with the int8 reference on held-out inputs, and on digits the accuracy of both.

    python -m scripts.measure_mixed_precision [--models digits,vww,person_detect,mcunet_vww] [--percentile 90]
        [--lam 0.3] [--mp-bitops-target F] [--clip threshold|percentile|mse] [--clip-percentile P] [--per-channel]
        [--integer-step] [--rounding nearest|mean] [--varied] [--budget BYTES] [--calib-count N] [--test-count N]
        [--no-cache] [--firmware N]

With --firmware N, firmwares are built for nucleo-f746 at the same budget (int8 on the search's schedule, int8
on the patch schedule mixed precision runs, and mixed with its VDPC branches) and run in QEMU (-icount,
instructions = SysTick ticks x 40) on N held-out inputs: instructions of the whole inference (unprofiled build)
and of stage 1 (profiled build: the reading after stage 1's last call), the VDPC checks' share, peak SRAM (as
build measures it) and flash.

digits: trained here (scripts/train_digits.py, seed 0), quantized on its calib.npz, planned under 12 kB (so that
stage 1 holds two convolutions), measured on the 360 held-out labelled digits.
vww (mlperf_vww_96_int8, 96x96x3), person_detect (tflm_person_detect, 96x96x1) and mcunet_vww
(tinyengine_mcunet_vww, 80x80x3, float input): calibrated on tflm_person.bmp, tflm_no_person.bmp and 20 random
square crops of scikit-learn's two sample photos (seed 1), measured on 100 other crops (seed 2), resized to the
model's input; grayscale (PIL "L") for person_detect. The bmps are 8-bit grayscale files whose bytes are the
int8 input, not pixels (see tflm_bmp): they are decoded into photos first. Pixels p enter as
p - 128 (int8 inputs) or as (p - 128) x the input scale (mcunet_vww's float input, which its QUANTIZE turns into
p - 128 exactly). Budgets: see BUDGETS. The schedule the search picks at a budget is cached (--no-cache: search
again), since planning mcunet_vww takes minutes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.quantize import mixed_precision as mp
from codegen.reference_executor import run_reference

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
# Inside the repository (build/ is git-ignored), like every other build product: nothing is kept elsewhere.
CACHE = Path(__file__).resolve().parents[1] / "build" / "mixed_precision_schedules.json"
MODELS = ("digits", "vww", "person_detect", "mcunet_vww")
FILES = {"vww": "mlperf_vww_96_int8", "person_detect": "tflm_person_detect", "mcunet_vww": "tinyengine_mcunet_vww"}
# Budgets at which the schedule holds two stage-1 convolutions or more (README: "Mixed precision (QuantMCU)").
BUDGETS = {"digits": 12 * 1024, "vww": 48 * 1024, "person_detect": 32 * 1024, "mcunet_vww": 100 * 1024}


@dataclass(frozen=True)
class Data:
    graph: Graph
    calib: list[list[np.ndarray]]
    test: list[list[np.ndarray]]
    labels: np.ndarray | None = None  # of the test samples, when known


def photo_crops(count: int, seed: int, size: int = 96, gray: bool = False) -> np.ndarray:
    """`count` random square crops of scikit-learn's sample photos, resized to size x size, RGB (or "L") uint8."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    out = []
    for i in range(count):
        im = photos[i % len(photos)]
        side = int(rng.integers(96, min(im.shape[:2]) + 1))
        y, x = int(rng.integers(0, im.shape[0] - side + 1)), int(rng.integers(0, im.shape[1] - side + 1))
        crop = Image.fromarray(im[y : y + side, x : x + side]).resize((size, size), Image.BILINEAR)
        out.append(np.asarray(crop.convert("L") if gray else crop))
    return np.stack(out)


def varied_images(count: int, seed: int, size: int = 96, gray: bool = False) -> np.ndarray:
    """The held-out set of the accuracy sweep: TFLM's two bmps and their mirror images, then `count` - 4 crops of
    scikit-learn's sample photos at random scales (side 48 px up to the photo's height), positions and
    horizontal flips, every fourth the whole photo squeezed to a square; resized to size x size, RGB or "L"."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    images = [Image.fromarray(tflm_bmp(n)) for n in ("person", "no_person")]
    images += [im.transpose(Image.FLIP_LEFT_RIGHT) for im in images]
    for i in range(max(count - 4, 0)):
        im = photos[i % len(photos)]
        if i % 4 == 3:
            crop = Image.fromarray(im)
        else:
            side = int(rng.integers(48, min(im.shape[:2]) + 1))
            y, x = int(rng.integers(0, im.shape[0] - side + 1)), int(rng.integers(0, im.shape[1] - side + 1))
            crop = Image.fromarray(im[y : y + side, x : x + side])
        if rng.integers(2):
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        images.append(crop)
    return np.stack([np.asarray(im.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR))
                     for im in images[:count]])


def tflm_bmp(name: str) -> np.ndarray:
    """TFLM's tflm_{name}.bmp as a grayscale photo: its bytes are the int8 input p - 128 (TFLM's golden vector
    feeds them as they are), so the photo's pixels are those bytes read as int8, plus 128."""
    from PIL import Image

    raw = np.asarray(Image.open(SHARED_MODELS / f"tflm_{name}.bmp"))
    return (raw.view(np.int8).astype(np.int16) + 128).astype(np.uint8)


def image_data(model: str, calib_count: int = 22, test_count: int = 100, varied: bool = False) -> Data:
    """The two TFLM bmps and photo crops (first `calib_count` calibration images), `test_count` other crops (with
    `varied`: varied_images, seed 3)."""
    from PIL import Image

    from codegen.pipeline import read_model

    graph = read_model(SHARED_MODELS / f"{FILES[model]}.tflite")[0]
    t = graph.tensor(graph.inputs[0])
    size, channels = t.shape[1], t.shape[3]
    gray = channels == 1
    bmps = [Image.fromarray(tflm_bmp(n)) for n in ("person", "no_person")]
    bmps = [np.asarray(b.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR)) for b in bmps]
    crops = [photo_crops(calib_count - 2, 1, size, gray)] if calib_count > 2 else []
    calib = np.concatenate([np.stack(bmps), *crops])[:calib_count]
    test = varied_images(test_count, 3, size, gray) if varied else photo_crops(test_count, 2, size, gray)

    def samples(images: np.ndarray) -> list[list[np.ndarray]]:
        q = images.astype(np.int16).reshape(len(images), size, size, channels) - 128
        if t.dtype == "float32":  # the model quantizes its input itself; feed what quantizes to p - 128
            scale = graph.tensor(graph.operators[0].outputs[0]).scale
            return [[(x * np.float32(scale)).astype(np.float32)[None]] for x in q]
        return [[x.astype(np.int8)[None]] for x in q]

    return Data(graph, samples(calib), samples(test))


def digits_data(folder: Path, calib_count: int = 200, test_count: int = 1000) -> Data:
    from codegen.quantize.calibrate import CalibrationConfig
    from codegen.quantize.command import quantize_model
    from codegen.quantize.ptq import QuantizeOptions
    from scripts.train_digits import train

    result = train(folder, log=False)
    model, _ = quantize_model(result.model, result.calib, CalibrationConfig(), QuantizeOptions())
    graph = model.graph
    test = dict(np.load(result.test))
    calib = mp.calibration_samples(dict(np.load(result.calib)), graph, limit=calib_count)
    return Data(graph, calib, mp.calibration_samples(test, graph, limit=test_count), test["y"][:test_count])


def cache_key(name: str, calls: list[KernelCall], budget: int, longest: bool = False) -> str:
    """The same model (its name, calls and MACs) planned under the same budget, for the same preference."""
    return f"{name}|{budget}|{len(calls)}|{sum(c.macs for c in calls)}" + ("|longest" if longest else "")


def _schedule(name: str, graph: Graph, calls: list[KernelCall], budget: int, cache: Path | None,
              longest: bool = False) -> tuple[int, tuple[int, int], str]:
    """(split, grid, description) of the patch schedule mixed precision runs on at `budget`, from the cache when
    the same model (calls and MACs) and budget were planned before."""
    key = cache_key(name, calls, budget, longest)
    known = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    if key in known:
        hit = known[key]
        return hit["split"], tuple(hit["grid"]), hit["describe"] + " (cached)"
    from codegen.schedule.cost_model import load_default
    from codegen.schedule.search import candidates, choose

    cost = load_default()
    chosen, weighed = choose(graph, calls, budget, None, cost)
    if len(weighed) == 1:
        weighed = candidates(graph, calls, cost)
    schedule = mp.patch_schedule_of(graph, calls, chosen, weighed, budget, longest)
    text = f"{schedule.describe()} (search chose {chosen.describe()})"
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        known[key] = {"split": schedule.split, "grid": list(schedule.grid), "describe": text}
        cache.write_text(json.dumps(known, indent=1) + "\n")
    return schedule.split, schedule.grid, text


def measure(name: str, data: Data, budget: int, options: mp.MixedPrecisionOptions,
            cache: Path | None = None, longest: bool = False) -> dict:
    graph = fuse_pads(data.graph)
    calls = lower_graph(graph)
    split, grid, text = _schedule(name, graph, calls, budget, cache, longest)
    stage = mp.patch_stage(graph, calls, split, grid)
    result = mp.search(stage, data.calib, options)
    print(f"{name}: budget {budget:,} B, {text}")
    print(mp.format_result(result))
    ref_top, mixed_top, low = [], [], []
    for inputs in data.test:
        ref = run_reference(graph, inputs, calls)[0]
        mixed, paths = mp.run_mixed(stage, result.plan, inputs)
        ref_top.append(int(np.argmax(ref)))
        mixed_top.append(int(np.argmax(mixed[0])))
        low.extend(paths)
    n = len(data.test)
    agree = int(np.sum(np.equal(ref_top, mixed_top)))
    print(f"  held-out: top-1 agreement with int8 {agree}/{n} = {agree / n:.1%}, low-bit patches {np.mean(low):.1%}")
    figures = {"agreement": agree / n, "ratio": mp.bitops_ratio(result), "held_out_low_share": float(np.mean(low))}
    if data.labels is not None:
        right_int8 = int(np.sum(np.equal(ref_top, data.labels)))
        right_mixed = int(np.sum(np.equal(mixed_top, data.labels)))
        print(f"  held-out accuracy: int8 {right_int8}/{n} = {right_int8 / n:.1%}, mixed {right_mixed}/{n} = "
              f"{right_mixed / n:.1%}")
        figures.update(accuracy_int8=right_int8 / n, accuracy_mixed=right_mixed / n)
    return {**figures, **result.to_json()}


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
            f["bits"] = [c.mixed_precision.plan.bits[t] for t in sorted(c.mixed_precision.plan.bits)]
        figures[label] = f
    i, m = figures["int8"], figures["mixed"]
    print(f"{name} firmware on nucleo-f746 (QEMU), budget {budget:,} B, mean of {len(test)} inputs:")
    for label, f in figures.items():
        stage1 = (f" stage 1 {f['stage1_instructions']:,.0f} (VDPC checks {f['check_instructions']:,.0f}),"
                  if "stage1_instructions" in f else "")
        low = (f"; low-bit patches {f['low_bit_patches']:.1%}, bits {', '.join(map(str, f['bits']))}"
               if "low_bit_patches" in f else "")
        print(f"  {label:22} {f['schedule']}: {f['instructions']:,.0f} instructions,{stage1} peak SRAM "
              f"{f['peak_sram']:,} B, flash {f['flash']:,} B (code {f['flash_code']:,}){low}")
    print(f"  mixed/int8 on the same schedule: instructions {m['instructions'] / i['instructions']:.3f}x, stage 1 "
          f"{m['stage1_instructions'] / i['stage1_instructions']:.3f}x, VDPC checks "
          f"{m['check_instructions'] / m['stage1_instructions']:.2%} of mixed stage 1, flash "
          f"{m['flash'] - i['flash']:+,} B, peak SRAM {m['peak_sram'] - i['peak_sram']:+,} B")
    return figures


class SkipSmallest(Exception):
    """--no-smallest: the smallest-budget rows are not searched."""


def sram_figures(name: str, graph: Graph, calib: list, test: list, budget: int, options: mp.MixedPrecisionOptions,
                 folder: Path, smallest: bool = True) -> dict:
    """Peak SRAM int8 vs mixed (packed maps, int8 sub-patches chosen by the planner: --mp-int8-subpatches auto) at
    `budget`, and the smallest budget each reaches: int8, the patch search's smallest peak; mixed, the smallest
    peak of the (grid, s) pairs weighed under a budget nothing fits. With `test`, both firmwares of each figure are
    built for nucleo-f746 and run in QEMU (peak SRAM as build measures it, mean instructions over `test`)."""
    from codegen.frontend.tflite_writer import write_tflite
    from codegen.pipeline import compile_file
    from codegen.quantize.mixed_plan import NoPairFits, format_choices
    from codegen.schedule.search import NoScheduleFits
    from codegen.targets.boards import load_board
    from codegen.targets.core import Target
    from tools.build import build

    board = load_board("nucleo-f746")
    target = Target(board.core)
    model = folder / f"{graph.name}.tflite"
    model.write_bytes(write_tflite(graph))
    done: dict = {}

    def search(stage: mp.PatchStage) -> mp.MixedPrecisionResult:
        key = (stage.split, stage.grid)
        if key not in done:
            done[key] = mp.search(stage, calib, options)
        return done[key]

    rows = {}
    int8 = compile_file(model, target, budget)
    rows["int8 at budget"] = (int8.schedule.describe(), 1, int8.plan.arena_bytes, int8.schedule.peak_sram_bytes)
    mixed = compile_file(model, target, budget, mixed=search, int8_subpatches=0)
    print(format_choices(list(mixed.mixed_choices), mixed.mixed_choice))
    rows["mixed at budget"] = (mixed.schedule.describe(), mixed.int8_subpatches, mixed.plan.arena_bytes,
                               mixed.mixed_choice.peak_sram_bytes)
    try:
        if not smallest:
            raise SkipSmallest
        compile_file(model, target, 1024)
    except SkipSmallest:
        pass
    except NoScheduleFits as exc:
        small = exc.smallest
        rows["int8 smallest"] = (small.describe(), 1, small.arena_bytes, small.peak_sram_bytes)
    try:
        if not smallest:
            raise SkipSmallest
        compile_file(model, target, 1024, mixed=search, int8_subpatches=0)
    except SkipSmallest:
        pass
    except NoPairFits as exc:
        print(format_choices(list(exc.choices), None))
        low = min([*exc.choices, *mixed.mixed_choices], key=lambda c: c.peak_sram_bytes)  # every pair seen
        rows["mixed smallest"] = (f"patches {low.grid[0]}x{low.grid[1]} split {low.split}", low.s, low.arena_bytes,
                                  low.peak_sram_bytes)
    print(f"{name}: planned (runtime SRAM estimated), budget {budget:,} B")
    for label, (schedule, s, arena, peak) in rows.items():
        print(f"  {label:16} {schedule}, int8 sub-patches {s}: arena {arena:,} B, peak {peak:,} B")
    if test:
        for label, (_, _s, _, peak) in rows.items():
            mixed_run = label.startswith("mixed")
            try:
                b = build(model, board, folder / label.replace(" ", "-"), peak,
                          mixed=search if mixed_run else None, int8_subpatches=0 if mixed_run else 1)
            except Exception as exc:  # noqa: BLE001 - report and go on with the other rows
                print(f"  {label}: build at {peak:,} B refused: {str(exc).splitlines()[0]}")
                continue
            totals = [n for n, _ in _runs(b, test, profile=False)]
            c = b.compiled
            print(f"  {label:16} built at {peak:,} B: {c.schedule.describe()}, s {c.int8_subpatches}: measured peak "
                  f"SRAM {b.sram_used:,} B (arena {c.plan.arena_bytes:,}), {np.mean(totals):,.0f} instructions")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--percentile", type=float, default=mp.MixedPrecisionOptions.outlier_percentile)
    p.add_argument("--lam", type=float, default=mp.MixedPrecisionOptions.lam)
    p.add_argument("--mp-bitops-target", type=float, default=None, metavar="F",
                   help="lower bit-widths until the low-bit path reaches F x int8 bit operations")
    p.add_argument("--clip", choices=mp.CLIPS, default=mp.MixedPrecisionOptions.clip,
                   help="top of each low-bit range (MixedPrecisionOptions.clip)")
    p.add_argument("--clip-percentile", type=float, default=mp.MixedPrecisionOptions.clip_percentile)
    p.add_argument("--per-channel", action="store_true", help="one low-bit step and range per channel")
    p.add_argument("--integer-step", action="store_true", help="integer low-bit steps, not only 2^k (host only)")
    p.add_argument("--rounding", choices=mp.ROUNDINGS, default=mp.MixedPrecisionOptions.rounding,
                   help="mean: rounding offsets that keep each map's calibration mean (host only)")
    p.add_argument("--varied", action="store_true",
                   help="held-out set: the two bmps, their mirror images and varied crops (varied_images, seed 3)")
    p.add_argument("--budget", type=int, default=None, help="SRAM budget in bytes for every model (default: BUDGETS)")
    p.add_argument("--calib-count", type=int, default=None, help="at most this many calibration samples")
    p.add_argument("--test-count", type=int, default=None, help="at most this many held-out samples")
    p.add_argument("--longest-stage1", action="store_true",
                   help="run on the fitting patch schedule with the most stage-1 convolutions (default: the "
                        "search's choice, else the best-ranked)")
    p.add_argument("--no-cache", action="store_true", help=f"search the schedule again (cache: {CACHE})")
    p.add_argument("--sram", type=int, default=None, metavar="N",
                   help="peak SRAM int8 vs mixed (packed maps, int8 sub-patches) at the budget and the smallest "
                        "budget each reaches; N > 0 also builds them and runs N held-out inputs in QEMU")
    p.add_argument("--no-smallest", action="store_true", help="--sram: skip the smallest-budget rows")
    p.add_argument("--firmware", type=int, default=0, metavar="N",
                   help="build both firmwares and measure them in QEMU on N held-out inputs (skips agreement)")
    args = p.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"unknown model {', '.join(unknown)} (known: {', '.join(MODELS)})")
    options = mp.MixedPrecisionOptions(outlier_percentile=args.percentile, lam=args.lam,
                                       bitops_target=args.mp_bitops_target, clip=args.clip,
                                       clip_percentile=args.clip_percentile, per_channel=args.per_channel,
                                       integer_step=args.integer_step, rounding=args.rounding)
    try:
        options.check()
    except ValueError as exc:
        p.error(str(exc))
    counts = {k: v for k, v in (("calib_count", args.calib_count), ("test_count", args.test_count)) if v is not None}
    cache = None if args.no_cache else CACHE
    for name in models:
        budget = BUDGETS[name] if args.budget is None else args.budget
        with tempfile.TemporaryDirectory(prefix=f"mp-{name}-") as tmp:
            data = (digits_data(Path(tmp), **counts) if name == "digits" else
                    image_data(name, **counts, varied=args.varied))
            if args.sram is not None:
                folder = Path(tmp) / "sram"
                folder.mkdir()
                sram_figures(FILES.get(name, name), data.graph, data.calib, data.test[: args.sram], budget, options,
                             folder, not args.no_smallest)
            elif args.firmware:
                folder = Path(tmp) / "firmware"
                folder.mkdir()
                firmware_figures(FILES.get(name, name), data.graph, data.calib, data.test[: args.firmware], budget,
                                 options, folder)
            else:
                measure(name, data, budget, options, cache, args.longest_stage1)


if __name__ == "__main__":
    main()
