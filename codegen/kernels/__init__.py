"""The kernel catalogue: which op types lower to which mcu_runtime kernels, and their NumPy references."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from codegen.kernels.activation import l2_normalization, logistic, prelu, relu_s16, softmax, unary_lut
from codegen.kernels.arithmetic import add_dsp, elementwise, maximum_minimum, quantize, squared_difference
from codegen.kernels.conv import (
    batch_matmul,
    conv2d,
    conv2d_dsp,
    depthwise_conv2d,
    depthwise_conv2d_dsp,
    fully_connected,
    fully_connected_dsp,
)
from codegen.kernels.movement import (
    concatenation,
    gather,
    input_stream,
    pack,
    pad,
    reshape,
    slice_split,
    space_depth,
    squeeze,
    transpose,
    window_copy,
)
from codegen.kernels.reduce import arg_min_max, mean, pooling, sum_max
from codegen.kernels.resize import resize_bilinear, resize_nearest

# One module per kernel family; add a family here and nowhere else.
FAMILIES: tuple[ModuleType, ...] = (
    pad,
    pooling,
    mean,
    sum_max,
    arg_min_max,
    conv2d,
    conv2d_dsp,
    depthwise_conv2d,
    depthwise_conv2d_dsp,
    fully_connected,
    fully_connected_dsp,
    batch_matmul,
    elementwise,
    add_dsp,
    maximum_minimum,
    squared_difference,
    prelu,
    reshape,
    concatenation,
    transpose,
    quantize,
    softmax,
    logistic,
    unary_lut,
    relu_s16,
    l2_normalization,
    window_copy,
    input_stream,
    squeeze,
    slice_split,
    pack,
    gather,
    space_depth,
    resize_nearest,
    resize_bilinear,
)

LOWERINGS: dict[str, Callable] = {op: fn for m in FAMILIES for op, fn in m.LOWERINGS.items()}
REFERENCES: dict[str, Callable] = {k: fn for m in FAMILIES for k, fn in m.REFERENCES.items()}
HEADERS: dict[str, str] = {k: m.HEADER for m in FAMILIES for k in m.REFERENCES}
# kernel name -> function(call, graph, target) -> a faster KernelCall or None (see codegen/passes/specialize.py)
SPECIALIZERS: dict[str, Callable] = {k: fn for m in FAMILIES for k, fn in getattr(m, "SPECIALIZERS", {}).items()}
# kernel name -> function(call) -> scratch bytes its fast variant may need (planning before specialization)
SCRATCH_HINTS: dict[str, Callable] = {
    k: fn for m in FAMILIES for k, fn in getattr(m, "SCRATCH_HINTS", {}).items()
}
