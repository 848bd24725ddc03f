"""Write the IR back to a .tflite flatbuffer: the inverse of codegen/frontend/tflite_reader.py.

Used to build test models and to hand quantized models back to users, so the output is a normal schema-v3
model that TFLite and TFLite Micro load: buffer 0 is the empty sentinel, every constant tensor has a buffer
of its own (data aligned to 16 bytes, as the TFLite converter does), operator codes carry both the
deprecated int8 code and the full builtin code, and op versions follow TFLite's versioning rules for the
cases this compiler deals with (int8 kernels).

The IR keeps only the builtin options the compiler reads. Ops whose options the IR cannot hold are refused
unless `allow_lossy=True`, which writes them without options: fine for a structural round trip, wrong for
running the model. Custom ops (TFLM's Signal* ops) keep their options as the flexbuffer map they came in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
import tflite
from flatbuffers import flexbuffers

from codegen.errors import ModelError
from codegen.ir import CUSTOM_RAW, NUMPY_DTYPES, Graph, Operator, Quantization, Tensor

_SCHEMA_VERSION = 3
_DATA_ALIGNMENT = 16  # what the TFLite converter uses; TFLM reads int32/float data in place

_OP_CODES: dict[str, int] = {k: v for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
_TENSOR_TYPES: dict[str, int] = {k: v for k, v in tflite.TensorType.__dict__.items() if not k.startswith("_")}
_ACTIVATIONS: dict[str, int] = {
    k: v for k, v in tflite.ActivationFunctionType.__dict__.items() if not k.startswith("_")
}
_PADDINGS: dict[str, int] = {"SAME": tflite.Padding.SAME, "VALID": tflite.Padding.VALID}

OptionsFn = Callable[[flatbuffers.Builder, Operator, Graph], int]


def _enum(table: dict[str, int], value: str | int, what: str) -> int:
    # The reader keeps unknown enum values as plain ints; write those back unchanged.
    if isinstance(value, int):
        return value
    try:
        return table[value]
    except KeyError:
        raise ModelError(f"unknown {what} {value!r}") from None


def _activation(op: Operator) -> int:
    return _enum(_ACTIVATIONS, op.options.get("activation", "NONE"), "fused activation")


def _padding(op: Operator) -> int:
    return _enum(_PADDINGS, op.options["padding"], "padding")


def _conv_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.Conv2DOptionsStart(b)
    tflite.Conv2DOptionsAddPadding(b, _padding(op))
    tflite.Conv2DOptionsAddStrideW(b, o["stride_w"])
    tflite.Conv2DOptionsAddStrideH(b, o["stride_h"])
    tflite.Conv2DOptionsAddFusedActivationFunction(b, _activation(op))
    tflite.Conv2DOptionsAddDilationWFactor(b, o.get("dilation_w", 1))
    tflite.Conv2DOptionsAddDilationHFactor(b, o.get("dilation_h", 1))
    return tflite.Conv2DOptionsEnd(b)


def _depthwise_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.DepthwiseConv2DOptionsStart(b)
    tflite.DepthwiseConv2DOptionsAddPadding(b, _padding(op))
    tflite.DepthwiseConv2DOptionsAddStrideW(b, o["stride_w"])
    tflite.DepthwiseConv2DOptionsAddStrideH(b, o["stride_h"])
    tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, o["depth_multiplier"])
    tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, _activation(op))
    tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, o.get("dilation_w", 1))
    tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, o.get("dilation_h", 1))
    return tflite.DepthwiseConv2DOptionsEnd(b)


def _fc_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.FullyConnectedOptionsStart(b)
    tflite.FullyConnectedOptionsAddFusedActivationFunction(b, _activation(op))
    tflite.FullyConnectedOptionsAddWeightsFormat(b, int(o.get("weights_format", 0)))
    tflite.FullyConnectedOptionsAddKeepNumDims(b, bool(o.get("keep_num_dims", False)))
    return tflite.FullyConnectedOptionsEnd(b)


def _svdf_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SVDFOptionsStart(b)
    tflite.SVDFOptionsAddRank(b, int(op.options["rank"]))
    tflite.SVDFOptionsAddFusedActivationFunction(b, _activation(op))
    tflite.SVDFOptionsAddAsymmetricQuantizeInputs(b, bool(op.options.get("asymmetric_quantize_inputs", False)))
    return tflite.SVDFOptionsEnd(b)


def _add_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.AddOptionsStart(b)
    tflite.AddOptionsAddFusedActivationFunction(b, _activation(op))
    if "pot_scale_int16" in op.options:
        tflite.AddOptionsAddPotScaleInt16(b, bool(op.options["pot_scale_int16"]))
    return tflite.AddOptionsEnd(b)


def _sub_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SubOptionsStart(b)
    tflite.SubOptionsAddFusedActivationFunction(b, _activation(op))
    if "pot_scale_int16" in op.options:
        tflite.SubOptionsAddPotScaleInt16(b, bool(op.options["pot_scale_int16"]))
    return tflite.SubOptionsEnd(b)


def _leaky_relu_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.LeakyReluOptionsStart(b)
    tflite.LeakyReluOptionsAddAlpha(b, float(op.options.get("alpha", 0.0)))
    return tflite.LeakyReluOptionsEnd(b)


def _strided_slice_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.StridedSliceOptionsStart(b)
    tflite.StridedSliceOptionsAddBeginMask(b, int(o.get("begin_mask", 0)))
    tflite.StridedSliceOptionsAddEndMask(b, int(o.get("end_mask", 0)))
    tflite.StridedSliceOptionsAddEllipsisMask(b, int(o.get("ellipsis_mask", 0)))
    tflite.StridedSliceOptionsAddNewAxisMask(b, int(o.get("new_axis_mask", 0)))
    tflite.StridedSliceOptionsAddShrinkAxisMask(b, int(o.get("shrink_axis_mask", 0)))
    if o.get("offset", False):
        tflite.StridedSliceOptionsAddOffset(b, True)
    return tflite.StridedSliceOptionsEnd(b)


def _transpose_conv_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.TransposeConvOptionsStart(b)
    tflite.TransposeConvOptionsAddPadding(b, _padding(op))
    tflite.TransposeConvOptionsAddStrideW(b, o["stride_w"])
    tflite.TransposeConvOptionsAddStrideH(b, o["stride_h"])
    tflite.TransposeConvOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.TransposeConvOptionsEnd(b)


def _mul_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.MulOptionsStart(b)
    tflite.MulOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.MulOptionsEnd(b)


def _div_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.DivOptionsStart(b)
    tflite.DivOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.DivOptionsEnd(b)


def _pool_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.Pool2DOptionsStart(b)
    tflite.Pool2DOptionsAddPadding(b, _padding(op))
    tflite.Pool2DOptionsAddStrideW(b, o["stride_w"])
    tflite.Pool2DOptionsAddStrideH(b, o["stride_h"])
    tflite.Pool2DOptionsAddFilterWidth(b, o["filter_w"])
    tflite.Pool2DOptionsAddFilterHeight(b, o["filter_h"])
    tflite.Pool2DOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.Pool2DOptionsEnd(b)


def _reducer_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.ReducerOptionsStart(b)
    tflite.ReducerOptionsAddKeepDims(b, bool(op.options.get("keep_dims", False)))
    return tflite.ReducerOptionsEnd(b)


def _softmax_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SoftmaxOptionsStart(b)
    tflite.SoftmaxOptionsAddBeta(b, float(op.options.get("beta", 1.0)))
    return tflite.SoftmaxOptionsEnd(b)


def _concat_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.ConcatenationOptionsStart(b)
    tflite.ConcatenationOptionsAddAxis(b, op.options["axis"])
    tflite.ConcatenationOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.ConcatenationOptionsEnd(b)


def _reshape_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    # new_shape mirrors the (static) output shape; a shape operand, when present, is written as a tensor.
    shape = graph.tensor(op.outputs[0]).shape
    new_shape = b.CreateNumpyVector(np.asarray(shape, dtype="<i4"))
    tflite.ReshapeOptionsStart(b)
    tflite.ReshapeOptionsAddNewShape(b, new_shape)
    return tflite.ReshapeOptionsEnd(b)


def _split_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SplitOptionsStart(b)
    tflite.SplitOptionsAddNumSplits(b, int(op.options.get("num_splits", len(op.outputs))))
    return tflite.SplitOptionsEnd(b)


def _split_v_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SplitVOptionsStart(b)
    tflite.SplitVOptionsAddNumSplits(b, int(op.options.get("num_splits", len(op.outputs))))
    return tflite.SplitVOptionsEnd(b)


def _pack_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.PackOptionsStart(b)
    tflite.PackOptionsAddValuesCount(b, int(op.options.get("values_count", len(op.inputs))))
    tflite.PackOptionsAddAxis(b, int(op.options.get("axis", 0)))
    return tflite.PackOptionsEnd(b)


def _unpack_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.UnpackOptionsStart(b)
    tflite.UnpackOptionsAddNum(b, int(op.options.get("num", len(op.outputs))))
    tflite.UnpackOptionsAddAxis(b, int(op.options.get("axis", 0)))
    return tflite.UnpackOptionsEnd(b)


def _gather_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.GatherOptionsStart(b)
    tflite.GatherOptionsAddAxis(b, int(op.options.get("axis", 0)))
    tflite.GatherOptionsAddBatchDims(b, int(op.options.get("batch_dims", 0)))
    return tflite.GatherOptionsEnd(b)


def _squeeze_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    dims = _int_vector(b, tuple(op.options.get("squeeze_dims", ())))
    tflite.SqueezeOptionsStart(b)
    tflite.SqueezeOptionsAddSqueezeDims(b, dims)
    return tflite.SqueezeOptionsEnd(b)


def _depth_to_space_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.DepthToSpaceOptionsStart(b)
    tflite.DepthToSpaceOptionsAddBlockSize(b, int(op.options["block_size"]))
    return tflite.DepthToSpaceOptionsEnd(b)


def _space_to_depth_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.SpaceToDepthOptionsStart(b)
    tflite.SpaceToDepthOptionsAddBlockSize(b, int(op.options["block_size"]))
    return tflite.SpaceToDepthOptionsEnd(b)


def _resize_bilinear_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.ResizeBilinearOptionsStart(b)
    tflite.ResizeBilinearOptionsAddAlignCorners(b, bool(op.options.get("align_corners", False)))
    tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, bool(op.options.get("half_pixel_centers", False)))
    return tflite.ResizeBilinearOptionsEnd(b)


def _resize_nearest_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.ResizeNearestNeighborOptionsStart(b)
    tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, bool(op.options.get("align_corners", False)))
    tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(b, bool(op.options.get("half_pixel_centers", False)))
    return tflite.ResizeNearestNeighborOptionsEnd(b)
def _arg_options(start: Callable, add_type: Callable, end: Callable) -> OptionsFn:
    def write(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
        out_type = op.options.get("output_type") or graph.tensor(op.outputs[0]).dtype
        start(b)
        add_type(b, _enum(_TENSOR_TYPES, str(out_type).upper(), "tensor type"))
        return end(b)

    return write


def _batch_matmul_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    o = op.options
    tflite.BatchMatMulOptionsStart(b)
    tflite.BatchMatMulOptionsAddAdjX(b, bool(o.get("adj_x", False)))
    tflite.BatchMatMulOptionsAddAdjY(b, bool(o.get("adj_y", False)))
    tflite.BatchMatMulOptionsAddAsymmetricQuantizeInputs(b, bool(o.get("asymmetric_quantize_inputs", False)))
    return tflite.BatchMatMulOptionsEnd(b)


def _l2_norm_options(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
    tflite.L2NormOptionsStart(b)
    tflite.L2NormOptionsAddFusedActivationFunction(b, _activation(op))
    return tflite.L2NormOptionsEnd(b)


def _empty_options(start: Callable[[Any], None], end: Callable[[Any], int]) -> OptionsFn:
    def write(b: flatbuffers.Builder, op: Operator, graph: Graph) -> int:
        start(b)
        return end(b)

    return write


@dataclass(frozen=True)
class _OpOptions:
    kind: int  # tflite.BuiltinOptions member; NONE for ops without an options table
    write: OptionsFn | None


_BO = tflite.BuiltinOptions
# Every op the reader parses options for, plus ops whose options table is empty or absent.
_OPTION_WRITERS: dict[str, _OpOptions] = {
    "CONV_2D": _OpOptions(_BO.Conv2DOptions, _conv_options),
    "DEPTHWISE_CONV_2D": _OpOptions(_BO.DepthwiseConv2DOptions, _depthwise_options),
    "FULLY_CONNECTED": _OpOptions(_BO.FullyConnectedOptions, _fc_options),
    "SVDF": _OpOptions(_BO.SVDFOptions, _svdf_options),
    "ADD": _OpOptions(_BO.AddOptions, _add_options),
    "SUB": _OpOptions(_BO.SubOptions, _sub_options),
    "LEAKY_RELU": _OpOptions(_BO.LeakyReluOptions, _leaky_relu_options),
    "STRIDED_SLICE": _OpOptions(_BO.StridedSliceOptions, _strided_slice_options),
    "TRANSPOSE_CONV": _OpOptions(_BO.TransposeConvOptions, _transpose_conv_options),
    "MUL": _OpOptions(_BO.MulOptions, _mul_options),
    "DIV": _OpOptions(_BO.DivOptions, _div_options),
    "AVERAGE_POOL_2D": _OpOptions(_BO.Pool2DOptions, _pool_options),
    "MAX_POOL_2D": _OpOptions(_BO.Pool2DOptions, _pool_options),
    "MEAN": _OpOptions(_BO.ReducerOptions, _reducer_options),
    "SOFTMAX": _OpOptions(_BO.SoftmaxOptions, _softmax_options),
    "CONCATENATION": _OpOptions(_BO.ConcatenationOptions, _concat_options),
    "RESHAPE": _OpOptions(_BO.ReshapeOptions, _reshape_options),
    "PAD": _OpOptions(_BO.PadOptions, _empty_options(tflite.PadOptionsStart, tflite.PadOptionsEnd)),
    "PADV2": _OpOptions(_BO.PadV2Options, _empty_options(tflite.PadV2OptionsStart, tflite.PadV2OptionsEnd)),
    "TRANSPOSE": _OpOptions(
        _BO.TransposeOptions, _empty_options(tflite.TransposeOptionsStart, tflite.TransposeOptionsEnd)
    ),
    "QUANTIZE": _OpOptions(
        _BO.QuantizeOptions, _empty_options(tflite.QuantizeOptionsStart, tflite.QuantizeOptionsEnd)
    ),
    "DEQUANTIZE": _OpOptions(
        _BO.DequantizeOptions, _empty_options(tflite.DequantizeOptionsStart, tflite.DequantizeOptionsEnd)
    ),
    "LOG_SOFTMAX": _OpOptions(
        _BO.LogSoftmaxOptions, _empty_options(tflite.LogSoftmaxOptionsStart, tflite.LogSoftmaxOptionsEnd)
    ),
    "SPLIT": _OpOptions(_BO.SplitOptions, _split_options),
    "SPLIT_V": _OpOptions(_BO.SplitVOptions, _split_v_options),
    "PACK": _OpOptions(_BO.PackOptions, _pack_options),
    "UNPACK": _OpOptions(_BO.UnpackOptions, _unpack_options),
    "GATHER": _OpOptions(_BO.GatherOptions, _gather_options),
    "SQUEEZE": _OpOptions(_BO.SqueezeOptions, _squeeze_options),
    "EXPAND_DIMS": _OpOptions(
        _BO.ExpandDimsOptions, _empty_options(tflite.ExpandDimsOptionsStart, tflite.ExpandDimsOptionsEnd)
    ),
    "SLICE": _OpOptions(_BO.SliceOptions, _empty_options(tflite.SliceOptionsStart, tflite.SliceOptionsEnd)),
    "DEPTH_TO_SPACE": _OpOptions(_BO.DepthToSpaceOptions, _depth_to_space_options),
    "SPACE_TO_DEPTH": _OpOptions(_BO.SpaceToDepthOptions, _space_to_depth_options),
    "RESIZE_BILINEAR": _OpOptions(_BO.ResizeBilinearOptions, _resize_bilinear_options),
    "RESIZE_NEAREST_NEIGHBOR": _OpOptions(_BO.ResizeNearestNeighborOptions, _resize_nearest_options),
    "SUM": _OpOptions(_BO.ReducerOptions, _reducer_options),
    "REDUCE_MAX": _OpOptions(_BO.ReducerOptions, _reducer_options),
    "ARG_MAX": _OpOptions(
        _BO.ArgMaxOptions, _arg_options(tflite.ArgMaxOptionsStart, tflite.ArgMaxOptionsAddOutputType,
                                        tflite.ArgMaxOptionsEnd)
    ),
    "ARG_MIN": _OpOptions(
        _BO.ArgMinOptions, _arg_options(tflite.ArgMinOptionsStart, tflite.ArgMinOptionsAddOutputType,
                                        tflite.ArgMinOptionsEnd)
    ),
    "BATCH_MATMUL": _OpOptions(_BO.BatchMatMulOptions, _batch_matmul_options),
    "L2_NORMALIZATION": _OpOptions(_BO.L2NormOptions, _l2_norm_options),
    "HARD_SWISH": _OpOptions(
        _BO.HardSwishOptions, _empty_options(tflite.HardSwishOptionsStart, tflite.HardSwishOptionsEnd)
    ),
    "MAXIMUM": _OpOptions(
        _BO.MaximumMinimumOptions,
        _empty_options(tflite.MaximumMinimumOptionsStart, tflite.MaximumMinimumOptionsEnd),
    ),
    "MINIMUM": _OpOptions(
        _BO.MaximumMinimumOptions,
        _empty_options(tflite.MaximumMinimumOptionsStart, tflite.MaximumMinimumOptionsEnd),
    ),
    "SQUARED_DIFFERENCE": _OpOptions(
        _BO.SquaredDifferenceOptions,
        _empty_options(tflite.SquaredDifferenceOptionsStart, tflite.SquaredDifferenceOptionsEnd),
    ),
    # The schema defines no options table for these.
    "PRELU": _OpOptions(_BO.NONE, None),
    "RSQRT": _OpOptions(_BO.NONE, None),
    "CAST": _OpOptions(_BO.NONE, None),  # TFLM infers both types from the tensors
    "LOGISTIC": _OpOptions(_BO.NONE, None),
    "TANH": _OpOptions(_BO.NONE, None),
    "RELU": _OpOptions(_BO.NONE, None),
    "RELU6": _OpOptions(_BO.NONE, None),
    "RELU_N1_TO_1": _OpOptions(_BO.NONE, None),
}

# Versions TFLite's converter assigns (tools/versioning/op_version.cc) for each op's plain int8 kernel;
# float (and anything else) falls back to version 1. Both runtimes accept any registered version, so this
# is for other tools that read the file.
_INT8_VERSIONS: dict[str, int] = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "ADD": 2,
    "MUL": 2,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "MEAN": 2,
    "SOFTMAX": 2,
    "LOG_SOFTMAX": 2,
    "LOGISTIC": 2,
    "TANH": 2,
    "RELU": 2,
    "RELU6": 2,
    "CONCATENATION": 2,
    "TRANSPOSE": 2,
    "PAD": 2,
    "PADV2": 2,
    "DEQUANTIZE": 2,
    "HARD_SWISH": 1,
    "MAXIMUM": 2,
    "MINIMUM": 2,
    "SQUARED_DIFFERENCE": 2,
    "RSQRT": 2,
    "SUM": 2,
    "REDUCE_MAX": 2,
    "ARG_MAX": 2,
    "ARG_MIN": 2,
    "L2_NORMALIZATION": 2,
    "RELU_N1_TO_1": 1,
    "SVDF": 3,
}


def op_version(op: Operator, graph: Graph) -> int:
    """The builtin op version TFLite's converter would record for `op` (int8 and float cases)."""
    ins = [graph.tensor(i) if i >= 0 else None for i in op.inputs]
    first = ins[0] if ins else None
    out = graph.tensor(op.outputs[0]) if op.outputs else None
    if op.op_type == "QUANTIZE":
        if out is not None and out.quant is not None and out.quant.per_channel:
            return 3
        return 2 if out is not None and out.dtype == "int16" else 1
    if op.op_type == "DEQUANTIZE" and first is not None and first.dtype in ("int16", "float16"):
        return 3
    if first is None or first.dtype != "int8":
        return 1
    if op.op_type == "FULLY_CONNECTED":
        if len(ins) < 3 or ins[2] is None:
            return 6  # no bias
        return 5 if op.options.get("keep_num_dims") else 4
    if op.op_type == "MUL" and len(ins) >= 2 and ins[1] is not None and out is not None:
        try:
            if first.scale * ins[1].scale / out.scale >= 1.0:
                return 3
        except ValueError:
            pass
    if op.op_type in ("PAD", "PADV2") and len(first.shape) > 4:
        return 4
    if op.op_type == "TRANSPOSE" and len(first.shape) > 4:
        return 4
    if op.op_type == "DEQUANTIZE" and first.quant is not None and first.quant.per_channel:
        return 5
    return _INT8_VERSIONS.get(op.op_type, 1)


def _builtin_code(op_type: str) -> tuple[int, str | None]:
    if op_type.startswith("CUSTOM:"):
        return tflite.BuiltinOperator.CUSTOM, op_type[len("CUSTOM:") :]
    if op_type in _OP_CODES:
        return _OP_CODES[op_type], None
    if op_type.startswith("BUILTIN_") and op_type[len("BUILTIN_") :].isdigit():
        return int(op_type[len("BUILTIN_") :]), None  # a code newer than the tflite package knows
    raise ModelError(f"unknown op type {op_type!r}")


def _tensor_type(t: Tensor) -> int:
    name = t.dtype.upper()
    if name in _TENSOR_TYPES:
        return _TENSOR_TYPES[name]
    if t.dtype.startswith("type") and t.dtype[4:].isdigit():  # the reader's spelling of unknown codes
        return int(t.dtype[4:])
    raise ModelError(f"tensor {t.index} ({t.name}) has unknown type {t.dtype!r}")


def _tensor_bytes(t: Tensor) -> bytes:
    assert t.data is not None
    if t.dtype not in NUMPY_DTYPES:
        raise ModelError(f"constant tensor {t.index} ({t.name}) has unsupported type {t.dtype}")
    data = np.asarray(t.data)
    if data.size != t.size:
        raise ModelError(f"tensor {t.index} ({t.name}) holds {data.size} values, its shape {t.shape} needs {t.size}")
    little = np.dtype(NUMPY_DTYPES[t.dtype]).newbyteorder("<")
    return np.ascontiguousarray(data, dtype=little).tobytes()


def _byte_vector(b: flatbuffers.Builder, raw: bytes, alignment: int) -> int:
    b.StartVector(1, len(raw), alignment)
    b.head -= len(raw)
    b.Bytes[b.head : b.head + len(raw)] = raw
    return b.EndVector()


def _int_vector(b: flatbuffers.Builder, values: tuple[int, ...] | list[int], dtype: str = "<i4") -> int:
    return b.CreateNumpyVector(np.asarray(values, dtype=dtype).reshape(-1))


def _quantization(b: flatbuffers.Builder, q: Quantization) -> int:
    if len(q.zero_point) != len(q.scale):
        raise ModelError(f"quantization with {len(q.scale)} scales but {len(q.zero_point)} zero points")
    scale = b.CreateNumpyVector(np.asarray(q.scale, dtype="<f4"))
    zero_point = _int_vector(b, q.zero_point, "<i8")
    tflite.QuantizationParametersStart(b)
    tflite.QuantizationParametersAddScale(b, scale)
    tflite.QuantizationParametersAddZeroPoint(b, zero_point)
    tflite.QuantizationParametersAddQuantizedDimension(b, q.axis)
    return tflite.QuantizationParametersEnd(b)


def _vector_of_offsets(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _custom_options(b: flatbuffers.Builder, op: Operator) -> int | None:
    """A custom op's options as the flexbuffer map TFLite reads them from (None when it has none)."""
    if not op.op_type.startswith("CUSTOM:") or not op.options:
        return None
    raw = op.options.get(CUSTOM_RAW)
    return _byte_vector(b, raw if raw is not None else bytes(flexbuffers.Dumps(dict(op.options))), 1)


def _check(graph: Graph, allow_lossy: bool) -> None:
    n = len(graph.tensors)
    for pos, t in enumerate(graph.tensors):
        if t.index != pos:
            raise ModelError(f"{graph.name}: tensor at position {pos} carries index {t.index}")
    for i in (*graph.inputs, *graph.outputs):
        if not 0 <= i < n:
            raise ModelError(f"{graph.name}: graph input/output refers to tensor {i}, the graph has {n}")
    for op in graph.operators:
        for i in (*op.inputs, *op.outputs):
            if not -1 <= i < n:
                raise ModelError(f"{graph.name}: {op.describe()} refers to tensor {i}, the graph has {n}")
        _builtin_code(op.op_type)
        if op.op_type not in _OPTION_WRITERS and not op.op_type.startswith("CUSTOM:") and not allow_lossy:
            raise ModelError(
                f"{graph.name}: {op.describe()}: the IR does not hold this op's options, so writing it would "
                "lose them (pass allow_lossy=True to write it without options)"
            )


def write_tflite(graph: Graph, *, allow_lossy: bool = False, description: str = "tinyml-codegen") -> bytes:
    """Serialise `graph` as a TFLite flatbuffer (schema v3) that both TFLite and TFLite Micro load."""
    _check(graph, allow_lossy)
    b = flatbuffers.Builder(1024 + sum(t.nbytes for t in graph.tensors if t.is_const))

    # Buffers: the empty sentinel, then one per constant tensor in tensor order.
    buffer_of: dict[int, int] = {}
    const_data: list[bytes] = []
    for t in graph.tensors:
        if t.data is not None and t.size > 0:
            buffer_of[t.index] = len(const_data) + 1
            const_data.append(_tensor_bytes(t))
    data_offsets = [_byte_vector(b, raw, _DATA_ALIGNMENT) for raw in const_data]
    buffer_offsets = []
    tflite.BufferStart(b)
    buffer_offsets.append(tflite.BufferEnd(b))
    for data in data_offsets:
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buffer_offsets.append(tflite.BufferEnd(b))

    tensor_offsets = []
    for t in graph.tensors:
        name = b.CreateString(t.name)
        shape = _int_vector(b, t.shape)
        quant = _quantization(b, t.quant) if t.quant is not None else None
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _tensor_type(t))
        tflite.TensorAddBuffer(b, buffer_of.get(t.index, 0))
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if t.is_variable:
            tflite.TensorAddIsVariable(b, True)
        tensor_offsets.append(tflite.TensorEnd(b))

    # Operator codes: one per distinct (op type, version), in order of first use.
    opcode_index: dict[tuple[str, int], int] = {}
    for op in graph.operators:
        opcode_index.setdefault((op.op_type, op_version(op, graph)), len(opcode_index))

    operator_offsets = []
    for op in graph.operators:
        inputs = _int_vector(b, op.inputs)
        outputs = _int_vector(b, op.outputs)
        entry = _OPTION_WRITERS.get(op.op_type)
        options = entry.write(b, op, graph) if entry is not None and entry.write is not None else None
        custom_options = _custom_options(b, op)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index[(op.op_type, op_version(op, graph))])
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            assert entry is not None
            tflite.OperatorAddBuiltinOptionsType(b, entry.kind)
            tflite.OperatorAddBuiltinOptions(b, options)
        if custom_options is not None:
            tflite.OperatorAddCustomOptions(b, custom_options)
            tflite.OperatorAddCustomOptionsFormat(b, tflite.CustomOptionsFormat.FLEXBUFFERS)
        operator_offsets.append(tflite.OperatorEnd(b))

    tensors_vec = _vector_of_offsets(b, tensor_offsets)
    operators_vec = _vector_of_offsets(b, operator_offsets)
    sg_inputs = _int_vector(b, graph.inputs)
    sg_outputs = _int_vector(b, graph.outputs)
    sg_name = b.CreateString(graph.name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, sg_inputs)
    tflite.SubGraphAddOutputs(b, sg_outputs)
    tflite.SubGraphAddOperators(b, operators_vec)
    tflite.SubGraphAddName(b, sg_name)
    subgraph = tflite.SubGraphEnd(b)

    code_offsets = []
    for op_type, version in opcode_index:
        code, custom = _builtin_code(op_type)
        custom_name = b.CreateString(custom) if custom is not None else None
        tflite.OperatorCodeStart(b)
        # Schema v3a: the int8 field saturates at 127 (PLACEHOLDER_FOR_GREATER_OP_CODES); readers take the max.
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, version)
        if custom_name is not None:
            tflite.OperatorCodeAddCustomCode(b, custom_name)
        code_offsets.append(tflite.OperatorCodeEnd(b))

    codes_vec = _vector_of_offsets(b, code_offsets)
    subgraphs_vec = _vector_of_offsets(b, [subgraph])
    buffers_vec = _vector_of_offsets(b, buffer_offsets)
    desc = b.CreateString(description)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, _SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs_vec)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, buffers_vec)
    model = tflite.ModelEnd(b)
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())
