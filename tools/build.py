"""`codegen build`: model -> firmware for a board (and its emulated twin), measured, with a report.

Everything is built in a staging directory beside --out and moved into place only when every step
succeeded, so a failed build never leaves a half-written output behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codegen.emit.firmware_size import FirmwareSize, measure
from codegen.emit.firmware_tree import make, require_toolchain, write_tree
from codegen.emit.platformio import platformio_ini
from codegen.errors import BudgetError, CodegenError, RegionOverflow
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.memory.plot import layer_profile, write_memory_plot
from codegen.pipeline import CompiledModel, MixedSearch, compile_file
from codegen.schedule.search import NoScheduleFits, Schedule, schedule_key
from codegen.targets.boards import Board, load_board
from codegen.targets.core import Target
from tools.out_dir import BUILD_MARKER, check_out_contents, check_output_file, output_lock, resolve_out

EMULATED_DIR = "emulated"
MODEL_COPY = "model.tflite"
# At most this many schedules are built only to find their firmware over the board's flash (the prediction was
# low) before the build gives up: each costs a whole build.
FLASH_REBUILDS = 3


@dataclass
class Measurement:
    """What one inference on the emulated twin showed."""

    instructions: int
    ticks: int
    tick_unit: str
    stack_high_water: int
    profile_ticks: list[int] | None = None  # cumulative ticks after each profile point (profiled builds)


@dataclass
class BuildResult:
    out: Path
    board: Board
    compiled: CompiledModel
    size: FirmwareSize
    measurement: Measurement | None
    sram_budget: int
    remeasured: bool = False  # the schedule was searched again with the runtime SRAM this build measured
    # schedules built first whose firmware linked over the board's flash, with the flash measured: the search
    # ran again without them
    flash_overflows: tuple[tuple[Schedule, int], ...] = ()

    @property
    def sram_used(self) -> int:
        if self.board.stack_region is not None:  # the stack has a memory of its own (H7 DTCM)
            return self.size.ram_static_bytes
        stack = self.measurement.stack_high_water if self.measurement else self.size.stack_reserved_bytes
        return self.size.ram_static_bytes + stack

    def report(self) -> dict:
        c = self.compiled
        m = self.measurement
        return {
            "model": c.graph.name,
            "model_hash": c.hash8.hex(),
            "board": self.board.name,
            "emulator": self.board.qemu_machine,
            "inputs": [_io_entry(c.graph, i) for i in c.graph.inputs],
            "outputs": [_io_entry(c.graph, i) for i in c.graph.outputs],
            "macs": c.macs,
            "schedule": {**c.schedule.to_json(), "description": c.schedule.describe()},
            "arena_bytes": c.plan.arena_bytes,
            "arena_portable_bytes": c.portable_arena_bytes,
            # variable tensors (e.g. SVDF state): model_state, outside the arena, kept between invokes
            "state_bytes": c.plan.state_bytes,
            "scratch": c.scratch_summary(),
            "stack_high_water_bytes": m.stack_high_water if m else None,
            "stack_reserved_bytes": self.size.stack_reserved_bytes,
            "ram_static_bytes": self.size.ram_static_bytes,
            "sram_used_bytes": self.sram_used,
            "runtime_sram_bytes": self.sram_used - c.plan.arena_bytes,  # static state + stack, besides the arena
            "schedule_searched_with_measured_runtime": self.remeasured,
            "schedules_over_flash_at_build": [{"schedule": s.to_json(), "measured_flash_bytes": n}
                                              for s, n in self.flash_overflows],
            "sram_budget_bytes": self.sram_budget,
            "sram_board_bytes": self.board.sram.size,
            "flash_bytes": self.size.flash_bytes,
            "flash_weights_bytes": self.size.flash_weights_bytes,
            "flash_code_bytes": self.size.flash_code_bytes,
            "flash_board_bytes": self.board.flash.size,
            "instructions_per_inference": m.instructions if m else None,
            "emulator_ticks": {k: v for k, v in asdict(m).items() if k != "profile_ticks"} if m else None,
            "memory_profile": [{"operator": op, "live_bytes": b} for op, b in layer_profile(c.calls, c.plan)],
            "layers": [
                {
                    "operator": call.op_index,
                    "op": c.graph.operator(call.op_index).op_type,
                    "kernel": call.kernel,
                    "macs": call.macs,
                    "elided": pos in c.plan.elided_calls,
                    "live_bytes": c.plan.live_bytes[pos],
                }
                for pos, call in enumerate(c.calls)
            ],
            **({"profile": self.profile_rows()} if m and m.profile_ticks is not None else {}),
            **({"mixed_precision": mixed_block(c)} if c.mixed_precision is not None else {}),
        }

    def profile_rows(self) -> list[dict]:
        """One row per profile point: its call, and the instructions that call took (a profiled build)."""
        m = self.measurement
        if m is None or m.profile_ticks is None:
            return []
        c = self.compiled
        rows = []
        for point, (pos, ticks) in enumerate(zip(c.sources.profile_positions, per_call(m.profile_ticks),
                                                 strict=True)):
            call = c.calls[pos]
            kernel = "max_s8 (VDPC check)" if point in c.sources.check_points else call.kernel
            rows.append({"point": point, "position": pos, "operator": call.op_index, "kernel": kernel,
                         "macs": call.macs, "instructions": instructions_from_ticks(ticks, m.tick_unit)})
        return rows


def build(model: Path, board: Board, out: Path, sram_budget: int | None = None, measure_run: bool = True,
          compiled: CompiledModel | None = None, profile: bool = False, stream_input: bool = False,
          mixed: MixedSearch | None = None, int8_subpatches: int = 1) -> BuildResult:
    """With `profile` both firmwares record per-call ticks (make PROFILE=1) and the measurement reads them.
    With `stream_input` the schedule may read the input row by row (see pipeline.compile_graph); with `mixed`,
    stage 1 runs mixed precision (QuantMCU) on the plan it returns, its int8 path on `int8_subpatches` s x s
    sub-patches per patch (0: the planner weighs grids and s, pipeline._emit_mixed).

    Unless `compiled` is given, the schedule is searched with an estimate of the SRAM the firmware needs besides
    the arena; the emulated build then measures it (static RAM + painted stack) and, where the measured figure
    could change the choice, the search runs again with it and the better firmware is built (`remeasured`).

    `out` is checked first (tools.out_dir: a symbolic link means its target) and locked until the build is
    in place, so a second build of the same folder is refused instead of racing this one."""
    target_dir = resolve_out(out)
    with output_lock(target_dir):
        check_out_contents(target_dir, out)  # again, now that no other build can be changing it
        result = _build(model, board, target_dir, sram_budget, measure_run, compiled, profile, stream_input, mixed,
                        int8_subpatches)
    return dataclasses.replace(result, out=out)


def _build(model: Path, board: Board, out: Path, sram_budget: int | None, measure_run: bool,
           compiled: CompiledModel | None, profile: bool, stream_input: bool,
           mixed: MixedSearch | None = None, int8_subpatches: int = 1) -> BuildResult:
    budget = sram_budget if sram_budget is not None else board.sram.size
    target = Target(board.core)
    searched = compiled is None
    refusal: NoScheduleFits | None = None
    weighed: list[Schedule] = []
    if compiled is None:  # bad models are refused before anything is written
        try:
            compiled = compile_file(model, target, budget, stream_input=stream_input,
                                    flash_bytes=board.flash.size, mixed=mixed, int8_subpatches=int8_subpatches)
        except NoScheduleFits as exc:
            if mixed is not None or not (board.emulator_layer and measure_run):
                raise
            # The estimate may be pessimistic: measure the runtime SRAM on the smallest schedule before refusing.
            refusal, weighed = exc, exc.weighed
            compiled = compile_file(model, target, budget, stream_input=stream_input, schedule=exc.smallest)
    require_toolchain()
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    second = out.parent / f".{out.name}.partial2-{os.getpid()}"
    measured_flash: dict[tuple, int] = {}  # schedule_key -> flash its firmware measured, over the board's
    overflows: list[tuple[Schedule, int]] = []
    try:
        while True:
            try:
                result = _build_tree(staging, model, board, compiled, budget, measure_run, profile)
                break
            except BudgetError as exc:
                if refusal is not None:
                    raise refusal from None  # the smallest schedule does not even link: the search's refusal stands
                over = exc.regions.get("FLASH") if isinstance(exc, RegionOverflow) else None
                if not searched or over is None or len(exc.regions) > 1 or compiled.schedule.flash_bytes is None:
                    raise
                # The prediction was low: search again with this schedule's measured flash, which skips it.
                overflows.append((compiled.schedule, board.flash.size + over))
                measured_flash[schedule_key(compiled.schedule)] = board.flash.size + over
                if len(overflows) > FLASH_REBUILDS:
                    smallest = min(n for _, n in overflows)
                    raise BudgetError(f"{exc}; {len(overflows)} schedules built over the board's flash, the "
                                      f"smallest {smallest:,} bytes measured") from None
                compiled = compile_file(model, target, budget, stream_input=stream_input,
                                        earlier=compiled.candidates, flash_bytes=board.flash.size,
                                        flash_measured=measured_flash, mixed=mixed,
                                        int8_subpatches=int8_subpatches)
        result = dataclasses.replace(result, flash_overflows=tuple(overflows))
        if searched and result.measurement is not None and _worth_searching_again(result, refusal):
            runtime = result.sram_used - compiled.plan.arena_bytes
            try:
                again = compile_file(model, target, budget, stream_input=stream_input, runtime_sram_bytes=runtime,
                                     earlier=weighed or compiled.candidates, flash_bytes=board.flash.size,
                                     flash_measured=measured_flash, mixed=mixed,
                                     int8_subpatches=int8_subpatches)
            except NoScheduleFits as exc:
                raise exc.measured() from None
            if again.sources.files == compiled.sources.files:  # the same firmware: only the search's figures change
                result = dataclasses.replace(result, compiled=again, remeasured=True)
            else:
                try:
                    retried = _build_tree(second, model, board, again, budget, measure_run, profile)
                except RegionOverflow:  # over the flash after all: the firmware built first stands
                    retried = None
                if retried is None:
                    pass
                elif retried.sram_used <= budget or result.sram_used > budget:
                    shutil.rmtree(staging)
                    second.rename(staging)
                    result = dataclasses.replace(retried, remeasured=True, flash_overflows=tuple(overflows))
        if result.sram_used > budget:
            raise BudgetError(
                f"{result.compiled.graph.name} needs {result.sram_used:,} bytes of SRAM, "
                f"{result.sram_used - budget:,} more than the {budget:,}-byte budget "
                f"(arena {result.compiled.plan.arena_bytes:,})"
            )
        (staging / "report.json").write_text(json.dumps(result.report(), indent=2) + "\n")
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(second, ignore_errors=True)
        raise
    shutil.rmtree(second, ignore_errors=True)
    return dataclasses.replace(result, out=out)


def _worth_searching_again(result: BuildResult, refusal: NoScheduleFits | None) -> bool:
    """Whether the measured runtime SRAM could change the search's choice: it refused with the estimate, the
    firmware is over budget, or a patched schedule got less room than the measurement shows there is."""
    if refusal is not None or result.sram_used > result.sram_budget:
        return True
    schedule = result.compiled.schedule
    measured = result.sram_used - result.compiled.plan.arena_bytes
    return schedule.split is not None and measured < schedule.runtime_sram_bytes


def _build_tree(root: Path, model: Path, board: Board, compiled: CompiledModel, budget: int, measure_run: bool,
                profile: bool) -> BuildResult:
    """Write, compile and (on the emulated twin) measure one firmware in `root`, with its platformio.ini and a
    copy of the model; no report yet."""
    shutil.rmtree(root, ignore_errors=True)
    write_tree(root, compiled.sources.files, board.board_layer)
    make(root, board.stack_bytes, f"{compiled.graph.name} on {board.name}", profile)
    size = measure(root / "firmware.elf", root / "firmware.map")
    measurement = None
    if board.emulator_layer:
        emulated = root / EMULATED_DIR
        write_tree(emulated, compiled.sources.files, board.emulator_layer, shared_from=root)
        make(emulated, board.stack_bytes, f"{compiled.graph.name} on {board.name}'s emulated twin", profile)
        if measure_run:
            measurement = measure_in_emulator(emulated / "firmware.elf", compiled, board, profile)
    (root / "platformio.ini").write_text(platformio_ini(board))
    # The exact source model travels with its firmware, so eval can recompute host references later.
    shutil.copy2(model, root / MODEL_COPY)
    (root / BUILD_MARKER).write_text("built by codegen; safe to delete\n")
    return BuildResult(root, board, compiled, size, measurement, budget)


def measure_in_emulator(elf: Path, compiled: CompiledModel, board: Board, profile: bool = False,
                        model_index: int = 0) -> Measurement:
    """Run one inference on a fixed pseudo-random input; read instructions and the stack high-water mark
    (and, from a profiled firmware, the ticks after every call)."""
    from tools.link.emulator import Emulator

    rng = np.random.default_rng(0)
    inputs = []
    for index in compiled.graph.inputs:
        t = compiled.graph.tensor(index)
        if t.dtype == "float32":
            inputs.append(rng.standard_normal(t.shape).astype(np.float32))
        else:
            info = np.iinfo(NUMPY_DTYPES[t.dtype])
            inputs.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(NUMPY_DTYPES[t.dtype]))
    with Emulator(elf, machine=board.qemu_machine or "mps2-an500",
                  link_options={"invoke_timeout": measuring_invoke_wait(compiled)}) as emu:
        if model_index:
            emu.link.hello(model_index)
        emu.link.expect_model(compiled.hash8, compiled.graph.name, *io_bytes(compiled.graph))
        _, stats = emu.link.infer(inputs)
        profile_ticks = emu.link.read_profile(len(compiled.sources.profile_positions)) if profile else None
    return Measurement(instructions_from_ticks(stats.ticks, stats.tick_unit), stats.ticks, stats.tick_unit,
                       stats.stack_high_water, profile_ticks)


def measuring_invoke_wait(compiled: CompiledModel) -> float:
    """How long INVOKE may take in a run on the emulated twin: eval's rule (tools.evaluate.invoke_wait) on the
    cost model's prediction, and never less than the link's default of 60 s."""
    from tools.evaluate import invoke_wait

    report = {"schedule": {"predicted_instructions": compiled.schedule.predicted_instructions}}
    return max(60.0, invoke_wait(report, 2.0, emulated=True))


def _io_entry(graph: Graph, index: int) -> dict:
    """A model input or output as the firmware exchanges it: name, element type, shape, bytes (in graph order)."""
    t = graph.tensor(index)
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape),
            "bytes": t.size * np.dtype(NUMPY_DTYPES[t.dtype]).itemsize}


def io_bytes(graph: Graph) -> tuple[list[int], list[int]]:
    """The byte sizes of the model's inputs and outputs, as its firmware reports them in INFO."""
    def nbytes(index: int) -> int:
        t = graph.tensor(index)
        return t.size * np.dtype(NUMPY_DTYPES[t.dtype]).itemsize

    return [nbytes(i) for i in graph.inputs], [nbytes(i) for i in graph.outputs]


def per_call(cumulative: list[int]) -> list[int]:
    """Ticks of each call from the cumulative readings taken after each one."""
    return [b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)]


def instructions_from_ticks(ticks: int, unit: str) -> int:
    """'instructions/40' means one tick per 40 executed instructions (QEMU -icount shift=0 SysTick)."""
    if unit.startswith("instructions/"):
        return ticks * int(unit.split("/", 1)[1])
    raise CodegenError(f"ticks in unit '{unit}' are not instructions")


def _replace(staging: Path, out: Path) -> None:
    """Swap the finished build in; the previous one is moved aside and deleted (put back if the swap fails)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists() or out.is_symlink():
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if os.path.lexists(old):
            old.rename(out)
        raise
    if old.is_symlink():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


# ---- several models in one firmware ---------------------------------------------------------------------------


@dataclass
class MultiBuildResult:
    """A firmware carrying several models (codegen build --model A --model B): one shared arena."""

    out: Path
    board: Board
    compiled: list[CompiledModel]
    size: FirmwareSize
    measurements: list[Measurement | None]
    shared_arena_bytes: int

    @property
    def sram_used(self) -> int:
        stacks = [m.stack_high_water for m in self.measurements if m is not None]
        stack = max(stacks) if stacks else self.size.stack_reserved_bytes
        return self.size.ram_static_bytes + (0 if self.board.stack_region is not None else stack)

    def report(self) -> dict:
        from codegen.emit.multi_model import model_prefixes

        models = []
        prefixes = model_prefixes([c.graph.name for c in self.compiled])
        for index, (c, m) in enumerate(zip(self.compiled, self.measurements, strict=True)):
            models.append({
                "index": index,
                "invoke": f"{prefixes[index]}_invoke",
                "model": c.graph.name,
                "model_hash": c.hash8.hex(),
                "model_file": f"model_{index}.tflite",
                "macs": c.macs,
                "arena_bytes": c.plan.arena_bytes,
                "state_bytes": c.plan.state_bytes,
                "stack_high_water_bytes": m.stack_high_water if m else None,
                "instructions_per_inference": m.instructions if m else None,
            })
        return {
            "models": models,
            "board": self.board.name,
            "emulator": self.board.qemu_machine,
            "arena_bytes": self.shared_arena_bytes,  # shared: the largest model's need
            "state_bytes": sum(c.plan.state_bytes for c in self.compiled),
            "stack_reserved_bytes": self.size.stack_reserved_bytes,
            "ram_static_bytes": self.size.ram_static_bytes,
            "sram_used_bytes": self.sram_used,
            "sram_board_bytes": self.board.sram.size,
            "flash_bytes": self.size.flash_bytes,
            "flash_weights_bytes": self.size.flash_weights_bytes,
            "flash_code_bytes": self.size.flash_code_bytes,
            "flash_board_bytes": self.board.flash.size,
        }


def build_models(models: list[Path], board: Board, out: Path, measure_run: bool = True) -> MultiBuildResult:
    """One firmware carrying every model of `models` (index = position), each layer by layer, their activations in
    one arena (the largest model's: they run one at a time); measured model by model on the emulated twin."""
    from codegen.emit.multi_model import ModelPart, combine_models

    target = Target(board.core)
    compiled = [compile_file(model, target, board.sram.size) for model in models]  # bad models refused first
    parts = [ModelPart(c.graph.name, c.sources, c.plan.arena_bytes, len(c.graph.inputs), len(c.graph.outputs),
                       bool(c.graph.streamed_inputs)) for c in compiled]
    try:
        files = combine_models(parts)
    except ValueError as exc:
        raise CodegenError(str(exc)) from None
    shared = max(c.plan.arena_bytes for c in compiled)
    target_dir = resolve_out(out)
    require_toolchain()
    with output_lock(target_dir):
        check_out_contents(target_dir, out)
        staging = target_dir.parent / f".{target_dir.name}.partial-{os.getpid()}"
        try:
            shutil.rmtree(staging, ignore_errors=True)
            names = ", ".join(c.graph.name for c in compiled)
            write_tree(staging, files, board.board_layer)
            make(staging, board.stack_bytes, f"{names} on {board.name}")
            size = measure(staging / "firmware.elf", staging / "firmware.map")
            measurements: list[Measurement | None] = [None] * len(compiled)
            if board.emulator_layer:
                emulated = staging / EMULATED_DIR
                write_tree(emulated, files, board.emulator_layer, shared_from=staging)
                make(emulated, board.stack_bytes, f"{names} on {board.name}'s emulated twin")
                if measure_run:
                    measurements = [measure_in_emulator(emulated / "firmware.elf", c, board, model_index=k)
                                    for k, c in enumerate(compiled)]
            (staging / "platformio.ini").write_text(platformio_ini(board))
            for k, model in enumerate(models):
                shutil.copy2(model, staging / f"model_{k}.tflite")
            (staging / BUILD_MARKER).write_text("built by codegen; safe to delete\n")
            result = MultiBuildResult(out, board, compiled, size, measurements, shared)
            (staging / "report.json").write_text(json.dumps(result.report(), indent=2) + "\n")
            _replace(staging, target_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return result


def format_multi_report(result: MultiBuildResult) -> str:
    r = result.report()
    rows = []
    for entry, m in zip(r["models"], result.measurements, strict=True):
        k = entry["index"]
        rows.append((f"model {k}", f"{entry['model']} (hash {entry['model_hash']}), {entry['invoke']}(): "
                                  f"MACs {entry['macs']:,}, arena need {entry['arena_bytes']:,} B, "
                                  f"state {entry['state_bytes']:,} B"
                                  + (f", {m.instructions:,} instructions, stack {m.stack_high_water:,} B" if m
                                     else "")))
    rows += [
        ("board", result.board.name + (f", measured on its QEMU twin {r['emulator']}"
                                       if any(result.measurements) else "")),
        ("arena", f"{r['arena_bytes']:,} B shared by the {len(r['models'])} models (the largest need; they run one "
                  f"at a time); state {r['state_bytes']:,} B outside it"),
        ("SRAM total", f"{result.sram_used:,} B = static {r['ram_static_bytes']:,} + stack"),
        ("flash", f"{r['flash_bytes']:,} B = weights {r['flash_weights_bytes']:,} + code {r['flash_code_bytes']:,}"
                  f" of {r['flash_board_bytes']:,}"),
        ("output", str(result.out)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _describe_scratch(r: dict) -> str:
    """What the fast kernels' scratch costs: their own buffers, borrowed bytes, and the portable arena."""
    sc = r["scratch"]
    parts = []
    if sc["calls"]:
        parts.append(f"scratch in {sc['calls']} calls, largest {sc['largest_bytes']:,} B")
    if sc["borrowing_calls"]:
        parts.append(f"{sc['borrowing_calls']} convolutions borrow idle bytes")
    parts.append(f"portable kernels: {r['arena_portable_bytes']:,} B")
    return "; " + ", ".join(parts)


def format_report(result: BuildResult) -> str:
    r = result.report()
    m = result.measurement

    def kb(n: int) -> str:
        return f"{n:,} B ({n / 1024:.1f} kB)"

    rows = [
        ("model", f"{r['model']} (hash {r['model_hash']})"),
        ("board", f"{result.board.name}" + (f", measured on its QEMU twin {r['emulator']}" if m else "")),
        ("schedule", _describe_schedule(result.compiled.schedule)
                     + ("; searched again with the runtime SRAM measured here" if result.remeasured else "")
                     + _describe_flash_overflows(result)),
        ("MACs", f"{r['macs']:,}"),
        ("arena", kb(r["arena_bytes"]) + _describe_scratch(r)),
        *([("state", f"{r['state_bytes']:,} B of variable tensors, outside the arena, kept between invokes "
                     "(RESET zeroes them)")] if r["state_bytes"] else []),
        ("stack high-water", kb(m.stack_high_water) + " measured by stack painting" if m else "not measured"),
        ("SRAM total", f"{kb(result.sram_used)} = static {r['ram_static_bytes']:,} + stack; "
                       f"budget {r['sram_budget_bytes']:,}"),
        ("flash", f"{kb(r['flash_bytes'])} = weights {r['flash_weights_bytes']:,} + code {r['flash_code_bytes']:,}"
                  f" of {r['flash_board_bytes']:,}"),
        ("instructions", f"{m.instructions:,} per inference (SysTick ticks x 40, -icount shift=0)"
                         if m else "not measured"),
        ("output", str(result.out)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _describe_flash_overflows(result: BuildResult) -> str:
    if not result.flash_overflows:
        return ""
    built = ", ".join(f"{s.describe()} ({n:,} B)" for s, n in result.flash_overflows)
    return f"; searched again after the firmware of {built} measured over the {result.board.flash.size:,} B of flash"


def _describe_schedule(schedule: Schedule) -> str:
    if schedule.split is None:
        return schedule.describe()
    return f"{schedule.describe()}, {schedule.mac_overhead:.1%} more MACs than per-layer"


def check_build_args(args: argparse.Namespace) -> None:
    """What can be checked before anything is compiled (or quantized): the board, --out, --plot, the
    mixed-precision options."""
    check_mixed_build_args(args)
    load_board(args.board)
    out = resolve_out(args.out)
    if args.plot is not None and Path(os.path.realpath(args.plot)).parent != out:  # a plot inside --out is fine
        check_output_file("--plot", args.plot)


def mixed_block(c: CompiledModel) -> dict:
    """report.json's mixed_precision block: the offline result, the int8 path's sub-patches and, when the
    planner chose them (`--mp-int8-subpatches auto`), every (grid, s) pair it weighed."""
    block = {**c.mixed_precision.to_json(), "int8_subpatches": c.int8_subpatches,
             "expected_stage1_macs": round(c.mixed_expected_macs)}
    if c.mixed_choices:
        block["pairs_weighed"] = [p.to_json() for p in c.mixed_choices]
    return block


def check_mixed_build_args(args: argparse.Namespace) -> None:
    """`build --mixed-precision`: what can be refused before anything is compiled."""
    if not getattr(args, "mixed_precision", False):
        given = [flag for flag, value in (("--outlier-percentile", args.outlier_percentile),
                                          ("--mp-lambda", args.mp_lambda),
                                          ("--mp-bitops-target", args.mp_bitops_target),
                                          ("--mp-clip", args.mp_clip),
                                          ("--mp-clip-percentile", args.mp_clip_percentile),
                                          ("--mp-per-channel", args.mp_per_channel),
                                          ("--mp-int8-subpatches", getattr(args, "mp_int8_subpatches", None)))
                 if value is not None]
        if given:
            raise CodegenError(f"{', '.join(given)} only work with --mixed-precision")
        return
    if len(getattr(args, "models", None) or [args.model]) > 1:
        raise CodegenError("--mixed-precision takes one --model")
    if args.stream_input:
        raise CodegenError("--mixed-precision runs patches with recomputed halos: --stream-input (cached bands) "
                           "cannot be combined with it")
    if args.calib is None:
        raise CodegenError("--mixed-precision needs --calib CALIB.npz (array x: input samples) to calibrate "
                           "its thresholds and bit-widths")
    if not args.calib.is_file():
        raise CodegenError(f"calibration data {args.calib} does not exist")


def mixed_search(args: argparse.Namespace) -> MixedSearch:
    """The offline search on --calib, once per stage (the build may compile the same schedule again)."""
    from codegen.quantize import mixed_precision as mp
    from codegen.quantize.calibrate import read_npz

    arrays = read_npz(args.calib)
    defaults = mp.MixedPrecisionOptions()
    options = mp.MixedPrecisionOptions(
        outlier_percentile=defaults.outlier_percentile if args.outlier_percentile is None else args.outlier_percentile,
        lam=defaults.lam if args.mp_lambda is None else args.mp_lambda, bitops_target=args.mp_bitops_target,
        **mp.clip_options(args.mp_clip, args.mp_clip_percentile, args.mp_per_channel))
    done: dict[tuple, mp.MixedPrecisionResult] = {}

    def search(stage: mp.PatchStage) -> mp.MixedPrecisionResult:
        key = (stage.split, stage.grid)
        if key not in done:
            samples = mp.calibration_samples(arrays, stage.graph)
            try:
                done[key] = mp.search(stage, samples, options)
            except ValueError as exc:
                raise CodegenError(f"--mixed-precision: {exc}") from None
        return done[key]

    return search


def build_command(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    models = getattr(args, "models", None) or [args.model]
    if len(models) > 1:
        if args.sram_budget is not None or args.stream_input or args.plot is not None:
            raise CodegenError("several --model build layer by layer into one firmware: --sram-budget, "
                               "--stream-input and --plot take one model")
        multi = build_models(models, board, args.out, measure_run=not args.no_measure)
        print(format_multi_report(multi))
        return 0
    mixed = mixed_search(args) if getattr(args, "mixed_precision", False) else None
    subpatches = 1 if getattr(args, "mp_int8_subpatches", None) is None else args.mp_int8_subpatches
    result = build(args.model, board, args.out, args.sram_budget, measure_run=not args.no_measure,
                   stream_input=args.stream_input, mixed=mixed, int8_subpatches=subpatches)
    print(format_report(result))
    if result.compiled.mixed_precision is not None:
        from codegen.quantize.mixed_precision import format_result

        print(format_result(result.compiled.mixed_precision))
        if result.compiled.mixed_choice is not None:
            from codegen.quantize.mixed_plan import format_choices

            print(format_choices(list(result.compiled.mixed_choices), result.compiled.mixed_choice))
    if args.plot:
        per_layer = compile_file(args.model, Target(board.core))
        c = result.compiled
        try:
            write_memory_plot(args.plot, layer_profile(per_layer.calls, per_layer.plan),
                              layer_profile(c.calls, c.plan), f"{c.graph.name}: activation memory per layer",
                              c.schedule.describe().split(" up to")[0])
        except OSError as exc:
            raise CodegenError(f"--plot {args.plot}: cannot write it: {exc.strerror or exc}") from None
        print(f"{'plot':<16}  {args.plot}")
    return 0
