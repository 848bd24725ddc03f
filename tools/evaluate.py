"""`codegen eval`: stream a dataset through a board (--port) or its emulated twin (--emulate, --jobs N QEMU
instances), and report top-1 accuracy, agreement with the host reference, and latency.

The host reference is the NumPy reference executor (codegen.reference_executor) on the model that the build
copied beside its firmware (BUILD_DIR/model.tflite): an oracle independent of the generated C; for a
mixed-precision build, run_mixed on the stage and plan its report.json describes. Every device must run that
very model (its 8-byte hash), so stale firmware is refused before any sample is sent.

With --compare OTHER_BUILD_DIR the same samples also run on another build of a model of the same inputs and
outputs (e.g. the int8 and the mixed-precision firmware), on the emulated twin: both are reported side by side
with their top-1 agreement and the share of bit-identical outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from codegen.emit.c_source import model_hash
from codegen.errors import CodegenError, DeviceError, ToolchainError
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels.base import KernelCall
from codegen.paths import BOARDS_DIR
from tools.build import EMULATED_DIR, MODEL_COPY, io_bytes
from tools.datasets import Dataset, load_dataset
from tools.out_dir import check_output_file

if TYPE_CHECKING:
    from codegen.quantize.mixed_precision import MixedPrecisionPlan, PatchStage
    from tools.link.device_link import DeviceLink

DEFAULT_TIMEOUT = 2.0  # seconds a reply may take (INVOKE: the model's expected time more, see invoke_wait)
# Conservative speeds for the INVOKE wait: QEMU -icount shift=0 ran ResNet-8 on the Cortex-M7 twin at 100 to 230
# million instructions per second on this project's 2-core machine at a load average of 12, so 5 million leaves a
# factor of 20 for a busier host; a board's core is taken to need 4 cycles per instruction (wait states, misses).
QEMU_INSTRUCTIONS_PER_SECOND = 5_000_000
BOARD_CYCLES_PER_INSTRUCTION = 4
MAX_TIMEOUT = 3600.0  # an hour per reply; beyond that (or inf) the serial layer's own arithmetic overflows
UNKNOWN_INVOKE_SECONDS = 60.0  # a build report without measured or predicted instructions (an older codegen)


# ---- the build directory -------------------------------------------------------------------------------------


@dataclass
class BuildInfo:
    """What eval needs from a `codegen build` output."""

    path: Path
    report: dict
    graph: Graph
    calls: list[KernelCall]
    hash8: bytes
    mixed: tuple[PatchStage, MixedPrecisionPlan] | None = None  # a mixed-precision build's stage 1 and plan

    @property
    def name(self) -> str:
        return str(self.report.get("model", self.graph.name))

    @property
    def board(self) -> str:
        return str(self.report.get("board", ""))


def read_build_report(path: Path) -> dict:
    report_path = Path(path) / "report.json"
    if not report_path.is_file():
        raise CodegenError(f"{path} is not a codegen build directory (no report.json): run `codegen build` first")
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as exc:
        raise CodegenError(f"cannot read {report_path}: {exc}") from None
    if not isinstance(report, dict):
        raise CodegenError(f"{report_path} is not a codegen build report")
    return report


def emulated_firmware(path: Path, report: dict) -> tuple[Path, str]:
    """The emulated twin's firmware in a build directory, and the QEMU machine that runs it."""
    from codegen.targets.boards import load_board

    board = str(report.get("board", ""))
    elf = Path(path) / EMULATED_DIR / "firmware.elf"
    machine = (load_board(board).qemu_machine if board else None) or report.get("emulator")
    if not machine:
        raise ToolchainError(f"{path} has no emulated firmware: its board {board or '?'} has no QEMU twin; use "
                             "--port with the real board")
    if not elf.is_file():
        raise CodegenError(f"{elf} is missing (the build directory is incomplete): rebuild it with `codegen build`")
    return elf, str(machine)


def open_build(path: Path) -> BuildInfo:
    from codegen.frontend.tflite_reader import parse_tflite
    from codegen.passes.lowering import lower_graph

    path = Path(path)
    report = read_build_report(path)
    report_path = path / "report.json"
    if isinstance(report.get("models"), list):
        raise CodegenError(f"{path} is a firmware with {len(report['models'])} models: eval takes a one-model build "
                           "(run one with `codegen run --model ... --model-index K`)")
    model = path / MODEL_COPY
    if not model.is_file():
        raise CodegenError(f"{path} has no {MODEL_COPY} (built by an older codegen?): rebuild it with `codegen build`")
    data = model.read_bytes()
    hash8 = model_hash(data)
    if report.get("model_hash") not in (None, hash8.hex()):
        raise CodegenError(f"{model} (hash {hash8.hex()}) is not the model of {report_path} (hash "
                           f"{report['model_hash']}): the build directory was modified, rebuild it")
    graph = parse_tflite(data, name=str(report.get("model", path.name)))
    return BuildInfo(path, report, graph, lower_graph(graph), hash8, _mixed_of(path, report, graph))


def _mixed_of(path: Path, report: dict, graph: Graph) -> tuple[PatchStage, MixedPrecisionPlan] | None:
    """A mixed-precision build's stage 1 and plan, rebuilt from its report on the graph it compiled (PAD-fused, as
    codegen.pipeline.compile_graph does)."""
    block = report.get("mixed_precision")
    if block is None:
        return None
    from codegen.passes.fuse_pad import fuse_pads
    from codegen.passes.lowering import lower_graph
    from codegen.quantize.mixed_precision import stage_and_plan_of

    fused = fuse_pads(graph)
    try:
        return stage_and_plan_of(fused, lower_graph(fused), block)
    except ValueError as exc:
        raise CodegenError(f"{path / 'report.json'}: {exc}: rebuild it with `codegen build`") from None


def reference_outputs(build: BuildInfo, inputs: list[np.ndarray], state: dict[int, np.ndarray] | None
                      ) -> list[np.ndarray]:
    """The host reference of one sample: the NumPy reference executor, or run_mixed for a mixed-precision build."""
    if build.mixed is not None:
        from codegen.quantize.mixed_precision import run_mixed

        return run_mixed(*build.mixed, inputs)[0]
    from codegen.reference_executor import run_reference

    return run_reference(build.graph, inputs, build.calls, state=state)


def precision_label(report: dict) -> str:
    """"int8", or "mixed precision (bits 8, 2, 8)" with the maps' bit-widths in call order."""
    block = report.get("mixed_precision")
    if not isinstance(block, dict):
        return "int8"
    bits = ", ".join(str(b) for b in (block.get("bits") or {}).values())
    return f"mixed precision (bits {bits})"


def schedule_label(report: dict) -> str:
    """The schedule a build's report.json names (`Schedule.describe()`, which build writes), e.g. "patches 2x3
    up to 8x8x16" or "per-layer"."""
    s = report.get("schedule") or {}
    return str(s.get("description") or s.get("kind") or "?")


def board_clock_hz(board: str) -> int | None:
    """The core clock of a board from its board.json (the unit of its `cycles` ticks), if known."""
    path = BOARDS_DIR / board / "board.json"
    try:
        value = json.loads(path.read_text()).get("clock_hz")
    except (OSError, ValueError):
        return None
    return int(value) if value else None


def expected_instructions(report: dict) -> int | None:
    """Instructions per inference: measured on the twin by `codegen build`, else twice the cost model's
    prediction (builds with --no-measure), else None."""
    measured = report.get("instructions_per_inference")
    if isinstance(measured, int) and measured > 0:
        return measured
    predicted = (report.get("schedule") or {}).get("predicted_instructions")
    if isinstance(predicted, int | float) and predicted > 0:
        return 2 * int(predicted)
    return None


def invoke_wait(report: dict, timeout: float, emulated: bool) -> float:
    """Seconds one INVOKE attempt waits for its RESULT: the model's expected time at a conservative speed (of
    QEMU, or of the board's core clock) plus `timeout`, the wait for any reply."""
    instructions = expected_instructions(report)
    if instructions is None:
        return UNKNOWN_INVOKE_SECONDS + timeout
    clock = None if emulated else board_clock_hz(str(report.get("board", "")))
    per_second = clock / BOARD_CYCLES_PER_INSTRUCTION if clock else QEMU_INSTRUCTIONS_PER_SECOND
    return round(instructions / per_second + timeout, 3)


def emulator_wall_limit(build: BuildInfo, samples: int, timeout: float, wait: float, attempts: int = 3) -> float:
    """The longest `samples` inferences on one emulator may take if every request used all its attempts (the
    link gives up long before), plus a minute to boot: QEMU never runs past it, even if we hang."""
    from tools.link.protocol import INPUT_CHUNK_MAX, MAX_PAYLOAD

    graph = build.graph
    inputs, outputs = io_bytes(graph)
    requests = 1 + sum(-(-n // INPUT_CHUNK_MAX) for n in inputs) + sum(-(-n // MAX_PAYLOAD) for n in outputs)
    streamed = bool((build.report.get("schedule") or {}).get("input_streamed"))
    streamed_chunks = sum(-(-n // INPUT_CHUNK_MAX) for n in inputs) if streamed else 0  # each restarts the wait
    return 60.0 + samples * attempts * (requests * timeout + wait * (1 + streamed_chunks))


# ---- progress ---------------------------------------------------------------------------------------------------


class Progress:
    """A plain-text progress bar: redrawn in place on a terminal, otherwise a line every tenth of the way."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "eval", width: int = 30):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.width = width
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._next_line = 0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        elapsed = time.monotonic() - self.started
        if self.tty:
            if done < self.total and elapsed - self._last_draw < 0.1:
                return
            self._last_draw = elapsed
            filled = self.width * done // max(self.total, 1)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label}: [{bar}] {done}/{self.total} samples, {elapsed:.1f} s")
        else:
            if done < self._next_line and done < self.total:
                return
            self._next_line = done + max(1, self.total // 10)
            self.stream.write(f"{self.label}: {done}/{self.total} samples, {elapsed:.1f} s\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()


# ---- streaming ----------------------------------------------------------------------------------------------------


@dataclass
class DeviceRun:
    outputs: list[np.ndarray]  # per model output: (samples, *output shape)
    ticks: np.ndarray  # (samples,) device ticks per inference
    stack_high_water: np.ndarray  # (samples,) bytes
    tick_unit: str
    firmware: str  # "<firmware version> on <board>" as the device reported it
    retransmissions: int
    wall_seconds: float


def has_state(graph: Graph) -> bool:
    """Whether the model keeps variable tensors (e.g. SVDF state) from one invoke to the next."""
    return any(t.is_variable for t in graph.tensors)


def stream_dataset(links: list[DeviceLink], data: Dataset, build: BuildInfo, progress: Progress | None = None,
                   while_waiting: list | None = None, stateful: bool = False) -> DeviceRun:
    """Run every sample on the devices behind `links` (tools.link.device_link.DeviceLink), one thread per link,
    samples handed out in order; results land at their sample's index. `while_waiting` is a list of callables
    run in this thread meanwhile (the host reference), stopped early if a device fails.

    A model with variable tensors has them reset (RESET) before each sample, so every sample is judged alone;
    with `stateful` (one link) they are reset once, before the first, and carried through the samples in order."""
    started = time.monotonic()
    graph, n = build.graph, len(data)
    if stateful and len(links) != 1:
        raise CodegenError(f"--stateful runs the samples in order on one device, not {len(links)}")
    outs = [graph.tensor(i) for i in graph.outputs]
    infos = [link.expect_model(build.hash8, build.name, *io_bytes(graph)) for link in links]
    reset_each = has_state(graph) and not stateful
    if stateful:
        links[0].reset_state()
    outputs = [np.zeros((n, *t.shape), dtype=NUMPY_DTYPES[t.dtype]) for t in outs]
    ticks = np.zeros(n, dtype=np.int64)
    stack = np.zeros(n, dtype=np.int64)
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    state = {"next": 0, "done": 0}

    def worker(link: DeviceLink) -> None:
        while not stop.is_set():
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= n:
                return
            try:
                if reset_each:
                    link.reset_state()
                raw, stats = link.infer(data.sample(i))
                for k, (t, blob) in enumerate(zip(outs, raw, strict=True)):
                    outputs[k][i] = np.frombuffer(blob, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape)
            except DeviceError as exc:
                where = f" ({data.names[i]})" if data.names else ""
                errors.append(DeviceError(f"sample {i}{where}: {exc}"))
                stop.set()
                return
            except BaseException as exc:  # noqa: BLE001 -- handed to the main thread, which re-raises it
                errors.append(exc)
                stop.set()
                return
            ticks[i] = stats.ticks
            stack[i] = stats.stack_high_water
            with lock:
                state["done"] += 1
                if progress is not None:
                    progress.update(state["done"])

    threads = [threading.Thread(target=worker, args=(link,), daemon=True) for link in links]
    for thread in threads:
        thread.start()
    try:
        for task in while_waiting or []:
            if stop.is_set():
                break
            task(stop)
        # Short joins keep Ctrl-C responsive; after a failure, do not wait for the other devices' current
        # samples: closing the links (the caller's job) ends those threads.
        while not stop.is_set() and any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(timeout=0.2)
        if not errors:
            for thread in threads:
                thread.join()
    except BaseException:
        stop.set()
        raise
    finally:
        if progress is not None:
            progress.finish()
    if errors:
        raise errors[0]
    return DeviceRun(
        outputs=outputs,
        ticks=ticks,
        stack_high_water=stack,
        tick_unit=infos[0].tick_unit,
        firmware=f"firmware {infos[0].firmware_version} on {infos[0].board}",
        retransmissions=sum(link.counters.retransmissions for link in links),
        wall_seconds=time.monotonic() - started,
    )


@contextlib.contextmanager
def open_links(args: argparse.Namespace, build: BuildInfo, jobs: int,
               samples: int | None = None) -> Iterator[tuple[list[DeviceLink], str]]:
    """The DeviceLinks of the target and a description of it: the serial port, `jobs` emulators that share
    `samples` inferences, or with --ray emulators running as Ray actors (tools.ray_eval: --jobs of them, or one
    per CPU of the cluster)."""
    from tools.link.device_link import DeviceLink

    timeout = float(args.timeout)
    wait = invoke_wait(build.report, timeout, emulated=not args.port)
    if getattr(args, "ray", None) is not None:
        if args.port:
            raise CodegenError("--ray works with --emulate only: a board is one serial port")
        from tools.ray_eval import ray_links

        elf, machine = emulated_firmware(build.path, build.report)
        requested = args.jobs if args.jobs > 1 else None
        with ray_links(elf, machine, build.board, args.ray or None, requested, samples or jobs,
                       timeout, invoke_timeout=wait) as (links, target, _):
            yield links, target  # type: ignore[misc]  # RayLinks answer like DeviceLinks
        return
    if args.port:
        with DeviceLink.open(args.port, baudrate=args.baud, timeout=timeout, invoke_timeout=wait) as link:
            yield [link], f"{args.port} at {args.baud} baud"
        return
    from tools.link.emulator import Emulator

    elf, machine = emulated_firmware(build.path, build.report)
    limit = emulator_wall_limit(build, -(-(samples or 1) // jobs), timeout, wait)
    with contextlib.ExitStack() as stack:
        emulators = [stack.enter_context(Emulator(elf, machine=machine, wall_limit=limit,
                                                  link_options={"timeout": timeout, "invoke_timeout": wait}))
                     for _ in range(jobs)]
        noun = "instance" if jobs == 1 else "instances"
        yield [e.link for e in emulators], f"QEMU {machine} (emulated {build.board}), {jobs} {noun}"


# ---- results ------------------------------------------------------------------------------------------------------


def _stats(values: np.ndarray) -> dict[str, float]:
    med = float(np.median(values))
    return {"min": float(values.min()) if values.dtype.kind == "f" else int(values.min()),
            "median": int(med) if med.is_integer() else med,
            "max": float(values.max()) if values.dtype.kind == "f" else int(values.max())}


def latency_summary(ticks: np.ndarray, tick_unit: str, clock_hz: int | None) -> dict:
    """Latency in device ticks, and in what they mean: instructions in QEMU, ms on a board's cycle counter."""
    out: dict = {"tick_unit": tick_unit, "ticks": _stats(ticks), "instructions": None, "cycles": None,
                 "ms": None, "clock_hz": None}
    if tick_unit.startswith("instructions/"):
        per_tick = int(tick_unit.split("/", 1)[1])
        out["instructions"] = _stats(ticks * per_tick)
        out["note"] = (f"QEMU with -icount shift=0: one tick per {per_tick} executed instructions; "
                       "milliseconds are not meaningful in QEMU")
    elif tick_unit == "cycles":
        out["cycles"] = _stats(ticks)
        if clock_hz:
            out["clock_hz"] = clock_hz
            out["ms"] = _stats(ticks.astype(np.float64) * 1000.0 / clock_hz)
            out["note"] = f"core cycles at {clock_hz / 1e6:g} MHz"
        else:
            out["note"] = "core cycles; the board's clock is unknown, so no milliseconds"
    else:
        out["note"] = f"ticks of unit '{tick_unit}'"
    return out


def accuracy(outputs: list[np.ndarray], labels: np.ndarray) -> dict:
    """Top-1: the argmax of the (single) output against the label, per sample."""
    scores = outputs[0].reshape(len(labels), -1)
    predicted = np.argmax(scores, axis=1)
    correct = int(np.count_nonzero(predicted == labels))
    return {"correct": correct, "total": len(labels), "top1": correct / len(labels)}


def agreement(device: list[np.ndarray], reference: list[np.ndarray]) -> dict:
    """Per sample: are all outputs bit-for-bit equal? And the largest absolute difference anywhere."""
    n = len(device[0])
    same = np.ones(n, dtype=bool)
    max_diff = 0.0
    for got, want in zip(device, reference, strict=True):
        g = np.ascontiguousarray(got).reshape(n, -1)
        w = np.ascontiguousarray(want, dtype=got.dtype).reshape(n, -1)
        same &= np.all(g.view(np.uint8) == w.view(np.uint8), axis=1)
        diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
        if diff.size and not np.all(np.isnan(diff)):
            max_diff = max(max_diff, float(np.nanmax(diff)))
    mismatched = np.flatnonzero(~same)
    return {
        "reference": "NumPy reference kernels (codegen.reference_executor) on BUILD_DIR/model.tflite",
        "bit_exact": int(np.count_nonzero(same)),
        "total": n,
        "max_abs_diff": int(max_diff) if float(max_diff).is_integer() else max_diff,
        "mismatched_samples": [int(i) for i in mismatched[:20]],
    }


def mean_instructions(run: DeviceRun) -> float | None:
    """Mean executed instructions per inference, when the device's ticks count instructions (QEMU)."""
    if not run.tick_unit.startswith("instructions/"):
        return None
    return float(np.mean(run.ticks)) * int(run.tick_unit.split("/", 1)[1])


def top1_agreement(a: list[np.ndarray], b: list[np.ndarray]) -> dict | None:
    """How many samples' argmax the two runs share (one-output models only)."""
    if len(a) != 1:
        return None
    n = len(a[0])
    same = int(np.count_nonzero(np.argmax(a[0].reshape(n, -1), axis=1) == np.argmax(b[0].reshape(n, -1), axis=1)))
    return {"same": same, "total": n, "share": same / n if n else 0.0}


def compare_runs(first: dict, second: dict, run: DeviceRun, other_run: DeviceRun) -> dict:
    """--compare: both builds' results (accuracy, mean instructions) and how their device outputs agree."""
    for r, x in ((first, run), (second, other_run)):
        r["mean_instructions"] = mean_instructions(x)
    identical = agreement(run.outputs, other_run.outputs)
    return {
        "builds": [first["build_dir"], second["build_dir"]],
        "other": second,
        "top1_agreement": top1_agreement(run.outputs, other_run.outputs),
        "bit_identical": {"same": identical["bit_exact"], "total": identical["total"],
                          "max_abs_diff": identical["max_abs_diff"]},
    }


def format_comparison(a: dict, c: dict) -> str:
    """The two builds side by side (`a`: BUILD_DIR's result, `c`: its "compare" block), then their agreement."""
    b = c["other"]

    def acc(r: dict) -> str:
        x = r["accuracy"]
        return f"{x['correct']}/{x['total']} = {100 * x['top1']:.2f}%" if x else "-"

    def instr(r: dict) -> str:
        return "-" if r.get("mean_instructions") is None else f"{r['mean_instructions']:,.0f}"

    def ref(r: dict) -> str:
        agree = r["agreement"]
        return f"{agree['bit_exact']}/{agree['total']} bit-exact"

    rows = [("", "BUILD_DIR", "--compare"), ("build", a["build_dir"], b["build_dir"]),
            ("precision", a["precision"], b["precision"]), ("schedule", a["schedule"], b["schedule"]),
            ("accuracy (top-1)", acc(a), acc(b)), ("host reference", ref(a), ref(b)),
            ("mean instructions", instr(a), instr(b))]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"model      {a['model']} (hash {a['model_hash']}) / {b['model']} (hash {b['model_hash']})",
             f"target     {a['target']}",
             f"samples    {a['samples']} from {a['dataset']}"
             + ("" if a["accuracy"] else f"; accuracy not computed: {a['accuracy_note']}"), ""]
    lines += [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}".rstrip() for r in rows]
    top1, same = c["top1_agreement"], c["bit_identical"]
    lines.append("")
    if top1 is not None:
        lines.append(f"top-1 agreement  {top1['same']}/{top1['total']} = {100 * top1['share']:.2f}% of the samples "
                     "have the same argmax on both builds")
    lines.append(f"bit-identical    {same['same']}/{same['total']} samples with every output equal on both builds "
                 f"(max abs diff {same['max_abs_diff']:.4g})")
    return "\n".join(lines)


# ---- PNG histogram --------------------------------------------------------------------------------------------

# A 3x5 pixel font (rows top to bottom, 3 bits each, most significant = left) for the histogram's labels.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "a": "010101111101101", "b": "110101110101110",
    "c": "011100100100011", "d": "110101101101110", "e": "111100110100111", "f": "111100110100100",
    "g": "011100101101011", "h": "101101111101101", "i": "111010010010111", "j": "001001001101010",
    "k": "101101110101101", "l": "100100100100111", "m": "101111111101101", "n": "110101101101101",
    "o": "010101101101010", "p": "110101110100100", "q": "010101101110011", "r": "110101110101101",
    "s": "011100010001110", "t": "111010010010010", "u": "101101101101111", "v": "101101101101010",
    "w": "101101111111101", "x": "101101010101101", "y": "101101010010010", "z": "111001010100111",
    " ": "000000000000000", ".": "000000000000010", ",": "000000000010100", "=": "000111000111000",
    "(": "001010010010001", ")": "100010010010100", "/": "001001010100100", "-": "000000111000000",
    ":": "000010000010000", "%": "101001010100101", "_": "000000000000111", "?": "111001010000010",
}


def _draw_text(img: np.ndarray, x: int, y: int, text: str, color: tuple[int, int, int], scale: int = 2) -> None:
    for ch in text.lower():
        bits = _FONT.get(ch, _FONT["?"])
        for row in range(5):
            for col in range(3):
                if bits[row * 3 + col] == "1":
                    y0, x0 = y + row * scale, x + col * scale
                    img[max(y0, 0):max(y0 + scale, 0), max(x0, 0):max(x0 + scale, 0)] = color
        x += 4 * scale


def _text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale


def _png(img: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of `img` (height, width, 3), every row with filter type 0."""
    height, width, _ = img.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((height, 1), np.uint8), img.reshape(height, width * 3)], axis=1)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def histogram_png(values: np.ndarray, title: str, width: int = 640, height: int = 320, bins: int = 30) -> bytes:
    """A bar chart of how often each latency occurred, with the range and the highest count labelled."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:  # one distinct latency: a single bar centred on it
        lo, hi, bins = lo - 0.5, hi + 0.5, 1
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi))
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    ink, bar, grid = (0, 0, 0), (52, 101, 164), (220, 220, 220)
    left, right, top, bottom = 60, width - 20, 40, height - 40
    _draw_text(img, (width - _text_width(title)) // 2, 12, title, ink)
    peak = int(counts.max())
    for frac in (0.25, 0.5, 0.75, 1.0):
        img[bottom - int(frac * (bottom - top)), left:right] = grid
    slot = (right - left) / len(counts)
    for k, count in enumerate(counts):
        if count:
            x0 = left + int(k * slot) + 1
            x1 = max(left + int((k + 1) * slot) - 1, x0 + 1)
            img[bottom - max(1, int(count / peak * (bottom - top))):bottom, x0:x1] = bar
    img[top:bottom + 1, left - 1] = ink
    img[bottom, left - 1:right] = ink
    _draw_text(img, left - 8 - _text_width(str(peak)), top - 4, str(peak), ink)
    _draw_text(img, left - 8 - _text_width("0"), bottom - 8, "0", ink)
    lo_text, hi_text = _fmt(float(values.min())), _fmt(float(values.max()))
    _draw_text(img, left, bottom + 8, lo_text, ink)
    _draw_text(img, right - _text_width(hi_text), bottom + 8, hi_text, ink)
    caption = f"n={len(values)}"
    _draw_text(img, (width - _text_width(caption)) // 2, bottom + 22, caption, ink)
    return _png(img)


# ---- the command -----------------------------------------------------------------------------------------------


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="run a dataset on the board or its emulated twin: accuracy, agreement with the host, latency")
    p.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="a `codegen build` output directory")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port of the board (e.g. /dev/ttyACM0, or a pyserial URL)")
    target.add_argument("--emulate", action="store_true", help="run BUILD_DIR/emulated/firmware.elf in QEMU")
    p.add_argument("--data", type=Path, required=True,
                   help=".npz with x (first axis = samples) and optional y labels, or a folder of images")
    p.add_argument("--jobs", type=int, default=1, help="with --emulate: spread the samples over N emulators")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="with --emulate: run the emulators as Ray actors on the cluster at ADDRESS, or on a local Ray "
                        "instance without it; --jobs N of them, else one per CPU of the cluster (needs the cluster "
                        "extra: pip install '.[cluster]')")
    p.add_argument("--save-outputs", type=Path, metavar="OUT.npy",
                   help="save the device outputs, stacked in input order (.npz with out0, out1, ... for several)")
    p.add_argument("--histogram", type=Path, metavar="LAT.png", help="write a PNG histogram of the latencies")
    p.add_argument("--report", type=Path, metavar="EVAL.json", help="write the results as JSON")
    p.add_argument("--compare", type=Path, metavar="OTHER_BUILD_DIR",
                   help="with --emulate: run the same samples on another build of a model with the same inputs and "
                        "outputs (e.g. int8 and --mixed-precision), and report both side by side with their top-1 "
                        "agreement")
    p.add_argument("--limit", type=int, help="use the first N samples only")
    p.add_argument("--stateful", action="store_true",
                   help="carry the model's variable tensors (e.g. SVDF state) from sample to sample in dataset order, "
                        "on one device (reset once, before the first); without it they are reset before each sample")
    p.add_argument("--baud", type=int, default=115200, help="with --port: baud rate (default 115200)")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
                   help=f"seconds to wait for each reply before resending (default {DEFAULT_TIMEOUT:g}, "
                        f"at most {MAX_TIMEOUT:g})")
    return p


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds, more than 0 and at most MAX_TIMEOUT (checked at parse time)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 and at most {MAX_TIMEOUT:g}")
    return value


def _check_args(args: argparse.Namespace, build: BuildInfo) -> None:
    if args.jobs < 1:
        raise CodegenError(f"--jobs must be at least 1, not {args.jobs}")
    if args.port and args.jobs != 1:
        raise CodegenError("--jobs works with --emulate only: a board is one serial port")
    if getattr(args, "stateful", False) and (args.jobs != 1 or args.ray is not None):
        raise CodegenError("--stateful runs the samples in order on one device: it takes neither --jobs N nor --ray")
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise CodegenError(f"--timeout must be above 0 and at most {MAX_TIMEOUT:g} seconds, not {args.timeout:g}")
    _check_board(build)
    if args.save_outputs and len(build.graph.outputs) > 1 and args.save_outputs.suffix != ".npz":
        raise CodegenError(f"{build.name} has {len(build.graph.outputs)} outputs: --save-outputs needs an .npz "
                           f"file name (out0, out1, ...), not {args.save_outputs}")
    for option, path in (("--save-outputs", args.save_outputs), ("--histogram", args.histogram),
                         ("--report", args.report)):
        check_output_file(option, path)  # an existing folder is refused: np.save would write FOLDER.npy


def _check_board(build: BuildInfo) -> None:
    """The report's board must be a catalogue name (a path there would be read as a board folder)."""
    from codegen.targets.boards import board_names

    if build.board and build.board not in board_names():
        raise CodegenError(f"{build.path / 'report.json'} names board '{build.board}', which is not one of "
                           f"{', '.join(board_names())}: rebuild it with `codegen build --board NAME`")


def _check_labels(data: Dataset, build: BuildInfo) -> str | None:
    """None when accuracy can be computed; otherwise why not. Raises on labels no output could match."""
    if data.labels is None:
        return "no labels in the dataset"
    if len(build.graph.outputs) != 1:
        return f"top-1 accuracy needs a one-output model; {build.name} has {len(build.graph.outputs)}"
    classes = build.graph.tensor(build.graph.outputs[0]).size
    if int(data.labels.max()) >= classes:
        i = int(np.argmax(data.labels >= classes))
        raise CodegenError(f"label {int(data.labels[i])} of sample {i} is out of range: {build.name}'s output has "
                           f"{classes} classes")
    return None


def eval_command(args: argparse.Namespace, stream: TextIO | None = None) -> int:
    out = stream if stream is not None else sys.stdout
    build = open_build(args.build_dir)
    _check_args(args, build)
    other = _open_other(args, build)
    data = load_dataset(args.data, build.graph, args.limit)
    no_accuracy = _check_labels(data, build)
    jobs = min(args.jobs, len(data))

    result, run = _evaluate(args, build, data, jobs, no_accuracy)
    if other is None:
        out.write(format_result(result) + "\n")
    else:
        other_result, other_run = _evaluate(args, other, data, jobs, no_accuracy)
        result["compare"] = compare_runs(result, other_result, run, other_run)
        out.write(format_comparison(result, result["compare"]) + "\n")
    _save(args, result, run)
    failed = 0
    for r in (result, *([] if other is None else [result["compare"]["other"]])):
        agree, n = r["agreement"], r["samples"]
        if agree["bit_exact"] != n:
            first = agree["mismatched_samples"][0]
            where = "" if other is None else f"{r['build_dir']}: "
            print(f"codegen: {where}{n - agree['bit_exact']} of {n} samples differ from the host reference (first: "
                  f"sample {first}); max abs diff {agree['max_abs_diff']}", file=sys.stderr)
            failed = 1
    return failed


def _open_other(args: argparse.Namespace, build: BuildInfo) -> BuildInfo | None:
    """--compare OTHER_BUILD_DIR: the other build, refused unless it runs emulated with the same inputs/outputs."""
    path = getattr(args, "compare", None)
    if path is None:
        return None
    if args.port:
        raise CodegenError("--compare runs both builds on their emulated twins: use it with --emulate, not --port "
                           "(a board holds one firmware at a time)")
    if getattr(args, "save_outputs", None) is not None or getattr(args, "histogram", None) is not None:
        raise CodegenError("--save-outputs and --histogram describe one build: run eval without --compare for them")
    other = open_build(path)
    _check_board(other)
    emulated_firmware(other.path, other.report)  # refused now, before the first build's run, if it has none

    def io(b: BuildInfo) -> list[tuple[str, tuple[int, ...]]]:
        return [(b.graph.tensor(t).dtype, tuple(b.graph.tensor(t).shape)) for t in (*b.graph.inputs, *b.graph.outputs)]

    if io(build) != io(other):
        def show(b: BuildInfo) -> str:
            ins = ", ".join(f"{b.graph.tensor(t).dtype}{list(b.graph.tensor(t).shape)}" for t in b.graph.inputs)
            outs = ", ".join(f"{b.graph.tensor(t).dtype}{list(b.graph.tensor(t).shape)}" for t in b.graph.outputs)
            return f"{ins} -> {outs}"

        raise CodegenError(f"--compare needs two builds with the same inputs and outputs: {build.path} takes "
                           f"{show(build)}, {other.path} {show(other)}")
    return other


def _evaluate(args: argparse.Namespace, build: BuildInfo, data: Dataset, jobs: int,
              no_accuracy: str | None) -> tuple[dict, DeviceRun]:
    """Run every sample of `data` on `build`'s target and the host reference meanwhile; the result dict."""
    n = len(data)
    reference: list[list[np.ndarray]] = []
    stateful = bool(getattr(args, "stateful", False))
    carried: dict[int, np.ndarray] = {}  # with --stateful, the reference's variable tensors, sample to sample

    def run_reference_all(stop: threading.Event) -> None:
        for i in range(len(reference), n):
            if stop.is_set():
                return
            reference.append(reference_outputs(build, data.sample(i), carried if stateful else None))

    with open_links(args, build, jobs, samples=n) as (links, target):
        run = stream_dataset(links, data, build, Progress(n), while_waiting=[run_reference_all], stateful=stateful)
    run_reference_all(threading.Event())  # finishes the reference if it was cut short (no-op otherwise)
    ref_outputs = [np.stack([r[k] for r in reference]) for k in range(len(build.graph.outputs))]
    agree = agreement(run.outputs, ref_outputs)
    if build.mixed is not None:
        agree["reference"] = ("NumPy mixed-precision reference (codegen.quantize.mixed_precision.run_mixed) on "
                              "BUILD_DIR/model.tflite and report.json's mixed_precision plan")

    result = {
        "model": build.name,
        "model_hash": build.hash8.hex(),
        "build_dir": str(build.path),
        "precision": precision_label(build.report),
        "schedule": schedule_label(build.report),
        "board": build.board,
        "target": target,
        "firmware": run.firmware,
        "dataset": str(args.data),
        "samples": n,
        "classes": data.classes,
        "accuracy": accuracy(run.outputs, data.labels) if no_accuracy is None else None,
        "accuracy_note": no_accuracy,
        "agreement": agree,
        "latency": latency_summary(run.ticks, run.tick_unit, board_clock_hz(build.board)),
        "stack_high_water_bytes": int(run.stack_high_water.max()),
        "retransmissions": run.retransmissions,
        "wall_seconds": round(run.wall_seconds, 3),
    }
    return result, run


def _save(args: argparse.Namespace, result: dict, run: DeviceRun) -> None:
    try:
        if args.save_outputs:
            with open(args.save_outputs, "wb") as f:  # exactly this name: np.save would append .npy to others
                if len(run.outputs) == 1:
                    np.save(f, run.outputs[0])
                else:
                    np.savez(f, **{f"out{k}": o for k, o in enumerate(run.outputs)})
        if args.histogram:
            lat = result["latency"]
            if lat["instructions"] is not None:
                values, what = run.ticks * int(lat["tick_unit"].split("/", 1)[1]), "instructions"
            elif lat["ms"] is not None:
                values, what = run.ticks.astype(np.float64) * 1000.0 / lat["clock_hz"], "ms"
            else:
                values, what = run.ticks, lat["tick_unit"]
            title = f"{result['model']} latency ({what})"
            args.histogram.write_bytes(histogram_png(values, title))
        if args.report:
            args.report.write_text(json.dumps(result, indent=2) + "\n")
    except OSError as exc:
        raise CodegenError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None


def format_result(r: dict) -> str:
    lat = r["latency"]
    if lat["instructions"] is not None:
        s = lat["instructions"]
        latency = (f"min {s['min']:,} / median {s['median']:,} / max {s['max']:,} instructions "
                   f"({lat['tick_unit']} ticks); ms are not meaningful in QEMU")
    elif lat["ms"] is not None:
        s, c = lat["ms"], lat["cycles"]
        latency = (f"min {s['min']:.3f} / median {s['median']:.3f} / max {s['max']:.3f} ms (cycles {c['min']:,} / "
                   f"{c['median']:,} / {c['max']:,} at {lat['clock_hz'] / 1e6:g} MHz)")
    else:
        s = lat["ticks"]
        latency = f"min {s['min']:,} / median {s['median']:,} / max {s['max']:,} ticks ({lat['tick_unit']})"
    acc = r["accuracy"]
    agree = r["agreement"]
    rows = [
        ("model", f"{r['model']} (hash {r['model_hash']})"),
        ("target", f"{r['target']}; {r['firmware']}"),
        ("samples", f"{r['samples']} from {r['dataset']}"),
        ("accuracy", f"{acc['correct']}/{acc['total']} = {100 * acc['top1']:.1f}% (top-1)" if acc
         else f"not computed: {r['accuracy_note']}"),
        ("agreement", f"{agree['bit_exact']}/{agree['total']} bit-exact with the host reference (max abs diff "
                      f"{agree['max_abs_diff']})"),
        ("latency", latency),
        ("stack", f"{r['stack_high_water_bytes']:,} B high-water (largest over the samples)"),
        ("wall time", f"{r['wall_seconds']:.1f} s, {r['retransmissions']} retransmissions"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
