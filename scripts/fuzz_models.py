"""Fuzz the .tflite reader and the planner with mutated models.

Every case is a seed model (the real ones in ../shared/models and the generated ones of scripts/fuzz_seeds.py)
mutated by scripts/model_mutations.py, then taken through what `codegen plan` and `codegen build` do before
gcc: read, fuse PADs, lower, search schedules under an SRAM budget, apply the schedule, specialise kernels,
plan memory and emit the C sources to strings. A case must end in success or a CodegenError (the project's
clean, one-line-per-problem error); any other exception is a crash, a case over the time limit a hang.

Cases run in a worker process that the harness kills and replaces when a case hangs or the process dies,
so one bad case never stops the run. Case i of seed S is the same bytes on every machine: a crash prints
(and saves) its input for `--replay`.

    python -m scripts.fuzz_models --cases 100000 --seed 1 [--models DIR] [--crashes DIR] [--time-limit 60]
    python -m scripts.fuzz_models --replay fuzz-crashes/crash-1a2b3c4d.tflite

Exit status: 0 when no case crashed or hung (or the replayed input ends cleanly), 1 otherwise, 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import random
import resource
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from codegen.errors import CodegenError
from codegen.frontend.tflite_reader import parse_tflite
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.pipeline import compile_graph
from codegen.schedule.search import candidates, choose
from codegen.targets.core import PORTABLE, Target
from scripts.fuzz_seeds import generated_models
from scripts.model_mutations import Seed, make_seed, mutate

DEFAULT_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
# SRAM budgets the cases draw from: a big board's whole SRAM, and two that force patch-based schedules.
BUDGETS = (320 * 1024, 96 * 1024, 24 * 1024)
# Seeds with more operators get only the first budget and no listing of patch schedules: searching them
# under a tight budget takes 10 to 60 s (ResNet-8 with streamed input, VWW, person_detect, MCUNet), too slow
# to fuzz.
SEARCH_MAX_OPERATORS = 12
# Listing every patch schedule (`codegen plan` does when per-layer execution fits) costs 0.5 s even for an
# 8-operator model, 20 times a compilation: one case in ten does it.
LIST_SCHEDULES = 0.1
TARGETS = (Target("cortex-m7"), PORTABLE)
MEMORY_LIMIT = 3 << 30  # address space of a worker: a case that tries to allocate more is a crash
UNMUTATED_EVERY = 50  # every 50th case is a seed as is: the harness must reach success too


@dataclass(frozen=True)
class Case:
    index: int
    seed_name: str
    description: str
    data: bytes
    budget: int
    target: Target
    stream_input: bool
    search: bool  # list the patch schedules too, as `codegen plan` does when per-layer execution fits


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok", "clean", "crash" or "hang"
    summary: str  # the error's first line, or the crash's exception and innermost project frame
    details: str = ""  # the traceback of a crash


@dataclass
class Tally:
    cases: int = 0
    kinds: Counter = field(default_factory=Counter)
    clean: Counter = field(default_factory=Counter)  # error class and message start -> count
    crashes: dict[str, tuple[Case, Outcome]] = field(default_factory=dict)  # first case of each signature


def load_seeds(models: Path | None, only: Collection[str] | None = None) -> list[Seed]:
    """The generated seeds, then the .tflite files in `models` (all, or those whose stem is in `only`), sorted
    so that case numbers mean the same everywhere."""
    named = generated_models()
    if models is not None and models.is_dir():
        named += [(p.stem, p.read_bytes()) for p in sorted(models.glob("*.tflite"))
                  if only is None or p.stem in only]
    return [make_seed(name, data) for name, data in named]


def make_case(seeds: list[Seed], seed: int, index: int) -> Case:
    rng = random.Random(f"{seed}:{index}")
    base = rng.choice(seeds)
    if index % UNMUTATED_EVERY == 0:
        data, description = base.data, "unmutated"
    else:
        data, description = mutate(base, rng.choice(seeds), rng)
    small = base.operators <= SEARCH_MAX_OPERATORS
    budget = rng.choice(BUDGETS) if small else BUDGETS[0]
    return Case(index, base.name, description, data, budget, rng.choice(TARGETS), rng.random() < 0.3,
                small and rng.random() < LIST_SCHEDULES)


def compile_case(case: Case) -> None:
    """What `codegen plan` computes, then the build's compilation up to the C sources (no gcc)."""
    graph = parse_tflite(case.data, name="fuzzed")
    fused = fuse_pads(graph)
    calls = lower_graph(fused)
    chosen, weighed = choose(fused, calls, case.budget, scratch_hint(case.target), None, case.stream_input)
    if len(weighed) == 1 and case.search:
        candidates(fused, calls, None, case.stream_input)
    compile_graph(graph, case.data, case.target, case.budget, use_cost_model=False, schedule=chosen,
                  stream_input=case.stream_input)


def _crash_signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/codegen/" in f.filename or "/tools/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def run_case(case: Case) -> Outcome:
    try:
        compile_case(case)
    except CodegenError as exc:
        lines = exc.lines()
        if not str(exc).strip() or any("\n" in line for line in lines):
            return Outcome("crash", f"{type(exc).__name__} that is not one line per problem", repr(lines))
        first = lines[1].strip() if len(lines) > 1 else lines[0]  # a list's first problem says more than its title
        return Outcome("clean", f"{type(exc).__name__}: {first}")
    except Exception as exc:  # anything but a CodegenError is what the fuzzer looks for
        return Outcome("crash", _crash_signature(exc), traceback.format_exc())
    return Outcome("ok", "compiled")


CaseRunner = Callable[[Case], Outcome]


def _worker(conn: Connection, seeds: list[Seed], seed: int, run: CaseRunner) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    while True:
        indices = conn.recv()
        if indices is None:
            return
        for index in indices:
            conn.send((index, run(make_case(seeds, seed, index))))


class Runner:
    """One worker process, fed chunks of case numbers; replaced when a case hangs or kills it."""

    def __init__(self, seeds: list[Seed], seed: int, time_limit: float, run: CaseRunner = run_case):
        self.seeds, self.seed, self.time_limit, self.run_one = seeds, seed, time_limit, run
        self.ctx = multiprocessing.get_context("fork")
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.process = self.ctx.Process(target=_worker, args=(child, self.seeds, self.seed, self.run_one),
                                        daemon=True)
        self.process.start()
        child.close()
        self.conn = parent

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
        self.process = self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        if self.process is not None:
            self.process.join(5)
        self._stop()

    def run(self, indices: list[int]) -> Iterator[tuple[int, Outcome]]:
        pending = list(indices)
        while pending:
            if self.process is None:
                self._start()
            assert self.conn is not None and self.process is not None
            self.conn.send(pending)
            while pending:
                if not self.conn.poll(self.time_limit):
                    yield pending.pop(0), Outcome("hang", f"no result within {self.time_limit:g} s")
                    self._stop()
                    break
                try:
                    index, outcome = self.conn.recv()
                except (EOFError, OSError):
                    self.process.join()
                    code = self.process.exitcode
                    yield pending.pop(0), Outcome("crash", f"worker died (exit code {code})")
                    self._stop()
                    break
                pending.remove(index)
                yield index, outcome


def fuzz(seeds: list[Seed], seed: int, cases: int, time_limit: float = 60.0, chunk: int = 200,
         first: int = 0, progress: bool = False, run: CaseRunner = run_case, crashes: Path | None = None) -> Tally:
    """Cases first .. first + cases - 1, in a worker process (forked: `run` need not be picklable). The first
    case of each crash or hang signature is saved to `crashes` as soon as it is found."""
    tally = Tally()
    runner = Runner(seeds, seed, time_limit, run)
    started = time.monotonic()
    try:
        for start in range(first, first + cases, chunk):
            for index, outcome in runner.run(list(range(start, min(start + chunk, first + cases)))):
                tally.cases += 1
                tally.kinds[outcome.kind] += 1
                if outcome.kind == "clean":
                    tally.clean[outcome.summary[:90]] += 1
                elif outcome.kind in ("crash", "hang") and outcome.summary not in tally.crashes:
                    case = make_case(seeds, seed, index)
                    tally.crashes[outcome.summary] = (case, outcome)
                    where = f", saved as {save_crash(case, outcome, crashes, seed)}" if crashes is not None else ""
                    if progress:
                        print(f"  case {index}: {outcome.kind} {outcome.summary}{where}", file=sys.stderr, flush=True)
            if progress:
                rate = tally.cases / max(time.monotonic() - started, 1e-9)
                print(f"  {tally.cases:,} cases, {rate:.0f}/s: {dict(tally.kinds)}", file=sys.stderr, flush=True)
    finally:
        runner.close()
    return tally


def save_crash(case: Case, outcome: Outcome, folder: Path, seed: int) -> Path:
    """The input as a .tflite, and beside it a .txt with how it was made, the settings and the traceback."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{outcome.kind}-{hashlib.sha256(outcome.summary.encode()).hexdigest()[:8]}"
    (folder / f"{stem}.tflite").write_bytes(case.data)
    (folder / f"{stem}.txt").write_text(
        f"{outcome.summary}\nseed {seed} case {case.index}: {case.seed_name}, {case.description}\n"
        f"budget {case.budget}, target {case.target.core}, stream_input {case.stream_input}, "
        f"search {case.search}\n\n{outcome.details}")
    return folder / f"{stem}.tflite"


def report(tally: Tally, seconds: float) -> str:
    k = tally.kinds
    lines = [f"cases {tally.cases:,}  clean errors {k['clean']:,}  successes {k['ok']:,}  crashes {k['crash']:,}  "
             f"hangs {k['hang']:,}  ({seconds:.1f} s, {tally.cases / max(seconds, 1e-9):.0f} cases/s)"]
    lines += [f"  {n:>7,}  {msg}" for msg, n in tally.clean.most_common(12)]
    lines += [f"  {case.index:>7}  {outcome.kind.upper()}: {summary}  ({case.seed_name}: {case.description[:80]})"
              for summary, (case, outcome) in tally.crashes.items()]
    return "\n".join(lines)


def replay(path: Path) -> int:
    """Run a saved input in this process, with the settings its .txt records (the defaults without one)."""
    budget, target, stream, search = BUDGETS[0], TARGETS[0], False, True
    notes = path.with_suffix(".txt")
    if notes.is_file():
        fields = dict(item.split(" ", 1) for item in notes.read_text().splitlines()[2].split(", "))
        budget, target = int(fields["budget"]), Target(fields["target"])
        stream, search = fields["stream_input"] == "True", fields.get("search", "True") == "True"
    outcome = run_case(Case(0, path.stem, "replay", path.read_bytes(), budget, target, stream, search))
    print(f"{outcome.kind}: {outcome.summary}")
    if outcome.details:
        print(outcome.details)
    return 1 if outcome.kind in ("crash", "hang") else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.fuzz_models", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="number of the first case (resume a run)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="folder of seed .tflite models")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"), help="where crashing inputs go")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds before a case is a hang")
    parser.add_argument("--replay", type=Path, help="run one saved input in this process and show its traceback")
    args = parser.parse_args(argv)
    if args.replay is not None:
        if not args.replay.is_file():
            parser.error(f"--replay {args.replay}: no such file")
        return replay(args.replay)
    if args.cases < 1 or args.time_limit <= 0:
        parser.error("--cases and --time-limit must be positive")
    if not args.models.is_dir():
        print(f"{args.models}: no such folder of seed models; fuzzing the generated seeds only", file=sys.stderr)
    seeds = load_seeds(args.models)
    started = time.monotonic()
    tally = fuzz(seeds, args.seed, args.cases, args.time_limit, first=args.first, progress=True,
                 crashes=args.crashes)
    print(report(tally, time.monotonic() - started))
    return 1 if tally.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
