"""`codegen run --emulate`: build, run one inference on the emulated twin, print and save the outputs."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codegen.boards import load_board
from codegen.build import EMULATED_DIR, build, instructions_from_ticks, io_bytes, measuring_invoke_wait, per_call
from codegen.errors import CodegenError, ToolchainError
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.target import Target

if TYPE_CHECKING:
    from codegen.pipeline import CompiledModel


def load_inputs(graph: Graph, paths: list[Path]) -> list[np.ndarray]:
    """One .npy per graph input, checked against the model's dtype and shape (a leading batch of 1 may be left out)."""
    if len(paths) != len(graph.inputs):
        raise CodegenError(f"{graph.name} takes {len(graph.inputs)} input(s); {len(paths)} --input given")
    arrays = []
    for i, (path, index) in enumerate(zip(paths, graph.inputs, strict=True)):
        t = graph.tensor(index)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CodegenError(f"cannot read input {i} from {path}: {exc}") from None
        want = np.dtype(NUMPY_DTYPES[t.dtype])
        if array.dtype != want:
            raise CodegenError(f"input {i} ({path}) is {array.dtype}, the model takes {want}")
        if array.size != t.size or array.squeeze().shape != np.empty(t.shape).squeeze().shape:
            raise CodegenError(f"input {i} ({path}) has shape {array.shape}, the model takes {t.shape}")
        arrays.append(array.reshape(t.shape))
    return arrays


def format_profile(compiled: CompiledModel, profile_ticks: list[int], tick_unit: str) -> str:
    """One row per kernel call that ran: call position, operator, kernel, MACs, instructions (ticks x 40)."""
    lines = [f"{'call':>5} {'op':>4}  {'kernel':36}{'MACs':>13}{'instructions':>14}{'share':>8}"]
    total = max(profile_ticks[-1], 1) if profile_ticks else 1
    for pos, ticks in zip(compiled.sources.profile_positions, per_call(profile_ticks), strict=True):
        call = compiled.calls[pos]
        lines.append(f"{pos:>5} {call.op_index:>4}  {call.kernel[:35]:36}{call.macs:>13,}"
                     f"{instructions_from_ticks(ticks, tick_unit):>14,}{ticks / total:>8.1%}")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    from tools.emulator import Emulator

    board = load_board(args.board)
    if not board.emulator_layer:
        raise ToolchainError(f"board {board.name} has no emulated twin")
    with tempfile.TemporaryDirectory(prefix="codegen-run-") as tmp:
        out = args.out or Path(tmp) / "build"
        from codegen.pipeline import compile_file

        # Validates the model and the inputs before building.
        compiled = compile_file(args.model, Target(board.core), board.sram.size)
        graph = compiled.graph
        inputs = load_inputs(graph, args.input)
        profile = getattr(args, "profile", False)
        result = build(args.model, board, out, measure_run=False, compiled=compiled, profile=profile)
        with Emulator(out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine or "mps2-an500",
                      link_options={"invoke_timeout": measuring_invoke_wait(result.compiled)}) as emu:
            emu.link.expect_model(result.compiled.hash8, graph.name, *io_bytes(graph))
            raw, stats = emu.link.infer(inputs)
            profile_ticks = emu.link.read_profile(len(result.compiled.sources.profile_positions)) if profile else None
    if len(args.output) > len(raw):
        raise CodegenError(f"{graph.name} has {len(raw)} output(s); {len(args.output)} --output given")
    for i, (data, index) in enumerate(zip(raw, graph.outputs, strict=True)):
        t = graph.tensor(index)
        array = np.frombuffer(data, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape)
        print(f"output {i} {t.dtype}{list(t.shape)}: {np.array2string(array.reshape(-1), threshold=64)}")
        if i < len(args.output):
            np.save(args.output[i], array)
    if profile_ticks is not None:
        print(format_profile(result.compiled, profile_ticks, stats.tick_unit))
    instructions = instructions_from_ticks(stats.ticks, stats.tick_unit)
    print(f"instructions per inference: {instructions:,}; stack high-water: {stats.stack_high_water:,} B")
    return 0
