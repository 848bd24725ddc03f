"""An int8 MEAN over H and W computed patch by patch: the first pass of a squeeze-and-excite inside patch-based
stage 1 (codegen/schedule/se_two_pass.py).

mean_sum_s8 adds each channel's int8 values of one patch to an int32 accumulator (the first patch sets it);
mean_lines_s8 does the same per column (a MEAN over H alone) or per row (W alone), for the first of two
single-axis MEANs making a global one;
mean_finish_s8 then applies the MEAN's requantization once to the sums. Integer sums do not depend on order,
so the result is exactly what mean_s8 (TFLM's QuantizedMeanOrSum) computes on the whole tensor: the same
total, input_zp * count, folded multiplier and shift (taken from the MEAN's own MeanParams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import KernelParams, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier
from codegen.kernels.reduce.mean import MeanParams

HEADER = "mean_patch_s8.h"


@dataclass(frozen=True)
class MeanSumParams(KernelParams):
    C_TYPE = "mean_sum_s8_params_t"
    pixels: int = cfield("int32_t")  # pixels of the patch
    channels: int = cfield("int32_t")
    first: int = cfield("int32_t")  # 1: the sums start at this patch (the arena is not zeroed)


@dataclass(frozen=True)
class MeanLinesParams(KernelParams):
    """Sums of a patch per row or per column (a MEAN over H alone or W alone): pixel (i, j) adds to sum vector
    base + i * row_step + j * col_step of `lines` vectors."""

    C_TYPE = "mean_lines_s8_params_t"
    rows: int = cfield("int32_t")
    cols: int = cfield("int32_t")
    channels: int = cfield("int32_t")
    first: int = cfield("int32_t")  # 1: the vectors this patch touches start here
    row_step: int = cfield("int32_t")
    col_step: int = cfield("int32_t")
    base: int = cfield("int32_t")
    lines: int = cfield("int32_t")  # sum vectors in all (the output's size)


@dataclass(frozen=True)
class MeanFinishParams(KernelParams):
    C_TYPE = "mean_finish_s8_params_t"
    channels: int = cfield("int32_t")
    count: int = cfield("int32_t")  # pixels summed per channel over all patches
    input_zp: int = cfield("int32_t")
    output_zp: int = cfield("int32_t")
    multiplier: int = cfield("int32_t")  # the MEAN's, 1/count folded in
    shift: int = cfield("int32_t")


def is_spatial_mean(p: MeanParams, shape: tuple[int, ...]) -> bool:
    """Whether a mean_s8 reduces exactly H and W of an NHWC input of batch 1 (channels kept, in order)."""
    if len(shape) != 4 or shape[0] != 1 or shape[1] * shape[2] <= 1 or shape[3] <= 1:
        return False
    return p.dims[4:] == (shape[1] * shape[2], shape[3]) and p.reduce_mask == 1 << 4 and p.dims[:4] == (1,) * 4


def line_mean_axis(p: MeanParams, shape: tuple[int, ...]) -> int | None:
    """1 or 2 when a mean_s8 reduces exactly H, or exactly W, of an NHWC input of batch 1 with H, W, C > 1 (the
    first of the two single-axis MEANs some converters write for a global average), else None."""
    if len(shape) != 4 or shape[0] != 1 or min(shape[1:]) <= 1 or p.reduce_mask != 1 << 4:
        return None
    _, h, w, c = shape
    if p.dims == (1, 1, 1, 1, h, w * c):
        return 1
    if p.dims == (1, 1, 1, h, w, c):
        return 2
    return None


def finish_params(p: MeanParams, channels: int) -> MeanFinishParams:
    return MeanFinishParams(channels, p.count, p.input_zp, p.output_zp, p.multiplier, p.shift)


def mean_sum_s8_ref(p: MeanSumParams, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    sums = np.asarray(x, dtype=np.int8).reshape(p.pixels, p.channels).astype(np.int32).sum(axis=0, dtype=np.int32)
    if p.first or out is None:
        return sums
    return (np.asarray(out, dtype=np.int32).reshape(-1) + sums).astype(np.int32)


def mean_lines_s8_ref(p: MeanLinesParams, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    sums = np.zeros((p.lines, p.channels), np.int32) if out is None else np.asarray(out, np.int32).reshape(
        p.lines, p.channels).copy()
    patch = np.asarray(x, dtype=np.int8).reshape(p.rows, p.cols, p.channels).astype(np.int32)
    index = p.base + np.arange(p.rows)[:, None] * p.row_step + np.arange(p.cols)[None, :] * p.col_step
    if p.first:
        sums[index.reshape(-1)] = 0
    np.add.at(sums, index.reshape(-1), patch.reshape(-1, p.channels))
    return sums.reshape(-1)


def mean_finish_s8_ref(p: MeanFinishParams, sums: np.ndarray) -> np.ndarray:
    total = np.asarray(sums, dtype=np.int64).reshape(-1) - p.input_zp * p.count
    out = multiply_by_quantized_multiplier(total, p.multiplier, p.shift) + p.output_zp
    return np.clip(out, -128, 127).astype(np.int8)


LOWERINGS: dict = {}  # only the two-pass squeeze-and-excite schedule creates these calls
REFERENCES = {"mean_sum_s8": mean_sum_s8_ref, "mean_lines_s8": mean_lines_s8_ref, "mean_finish_s8": mean_finish_s8_ref}
