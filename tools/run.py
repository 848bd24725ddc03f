"""`codegen run --emulate`: build, run one inference (or, with --sequence, N in order with the model's state
carried) on the emulated twin, print and save the outputs."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codegen.errors import CodegenError, ToolchainError
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tools.build import EMULATED_DIR, build, instructions_from_ticks, io_bytes, measuring_invoke_wait, per_call
from tools.out_dir import check_output_file, resolve_out

if TYPE_CHECKING:
    from codegen.pipeline import CompiledModel


def load_inputs(graph: Graph, paths: list[Path]) -> list[np.ndarray]:
    """One .npy per graph input, checked against the model's dtype and shape (a leading batch of 1 may be left out)."""
    if len(paths) != len(graph.inputs):
        raise CodegenError(f"{graph.name} takes {len(graph.inputs)} input(s); {len(paths)} --input given")
    arrays = []
    for i, (path, index) in enumerate(zip(paths, graph.inputs, strict=True)):
        t = graph.tensor(index)
        array = _read_npy(path, i)
        want = np.dtype(NUMPY_DTYPES[t.dtype])
        if array.dtype != want:
            raise CodegenError(f"input {i} ({path}) is {array.dtype}, the model takes {want}")
        if array.size != t.size or array.squeeze().shape != np.empty(t.shape).squeeze().shape:
            raise CodegenError(f"input {i} ({path}) has shape {array.shape}, the model takes {t.shape}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise CodegenError(f"input {i} ({path}) contains NaN or infinite values; the model takes finite numbers")
        arrays.append(array.reshape(t.shape))
    return arrays


def load_sequence_inputs(graph: Graph, paths: list[Path]) -> list[np.ndarray]:
    """--sequence: one .npy per graph input holding N steps, shaped (N, *input shape) with the same N for all
    (a leading batch of 1 in the model's shape may be left out); returns one (N, *input shape) array per input."""
    if len(paths) != len(graph.inputs):
        raise CodegenError(f"{graph.name} takes {len(graph.inputs)} input(s); {len(paths)} --input given")
    arrays, steps = [], None
    for i, (path, index) in enumerate(zip(paths, graph.inputs, strict=True)):
        t = graph.tensor(index)
        array = _read_npy(path, i)
        want = np.dtype(NUMPY_DTYPES[t.dtype])
        if array.dtype != want:
            raise CodegenError(f"input {i} ({path}) is {array.dtype}, the model takes {want}")
        step_shape = np.empty(t.shape).squeeze().shape
        if array.ndim < 1 or array.shape[0] < 1 or array.size != array.shape[0] * t.size or \
                np.empty(array.shape[1:]).squeeze().shape != step_shape:
            raise CodegenError(f"--sequence: input {i} ({path}) has shape {array.shape}, expected (N, "
                               f"{', '.join(map(str, t.shape))}): N steps of the model's input")
        if steps is not None and array.shape[0] != steps:
            raise CodegenError(f"--sequence: input {i} ({path}) has {array.shape[0]} steps, input 0 has {steps}")
        steps = array.shape[0]
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise CodegenError(f"input {i} ({path}) contains NaN or infinite values; the model takes finite numbers")
        arrays.append(array.reshape(steps, *t.shape))
    return arrays


def _read_npy(path: Path, i: int) -> np.ndarray:
    """One array from an .npy file; an .npz archive (whatever its name), an empty or foreign file is refused."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except EOFError:
        raise CodegenError(f"cannot read input {i} from {path}: the file is empty") from None
    except (OSError, ValueError) as exc:
        raise CodegenError(f"cannot read input {i} from {path}: {exc}") from None
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise CodegenError(f"input {i} ({path}) is an .npz archive, not an .npy array: save each input with "
                           "np.save(path, array)")
    return loaded


def check_run_args(args: argparse.Namespace) -> None:
    """What can be checked before anything is compiled (or quantized): the board, --out and every --output."""
    load_board(args.board)
    models = getattr(args, "models", None) or [args.model]
    index = getattr(args, "model_index", 0)
    if not 0 <= index < len(models):
        raise CodegenError(f"--model-index {index}: the firmware carries {len(models)} model(s), indices 0.."
                           f"{len(models) - 1}")
    if len(models) > 1 and getattr(args, "profile", False):
        raise CodegenError("--profile takes one model")
    if args.out is not None:
        resolve_out(args.out)
    for path in args.output:
        check_output_file("--output", path)


def format_profile(compiled: CompiledModel, profile_ticks: list[int], tick_unit: str) -> str:
    """One row per kernel call that ran: call position, operator, kernel, MACs, instructions (ticks x 40)."""
    lines = [f"{'call':>5} {'op':>4}  {'kernel':36}{'MACs':>13}{'instructions':>14}{'share':>8}"]
    total = max(profile_ticks[-1], 1) if profile_ticks else 1
    for pos, ticks in zip(compiled.sources.profile_positions, per_call(profile_ticks), strict=True):
        call = compiled.calls[pos]
        lines.append(f"{pos:>5} {call.op_index:>4}  {call.kernel[:35]:36}{call.macs:>13,}"
                     f"{instructions_from_ticks(ticks, tick_unit):>14,}{ticks / total:>8.1%}")
    return "\n".join(lines)


def _save(path: Path, array: np.ndarray) -> None:
    """Exactly `path` (np.save would append .npy to another name)."""
    try:
        with open(path, "wb") as f:
            np.save(f, array)
    except OSError as exc:
        raise CodegenError(f"--output {path}: cannot write it: {exc.strerror or exc}") from None


def run_command(args: argparse.Namespace) -> int:
    from tools.link.emulator import Emulator

    board = load_board(args.board)
    if not board.emulator_layer:
        raise ToolchainError(f"board {board.name} has no emulated twin")
    with tempfile.TemporaryDirectory(prefix="codegen-run-") as tmp:
        out = args.out or Path(tmp) / "build"
        from codegen.pipeline import compile_file

        # Validates the model and the inputs before building.
        models = getattr(args, "models", None) or [args.model]
        if len(models) == 1:
            models = [args.model]  # (a float model's quantized copy)
        index = getattr(args, "model_index", 0)
        compiled = compile_file(models[index], Target(board.core), board.sram.size)
        graph = compiled.graph
        sequence = getattr(args, "sequence", False)
        inputs = load_sequence_inputs(graph, args.input) if sequence else load_inputs(graph, args.input)
        if len(args.output) > len(graph.outputs):
            raise CodegenError(f"{graph.name} has {len(graph.outputs)} output(s); {len(args.output)} --output given")
        profile = getattr(args, "profile", False)
        if len(models) > 1:
            from tools.build import build_models

            multi = build_models(models, board, out, measure_run=False)
            compiled = multi.compiled[index]
        else:
            compiled = build(args.model, board, out, measure_run=False, compiled=compiled,
                             profile=profile).compiled
        with Emulator(out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine or "mps2-an500",
                      link_options={"invoke_timeout": measuring_invoke_wait(compiled)}) as emu:
            if index:
                emu.link.hello(index)
            emu.link.expect_model(compiled.hash8, graph.name, *io_bytes(graph))
            if sequence:  # state zeroed once, then carried from step to step
                emu.link.reset_state()
                steps = [emu.link.infer([x[k] for x in inputs]) for k in range(len(inputs[0]))]
                raw = [b"".join(step[0][i] for step in steps) for i in range(len(graph.outputs))]
                stats = steps[-1][1]
            else:
                raw, stats = emu.link.infer(inputs)
            profile_ticks = emu.link.read_profile(len(compiled.sources.profile_positions)) if profile else None
    if len(args.output) > len(raw):
        raise CodegenError(f"{graph.name} has {len(raw)} output(s); {len(args.output)} --output given")
    lead = (len(inputs[0]),) if sequence else ()
    if sequence:
        print(f"sequence of {lead[0]} invocations, state carried (reset before the first)")
    for i, (data, index) in enumerate(zip(raw, graph.outputs, strict=True)):
        t = graph.tensor(index)
        array = np.frombuffer(data, dtype=NUMPY_DTYPES[t.dtype]).reshape(*lead, *t.shape)
        print(f"output {i} {t.dtype}{list(array.shape)}: {np.array2string(array.reshape(-1), threshold=64)}")
        if i < len(args.output):
            _save(args.output[i], array)
    if profile_ticks is not None:
        print(format_profile(compiled, profile_ticks, stats.tick_unit))
    instructions = instructions_from_ticks(stats.ticks, stats.tick_unit)
    last = " (the last one)" if sequence else ""
    print(f"instructions per inference{last}: {instructions:,}; stack high-water: {stats.stack_high_water:,} B")
    return 0
