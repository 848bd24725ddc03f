"""The kernel catalogue: which op types lower to which mcu_runtime kernels, and their NumPy references.

LOWERINGS maps an op type to ONE lowering. A family that implements another element type of an op type some
other family lowers (e.g. CONV_2D with int16 activations) declares it in its optional
  VARIANTS: op type -> (accepts(op, graph) -> bool, lowering(op, graph) -> list[KernelCall])
and LOWERINGS[op type] then tries the variants in FAMILIES order: the first whose `accepts` is true lowers the
operator, otherwise the op type's own lowering does (which refuses what nobody accepts, with its reason).
`accepts` should look only at dtypes; the chosen lowering checks everything else and refuses with Unsupported.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from codegen.ir import Graph, Operator
from codegen.kernels.activation import (
    l2_normalization,
    leaky_relu,
    logistic,
    prelu,
    relu_s16,
    sigmoid_s16,
    softmax,
    softmax_s16,
    unary_lut,
)
from codegen.kernels.arithmetic import (
    add_dsp,
    add_sub,
    binary_wide,
    cast,
    elementwise,
    maximum_minimum,
    mul_f32,
    mul_s16,
    quantize,
    quantize_s16,
    squared_difference,
)
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.conv import (
    batch_matmul,
    conv2d,
    conv2d_dsp,
    depthwise_conv2d,
    depthwise_conv2d_dsp,
    fully_connected,
    fully_connected_dsp,
    transpose_conv,
    transpose_conv_dsp,
)
from codegen.kernels.conv_s16 import (
    conv2d_s16,
    conv2d_s16_dsp,
    depthwise_conv2d_s16,
    depthwise_conv2d_s16_dsp,
    fully_connected_s16,
    fully_connected_s16_dsp,
)
from codegen.kernels.lowbit import conv2d_lowbit, depthwise_conv2d_lowbit, lowbit_requantize, max_s8
from codegen.kernels.lowbit import pack as lowbit_pack
from codegen.kernels.movement import (
    concatenation,
    gather,
    input_stream,
    pack,
    pad,
    pad_s16,
    reshape,
    slice_split,
    space_depth,
    squeeze,
    strided_slice,
    transpose,
    window_copy,
)
from codegen.kernels.reduce import arg_min_max, mean, mean_patch, mean_s16, pooling, pooling_s16, sum_max
from codegen.kernels.resize import resize_bilinear, resize_bilinear_dsp, resize_nearest
from codegen.kernels.sequence import lstm, svdf
from codegen.kernels.signal import energy, fft, filter_bank, framing, pcan, spectral_subtraction, window

# One module per kernel family; add a family here and nowhere else.
FAMILIES: tuple[ModuleType, ...] = (
    pad,
    pooling,
    mean,
    mean_patch,
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
    resize_bilinear_dsp,
    # 16x8 quantization and the operators of TFLM's SEANet models
    add_sub,
    quantize_s16,
    leaky_relu,
    pad_s16,
    strided_slice,
    conv2d_s16,
    conv2d_s16_dsp,
    depthwise_conv2d_s16,
    depthwise_conv2d_s16_dsp,
    fully_connected_s16,
    fully_connected_s16_dsp,
    transpose_conv,
    transpose_conv_dsp,
    mul_s16,
    mean_s16,
    pooling_s16,
    softmax_s16,
    sigmoid_s16,
    # sequence operators with a variable state tensor
    svdf,
    lstm,
    # TFLM's audio front end: the signal library's filter bank onward, and the plain ops its graph uses
    filter_bank,
    spectral_subtraction,
    pcan,
    cast,
    mul_f32,
    binary_wide,
    # TFLM's signal library (the audio front end's custom operators)
    window,
    fft,
    energy,
    framing,
    # mixed-precision patches (QuantMCU): the VDPC check and the low-bit path's requantization
    max_s8,
    lowbit_requantize,
    # the low-bit (QuantMCU) path of the patch stage: placed by to_low_bit, no TFLite operator lowers to them
    conv2d_lowbit,
    depthwise_conv2d_lowbit,
    lowbit_pack,
)



def _with_variants(op_type: str, base: Callable | None, variants: list[tuple[Callable, Callable]]) -> Callable:
    def lower(op: Operator, graph: Graph) -> list[KernelCall]:
        for accepts, lowering in variants:
            if accepts(op, graph):
                return lowering(op, graph)
        if base is None:
            raise Unsupported(f"{op_type} of these element types")
        return base(op, graph)

    return lower if variants else base  # type: ignore[return-value]


_BASE: dict[str, Callable] = {op: fn for m in FAMILIES for op, fn in m.LOWERINGS.items()}
_VARIANTS: dict[str, list[tuple[Callable, Callable]]] = {}
for _m in FAMILIES:
    for _op, _variant in getattr(_m, "VARIANTS", {}).items():
        _VARIANTS.setdefault(_op, []).append(_variant)
LOWERINGS: dict[str, Callable] = {
    op: _with_variants(op, _BASE.get(op), _VARIANTS.get(op, [])) for op in [*_BASE, *_VARIANTS]
}
REFERENCES: dict[str, Callable] = {k: fn for m in FAMILIES for k, fn in m.REFERENCES.items()}
HEADERS: dict[str, str] = {k: m.HEADER for m in FAMILIES for k in m.REFERENCES}
# kernel name -> function(call, graph, target) -> a faster KernelCall or None (see codegen/passes/specialize.py)
SPECIALIZERS: dict[str, Callable] = {k: fn for m in FAMILIES for k, fn in getattr(m, "SPECIALIZERS", {}).items()}
# kernel name -> function(call) -> scratch bytes its fast variant may need (planning before specialization)
SCRATCH_HINTS: dict[str, Callable] = {
    k: fn for m in FAMILIES for k, fn in getattr(m, "SCRATCH_HINTS", {}).items()
}
