"""Instructions of realistic stage-1 layers on the emulated Cortex-M7 (QEMU -icount shift=0, deterministic): the
int8 kernels (portable and DSP) against the low-bit kernels with 4- and 2-bit activation codes (portable and
DSP), printed as a markdown table. Each count is one whole INVOKE of a one-layer firmware: the layer plus the
firmware's small fixed cost. The first convolution reads the 8-bit image and writes codes; the others read and
write codes of the same width.

Usage: python -m scripts.lowbit.benchmark_lowbit [--board NAME] [--layer dw|pw|conv ...]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.pipeline import CompiledModel, compile_file
from codegen.quantize.mixed_precision import LowBitFormat, low_bit_format
from codegen.targets.boards import Board, load_board
from codegen.targets.core import PORTABLE, Target
from scripts.lowbit.firmware import build_firmware, low_bit_model, run_firmware
from tests.support.model_factory import GraphBuilder, f32, per_tensor

X_Q = per_tensor(0.05, -100)  # a ReLU-like map: most values near its zero point
Y_Q = per_tensor(0.08, -110)
Q_THRESHOLD = 20  # the VDPC threshold the formats cover (int8), as the offline search would set it


def _layer(name: str, in_shape: tuple[int, int, int, int], op_type: str, kernel: int, out_c: int,
           stride: int) -> Graph:
    rng = np.random.default_rng(7)
    b = GraphBuilder(name)
    x = b.tensor("input", in_shape, "int8", X_Q)
    in_c = in_shape[3]
    depthwise = op_type == "DEPTHWISE_CONV_2D"
    shape = (1, kernel, kernel, out_c) if depthwise else (out_c, kernel, kernel, in_c)
    n = shape[3] if depthwise else shape[0]
    scales = tuple(f32(s) for s in rng.uniform(0.004, 0.01, n))
    w = b.tensor("w", shape, "int8", Quantization(scales, (0,) * n, 3 if depthwise else 0),
                 rng.integers(-127, 128, size=shape))
    bias = b.tensor("b", (n,), "int32", None, rng.integers(-2000, 2000, size=n))
    h, wd = -(-in_shape[1] // stride), -(-in_shape[2] // stride)
    y = b.tensor("output", (1, h, wd, out_c), "int8", Y_Q)
    options = dict(padding="SAME", stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1, activation="RELU")
    if depthwise:
        options["depth_multiplier"] = 1
    b.op(op_type, (x, w, bias), (y,), **options)
    return b.build((x,), (y,))


LAYERS: dict[str, Callable[[], Graph]] = {
    "dw": lambda: _layer("dw3x3_48x48x16", (1, 48, 48, 16), "DEPTHWISE_CONV_2D", 3, 16, 1),
    "pw": lambda: _layer("pw1x1_48x48_16to32", (1, 48, 48, 16), "CONV_2D", 1, 32, 1),
    "conv": lambda: _layer("conv3x3s2_96x96_3to16", (1, 96, 96, 3), "CONV_2D", 3, 16, 2),
}


def formats(graph: Graph, bits: int) -> dict[int, LowBitFormat]:
    x = graph.tensor(graph.inputs[0])
    out = {graph.outputs[0]: low_bit_format(bits, Y_Q.zero_point[0], Q_THRESHOLD)}
    if x.shape[3] != 3:  # the first convolution reads the image, which stays 8-bit
        out[x.index] = low_bit_format(bits, X_Q.zero_point[0], Q_THRESHOLD)
    return out


def measure(compiled: CompiledModel, board: Board, folder: Path) -> int:
    elf = build_firmware(compiled, board, folder)
    shapes = [compiled.graph.tensor(i) for i in compiled.graph.inputs]
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 256, size=t.shape).astype(np.uint8) for t in shapes]
    return run_firmware(elf, compiled, board, inputs)[1]


def layer_row(graph: Graph, board: Board, tmp: Path) -> str:
    path = tmp / f"{graph.name}.tflite"
    path.write_bytes(write_tflite(graph))
    portable = compile_file(path, PORTABLE)
    fast = compile_file(path, Target(board.core), use_cost_model=False)
    counts = [measure(portable, board, tmp / "s8"), measure(fast, board, tmp / "s8dsp")]
    for bits in (4, 2):
        for dsp in (False, True):
            low = low_bit_model(portable, formats(graph, bits), dsp)
            if dsp and not low.calls[0].kernel.endswith("_dsp"):
                counts.append(None)
                continue
            counts.append(measure(low, board, tmp / f"b{bits}{'dsp' if dsp else ''}"))
    cells = [f"{c:,}" if c is not None else "-" for c in counts]
    best8 = min(counts[:2])
    best_low = min(c for c in counts[2:] if c is not None)
    return f"| {graph.name} | {portable.macs:,} | " + " | ".join(cells) + f" | {best8 / best_low:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="nucleo-f746")
    parser.add_argument("--layer", action="append", choices=sorted(LAYERS), help="default: all")
    args = parser.parse_args()
    board = load_board(args.board)
    print("| layer | MACs | int8 portable | int8 DSP | 4-bit portable | 4-bit DSP | 2-bit portable | 2-bit DSP "
          "| best int8 / best low-bit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.layer or LAYERS:
        with tempfile.TemporaryDirectory() as tmp:
            print(layer_row(LAYERS[name](), board, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
