"""`codegen build/run --model FLOAT_MODEL --calib calib.npz`: quantize a float model, then hand the int8
.tflite to the ordinary command.

The int8 model is written to a temporary .tflite named after the float model, so the build copies it into
BUILD_DIR/model.tflite (eval's host reference then runs exactly what the firmware runs). The quantization
report is printed first and saved as BUILD_DIR/quantization.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from codegen.errors import BudgetError, ModelError
from codegen.quantize.calibrate import (
    METHODS,
    CalibrationConfig,
    collect_ranges,
    input_arrays,
    load_calibration,
    read_npz,
)
from codegen.quantize.ptq import QuantizedModel, QuantizeOptions, quantize_graph
from codegen.quantize.report import QuantizationReport, build_report, format_report
from codegen.targets.boards import Board, load_board

REPORT_SAMPLES = 100  # calibration samples the float-vs-int8 report runs (the int8 side runs in NumPy)
REPORT_FILE = "quantization.json"


def add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "float models", "a PyTorch (.pt2, TorchScript, module:function), Keras (.keras/.h5) or float .tflite "
        "model is quantized to int8 first, calibrated on --calib")
    group.add_argument("--calib", type=Path, metavar="CALIB.npz",
                       help="calibration inputs: array x = N samples in the firmware's input layout (NHWC for "
                            "images), float32; optional y = labels for the report")
    group.add_argument("--calib-method", choices=METHODS, default="minmax",
                       help="activation ranges: min/max (default), percentiles, or least squared error")
    group.add_argument("--percentile", type=float, default=99.99,
                       help="with --calib-method percentile: the upper percentile kept (default 99.99)")
    group.add_argument("--int8-io", action="store_true",
                       help="int8 input and output tensors (default: float I/O through QUANTIZE/DEQUANTIZE)")


def quantize_model(spec: str | Path, calib: Path, config: CalibrationConfig,
                   options: QuantizeOptions) -> tuple[QuantizedModel, QuantizationReport]:
    """Load a float model, calibrate it on `calib`, quantize it, and measure what quantization lost."""
    from codegen.frontend import load_float_model

    arrays = read_npz(calib)
    first = input_arrays(arrays, 1, calib)[0] if ("x" in arrays or "x0" in arrays) else None
    sample_shape = tuple(first.shape[1:]) if first is not None and first.ndim >= 2 else None
    graph = load_float_model(spec, sample_shape)
    data = load_calibration(calib, graph)
    ranges = collect_ranges(graph, data, config)
    model = quantize_graph(graph, ranges, options)
    return model, build_report(model, data.subset(REPORT_SAMPLES), config.method)


def _check_flash(model: QuantizedModel, board: Board) -> None:
    """Fail before compiling when the int8 weights alone exceed the board's flash."""
    weights = sum(t.nbytes for t in model.graph.tensors if t.is_const)
    if weights > board.flash.size:
        raise BudgetError(f"{model.graph.name} needs {weights:,} bytes of flash for its int8 weights alone, "
                          f"{weights - board.flash.size:,} more than the {board.flash.size:,} bytes of "
                          f"{board.name}")


def with_quantized_model(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """Run `command` (build or run) on args.model, quantizing it first when it is a float model."""
    from codegen.frontend import float_reason
    from codegen.frontend.tflite_writer import write_tflite

    reason = float_reason(args.model)
    if reason is None:
        if args.calib is not None and not getattr(args, "mixed_precision", False):
            print(f"codegen: {args.model} is already int8; --calib is ignored", file=sys.stderr)
        return command(args)
    if args.calib is None:
        # Exit code 2 as for any model the compiler cannot take as it is.
        raise ModelError(f"{args.model}: {reason}: a float model must be quantized to int8 first, which needs "
                         "calibration data: pass --calib CALIB.npz (array x: N samples in the firmware's input "
                         "layout, NHWC for images, float32)")
    board = load_board(args.board)  # an unknown board fails before the (slower) quantization
    config = CalibrationConfig(method=args.calib_method, percentile=args.percentile)
    model, report = quantize_model(args.model, args.calib, config, QuantizeOptions(int8_io=args.int8_io))
    print(format_report(report))
    _check_flash(model, board)
    with tempfile.TemporaryDirectory(prefix="codegen-quantized-") as tmp:
        path = Path(tmp) / f"{model.graph.name}.tflite"
        path.write_bytes(write_tflite(model.graph, description=f"tinyml-codegen PTQ of {Path(str(args.model)).name}"))
        source = args.model
        args.model = path
        try:
            status = command(args)
        finally:
            args.model = source
    out = getattr(args, "out", None)
    if status == 0 and out is not None and Path(out).is_dir():
        info = {"source_model": str(source), "calibration": str(args.calib), "int8_io": bool(args.int8_io),
                "input_quantization": _io_quant(model, model.graph.inputs),
                "output_quantization": _io_quant(model, model.graph.outputs), **report.to_json()}
        (Path(out) / REPORT_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return status


def _io_quant(model: QuantizedModel, indices: tuple[int, ...]) -> list[dict]:
    """Scale and zero point of each int8 I/O tensor (for int8 I/O users, who quantize their own inputs)."""
    out = []
    for index in indices:
        t = model.graph.tensor(index)
        if t.quant is None:  # float I/O: the QUANTIZE / DEQUANTIZE neighbour holds the parameters
            neighbour = next(op for op in model.graph.operators if index in op.inputs or index in op.outputs)
            other = neighbour.outputs[0] if index in neighbour.inputs else neighbour.inputs[0]
            t = model.graph.tensor(other)
        out.append({"name": t.name, "shape": list(t.shape), "scale": t.scale, "zero_point": t.zero_point})
    return out
