"""Firmware for a kernel test with every exact fast kernel: the cost model may rightly keep a tiny layer
portable, but the DSP kernels' own emulator tests must run the fast code."""

from __future__ import annotations

from pathlib import Path

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.pipeline import compile_file
from codegen.targets.boards import Board
from codegen.targets.core import Target
from tools.build import BuildResult, build


def build_with_fast_kernels(graph: Graph, board: Board, out: Path) -> BuildResult:
    """`graph` written to out/<name>.tflite and built (not measured) into out/build."""
    out.mkdir(parents=True, exist_ok=True)
    model = out / f"{graph.name}.tflite"
    model.write_bytes(write_tflite(graph))
    compiled = compile_file(model, Target(board.core), use_cost_model=False)
    return build(model, board, out / "build", measure_run=False, compiled=compiled)
