"""RESIZE_NEAREST_NEIGHBOR of an NHWC tensor, any element type (the kernel copies whole pixels as bytes).

Which input row feeds each output row (and column) is TFLite's GetNearestNeighbor, evaluated here once in
float32 exactly as the reference evaluates it: scale = in / out (align_corners: (in - 1) / (out - 1)), then
floor((v + offset) * scale), or round half away from zero with align_corners, offset 0.5 with half_pixel_centers,
clamped to the input. The tables go to flash, so the device runs no float arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.movement.reshape import operand
from codegen.kernels.movement.slice_split import DTYPES

HEADER = "resize_nearest_bytes.h"


@dataclass(frozen=True)
class ResizeNearestParams(KernelParams):
    C_TYPE = "resize_nearest_bytes_params_t"
    batches: int = cfield("int32_t")
    in_h: int = cfield("int32_t")
    in_w: int = cfield("int32_t")
    out_h: int = cfield("int32_t")
    out_w: int = cfield("int32_t")
    pixel_bytes: int = cfield("int32_t")


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """The input coordinate of each output coordinate, as TFLite's reference computes it in float32."""
    f32 = np.float32
    aligned = align_corners and out_size > 1
    scale = f32(in_size - 1) / f32(out_size - 1) if aligned else f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    pos = (np.arange(out_size).astype(f32) + offset) * scale  # float32 throughout
    exact = pos.astype(np.float64)  # every float32 is a float64: round and floor below are exact
    # std::round (half away from zero) with align_corners, std::floor without
    index = np.sign(exact) * np.floor(np.abs(exact) + 0.5) if align_corners else np.floor(exact)
    index = np.minimum(index.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return index.astype(np.int32)


def size_operand(op: Operator, graph: Graph) -> tuple:
    """The input, output and constant (out_h, out_w) of a resize; refuses what TFLite Micro refuses."""
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"{name} needs an input and a size")
    x, size = ins
    (y,) = graph.op_outputs(op)
    if len(x.shape) != 4:
        raise Unsupported(f"{name} of a rank-{len(x.shape)} tensor (4)")
    if size.data is None or size.dtype != "int32" or size.data.size != 2:
        raise Unsupported(f"{name} with a non-constant or malformed size (TFLite Micro requires a constant)")
    out_h, out_w = (int(v) for v in size.data.reshape(-1))
    expected = (x.shape[0], out_h, out_w, x.shape[3])
    if tuple(y.shape) != expected or out_h < 1 or out_w < 1:
        raise Unsupported(f"{name} output shape {y.shape}, {expected} expected")
    if x.dtype != y.dtype:
        raise Unsupported(f"{name} from {x.dtype} to {y.dtype}")
    return x, y, out_h, out_w


def lower_resize_nearest(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, out_h, out_w = size_operand(op, graph)
    if x.dtype not in DTYPES:
        raise Unsupported(f"RESIZE_NEAREST_NEIGHBOR of {x.dtype} (supported: {', '.join(DTYPES)})")
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    n, in_h, in_w, c = x.shape
    params = ResizeNearestParams(n, in_h, in_w, out_h, out_w, c * (x.nbytes // x.size))
    inputs, consts = operand(x, "data")
    tables = (ConstArray("in_row", nearest_indices(in_h, out_h, align, half)),
              ConstArray("in_col", nearest_indices(in_w, out_w, align, half)))
    return [KernelCall("resize_nearest_bytes", params, inputs, consts + tables, (y.index,), op.index)]


def resize_nearest_bytes_ref(p: ResizeNearestParams, x: np.ndarray, in_row: np.ndarray,
                             in_col: np.ndarray) -> np.ndarray:
    raw = np.ascontiguousarray(x).reshape(-1).view(np.uint8).reshape(p.batches, p.in_h, p.in_w, p.pixel_bytes)
    out = raw[:, np.asarray(in_row, np.int64)][:, :, np.asarray(in_col, np.int64)]
    return np.ascontiguousarray(out).reshape(-1).view(x.dtype)


LOWERINGS = {"RESIZE_NEAREST_NEIGHBOR": lower_resize_nearest}
REFERENCES = {"resize_nearest_bytes": resize_nearest_bytes_ref}
