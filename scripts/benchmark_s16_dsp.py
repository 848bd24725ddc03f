"""Instructions of realistic layers with the DSP kernel and with the portable kernel, on the emulated Cortex-M7
(QEMU -icount shift=0: deterministic). Each layer is a one-operator model (tests/support/s16_dsp_models.py): a
16x8 3x3 CONV_2D 16 -> 16 channels on 16x16, a 16x8 1024 -> 64 FULLY_CONNECTED, a 16x8 3x3 DEPTHWISE_CONV_2D
on 32x32x32, an int8 3x3 stride-2 TRANSPOSE_CONV 16 -> 16 channels from 8x8 and an int8 RESIZE_BILINEAR x2 of
20x20x32; the count is the whole inference, i.e. the layer plus the firmware's small fixed cost.

Usage: python -m scripts.benchmark_s16_dsp [--board NAME] [--layer conv|fc|dw|tconv|resize ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from codegen.frontend.tflite_writer import write_tflite
from codegen.targets.boards import load_board
from scripts.benchmark_speed import measure
from tests.support.s16_dsp_models import conv_layer, dw_layer, fc_layer, resize_layer, tconv_layer

LAYERS = {"conv": conv_layer, "fc": fc_layer, "dw": dw_layer, "tconv": tconv_layer, "resize": resize_layer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="nucleo-f746")
    parser.add_argument("--layer", action="append", choices=sorted(LAYERS), help="default: all")
    args = parser.parse_args()
    board = load_board(args.board)
    print("| layer | MACs | portable instructions | DSP instructions | speed-up |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for graph in (LAYERS[name]() for name in args.layer or LAYERS):
            path = Path(tmp) / f"{graph.name}.tflite"
            path.write_bytes(write_tflite(graph))
            row = measure(path, board)
            slow, fast = row.portable_instructions or 0, row.instructions
            print(f"| {graph.name} | {row.macs:,} | {slow:,} | {fast:,} | {slow / fast:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
