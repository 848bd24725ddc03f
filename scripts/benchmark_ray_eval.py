"""Throughput of `codegen eval --emulate`: samples per second with 1 and 2 workers, local emulators (--jobs N)
against emulator actors on a local Ray instance (--ray --jobs N), on the same machine, firmware and data.

    python -m scripts.benchmark_ray_eval [--model M.tflite] [--samples 60] [--repeat 2]

Builds the model once (not measured), writes random int8 inputs, starts one local Ray instance (its start-up is
reported apart: `eval --ray` without ADDRESS pays it once per run) and runs every configuration `--repeat`
times, keeping the best run of each. Each run is split in two: start-up (QEMUs, or actors and their QEMUs,
until every one has answered HELLO) and streaming (every sample through tools.evaluate.stream_dataset, as
eval does, without the host reference eval computes meanwhile). Ray runs its workers at nice 15: `--renice`
puts the actors and their QEMUs back at 0, where --jobs' QEMUs run (root only), to tell Ray's own overhead
from the lower priority. Not a test: figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from codegen.targets.boards import load_board
from tools.build import build
from tools.datasets import load_dataset
from tools.evaluate import BuildInfo, emulated_firmware, open_build, stream_dataset
from tools.link.emulator import Emulator
from tools.ray_eval import ray_links

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


@contextlib.contextmanager
def _links(mode: str, info: BuildInfo, workers: int, samples: int, renice: bool) -> Iterator[list]:
    elf, machine = emulated_firmware(info.path, info.report)
    if mode == "ray":
        import ray

        with ray_links(elf, machine, info.board, None, workers, samples, 2.0) as (links, _, pool):
            if renice:  # Ray starts its workers at nice 15; put the actors and their QEMUs back at 0 (root only)
                for actor in pool.actors:
                    procs = ray.get(actor.processes.remote())
                    for pid in (procs["pid"], procs["qemu_pid"]):
                        os.setpriority(os.PRIO_PROCESS, pid, 0)
            yield links
        return
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(Emulator(elf, machine=machine, wall_limit=None)).link for _ in range(workers)]


def _run(mode: str, info: BuildInfo, data_path: Path, workers: int, renice: bool) -> tuple[float, float]:
    """(start-up seconds, streaming seconds) of one run."""
    data = load_dataset(data_path, info.graph, None)
    started = time.monotonic()
    with _links(mode, info, workers, len(data), renice) as links:
        for link in links:
            link.expect_model(info.hash8, info.name)
        ready = time.monotonic()
        run = stream_dataset(links, data, info)
        streamed = time.monotonic()
    if len(run.ticks) != len(data) or not run.ticks.all():
        raise SystemExit(f"{mode} x{workers}: not every sample ran")
    return ready - started, streamed - ready


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=SHARED / "tflm_micro_speech_quantized.tflite")
    p.add_argument("--board", default="nucleo-f746")
    p.add_argument("--samples", type=int, default=60)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--renice", action="store_true",
                   help="run the actors and their QEMUs at nice 0 like --jobs' QEMUs, not Ray's 15 (needs root)")
    args = p.parse_args()
    import ray

    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        root = Path(tmp)
        build(args.model, load_board(args.board), root / "build", measure_run=False)
        info = open_build(root / "build")
        shape = info.graph.tensor(info.graph.inputs[0]).shape
        rng = np.random.default_rng(0)
        np.savez(root / "data.npz", x=rng.integers(-128, 128, size=(args.samples, *shape), dtype=np.int8))
        started = time.monotonic()
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        ray_startup = time.monotonic() - started
        best: dict[tuple[str, int], tuple[float, float]] = {}
        try:
            for _ in range(args.repeat):
                for mode, workers in (("jobs", 1), ("ray", 1), ("jobs", 2), ("ray", 2)):
                    startup, streaming = _run(mode, info, root / "data.npz", workers, args.renice)
                    old = best.get((mode, workers))
                    best[mode, workers] = (startup, streaming) if old is None or streaming < old[1] else old
        finally:
            ray.shutdown()
    n = args.samples
    print(f"{args.model.stem} on {args.board}'s twin, {n} samples, best of {args.repeat}; the local Ray instance "
          f"(2 CPUs) started in {ray_startup:.1f} s; actors at nice {0 if args.renice else 15}")
    print(f"{'mode':26}{'workers':>8}{'start-up s':>12}{'stream s':>10}{'samples/s':>11}{'Ray overhead':>14}")
    for mode, workers in sorted(best):
        startup, streaming = best[mode, workers]
        overhead = f"{100 * (streaming / best['jobs', workers][1] - 1):+.0f}%" if mode == "ray" else ""
        label = "--jobs N (local QEMUs)" if mode == "jobs" else "--ray --jobs N (actors)"
        print(f"{label:26}{workers:>8}{startup:>12.1f}{streaming:>10.1f}{n / streaming:>11.2f}{overhead:>14}")


if __name__ == "__main__":
    main()
