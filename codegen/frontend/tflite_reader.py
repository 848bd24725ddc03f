"""Read a .tflite flatbuffer into the IR.

The reader is strict about structure (a corrupt file must never reach code generation) and lenient
where TFLite Micro is lenient (e.g. person_detect's rank-1 biases that declare quantized_dimension=3).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import tflite
from flatbuffers import flexbuffers

from codegen.errors import ModelError
from codegen.ir import CUSTOM_RAW, NUMPY_DTYPES, Graph, Operator, Quantization, Tensor

_TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.INT8: "int8",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
}
_TYPE_NAMES = {v: k for k, v in tflite.TensorType.__dict__.items() if not k.startswith("_")}
_OP_NAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in tflite.ActivationFunctionType.__dict__.items() if not k.startswith("_")}
_PADDINGS = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}

# TFLite Micro's RuntimeShape holds at most this many dimensions.
MAX_RANK = 6
# Sizes, offsets and loop bounds in the generated C are int32: no tensor may reach 2^31 bytes.
MAX_TENSOR_BYTES = 2**31 - 1
# Zero points must lie in their tensor type's range. Narrower rules are the kernels' to check: int16 activations
# are mostly symmetric, but TFLM's int16 SOFTMAX writes zero point -32768 (tflm_keyword_scrambled, tensor 51).
_ZERO_POINT_RANGES = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
# (required inputs, most inputs or None for any number, outputs) of the operators the compiler lowers, as
# TFLite defines them; a required input may not be omitted (-1).
_ARITY: dict[str, tuple[int, int | None, int]] = {
    "CONV_2D": (2, 3, 1),
    "DEPTHWISE_CONV_2D": (2, 3, 1),
    "FULLY_CONNECTED": (2, 3, 1),
    "ADD": (2, 2, 1),
    "MUL": (2, 2, 1),
    "DIV": (2, 2, 1),
    "AVERAGE_POOL_2D": (1, 1, 1),
    "MAX_POOL_2D": (1, 1, 1),
    "MEAN": (2, 2, 1),
    "PAD": (2, 2, 1),
    "PADV2": (2, 3, 1),
    "RESHAPE": (1, 2, 1),
    "CONCATENATION": (1, None, 1),
    "TRANSPOSE": (2, 2, 1),
    "SOFTMAX": (1, 1, 1),
    "LOG_SOFTMAX": (1, 1, 1),
    "LOGISTIC": (1, 1, 1),
    "QUANTIZE": (1, 1, 1),
    "DEQUANTIZE": (1, 1, 1),
}


def _conv_options(o: Any) -> dict[str, Any]:
    return {
        "padding": _PADDINGS.get(o.Padding(), o.Padding()),
        "stride_h": o.StrideH(),
        "stride_w": o.StrideW(),
        "dilation_h": o.DilationHFactor(),
        "dilation_w": o.DilationWFactor(),
        "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction()),
    }


def _depthwise_options(o: Any) -> dict[str, Any]:
    return {**_conv_options(o), "depth_multiplier": o.DepthMultiplier()}


def _pool_options(o: Any) -> dict[str, Any]:
    return {
        "padding": _PADDINGS.get(o.Padding(), o.Padding()),
        "stride_h": o.StrideH(),
        "stride_w": o.StrideW(),
        "filter_h": o.FilterHeight(),
        "filter_w": o.FilterWidth(),
        "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction()),
    }


def _activation_only(o: Any) -> dict[str, Any]:
    return {"activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction())}


def _fc_options(o: Any) -> dict[str, Any]:
    return {**_activation_only(o), "weights_format": o.WeightsFormat(), "keep_num_dims": bool(o.KeepNumDims())}


def _svdf_options(o: Any) -> dict[str, Any]:
    return {**_activation_only(o), "rank": o.Rank(), "asymmetric_quantize_inputs": bool(o.AsymmetricQuantizeInputs())}


def _concat_options(o: Any) -> dict[str, Any]:
    return {**_activation_only(o), "axis": o.Axis()}


def _strided_slice_options(o: Any) -> dict[str, Any]:
    return {
        "begin_mask": o.BeginMask(),
        "end_mask": o.EndMask(),
        "ellipsis_mask": o.EllipsisMask(),
        "new_axis_mask": o.NewAxisMask(),
        "shrink_axis_mask": o.ShrinkAxisMask(),
        "offset": bool(o.Offset()),
    }


def _transpose_conv_options(o: Any) -> dict[str, Any]:
    return {
        "padding": _PADDINGS.get(o.Padding(), o.Padding()),
        "stride_h": o.StrideH(),
        "stride_w": o.StrideW(),
        "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction()),
    }


# op name -> (options class, parser). Ops absent here carry no options the compiler needs.
_OPTION_PARSERS: dict[str, tuple[type, Any]] = {
    "CONV_2D": (tflite.Conv2DOptions, _conv_options),
    "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions, _depthwise_options),
    "FULLY_CONNECTED": (tflite.FullyConnectedOptions, _fc_options),
    "SVDF": (tflite.SVDFOptions, _svdf_options),
    "ADD": (tflite.AddOptions, _activation_only),
    # pot_scale_int16 is not read: TFLite Micro ignores it (always the general int16 path).
    "SUB": (tflite.SubOptions, _activation_only),
    "LEAKY_RELU": (tflite.LeakyReluOptions, lambda o: {"alpha": float(o.Alpha())}),
    "STRIDED_SLICE": (tflite.StridedSliceOptions, _strided_slice_options),
    "TRANSPOSE_CONV": (tflite.TransposeConvOptions, _transpose_conv_options),
    "MUL": (tflite.MulOptions, _activation_only),
    "DIV": (tflite.DivOptions, _activation_only),
    "AVERAGE_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "MAX_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "MEAN": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "SOFTMAX": (tflite.SoftmaxOptions, lambda o: {"beta": float(o.Beta())}),
    "CONCATENATION": (tflite.ConcatenationOptions, _concat_options),
    "SPLIT": (tflite.SplitOptions, lambda o: {"num_splits": o.NumSplits()}),
    "SPLIT_V": (tflite.SplitVOptions, lambda o: {"num_splits": o.NumSplits()}),
    "PACK": (tflite.PackOptions, lambda o: {"values_count": o.ValuesCount(), "axis": o.Axis()}),
    "UNPACK": (tflite.UnpackOptions, lambda o: {"num": o.Num(), "axis": o.Axis()}),
    "GATHER": (tflite.GatherOptions, lambda o: {"axis": o.Axis(), "batch_dims": o.BatchDims()}),
    "SQUEEZE": (tflite.SqueezeOptions, lambda o: {
        "squeeze_dims": tuple(int(d) for d in o.SqueezeDimsAsNumpy()) if o.SqueezeDimsLength() else ()}),
    "DEPTH_TO_SPACE": (tflite.DepthToSpaceOptions, lambda o: {"block_size": o.BlockSize()}),
    "SPACE_TO_DEPTH": (tflite.SpaceToDepthOptions, lambda o: {"block_size": o.BlockSize()}),
    "RESIZE_BILINEAR": (tflite.ResizeBilinearOptions, lambda o: {
        "align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}),
    "RESIZE_NEAREST_NEIGHBOR": (tflite.ResizeNearestNeighborOptions, lambda o: {
        "align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}),
    "SUM": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "REDUCE_MAX": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "ARG_MAX": (tflite.ArgMaxOptions, lambda o: {"output_type": _TYPE_NAMES.get(o.OutputType(), "").lower()}),
    "ARG_MIN": (tflite.ArgMinOptions, lambda o: {"output_type": _TYPE_NAMES.get(o.OutputType(), "").lower()}),
    "BATCH_MATMUL": (
        tflite.BatchMatMulOptions,
        lambda o: {"adj_x": bool(o.AdjX()), "adj_y": bool(o.AdjY()),
                   "asymmetric_quantize_inputs": bool(o.AsymmetricQuantizeInputs())},
    ),
    "L2_NORMALIZATION": (tflite.L2NormOptions, _activation_only),
}

_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "ADD": {"activation": "NONE"},
    "SUB": {"activation": "NONE"},
    "LEAKY_RELU": {"alpha": 0.0},
    "STRIDED_SLICE": {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                      "shrink_axis_mask": 0, "offset": False},
    "TRANSPOSE_CONV": {"activation": "NONE"},
    "MUL": {"activation": "NONE"},
    "DIV": {"activation": "NONE"},
    "MEAN": {"keep_dims": False},
    "SOFTMAX": {"beta": 1.0},
    "GATHER": {"axis": 0, "batch_dims": 0},
    "PACK": {"axis": 0},
    "UNPACK": {"axis": 0},
    "SQUEEZE": {"squeeze_dims": ()},
    "RESIZE_BILINEAR": {"align_corners": False, "half_pixel_centers": False},
    "RESIZE_NEAREST_NEIGHBOR": {"align_corners": False, "half_pixel_centers": False},
    "SUM": {"keep_dims": False},
    "REDUCE_MAX": {"keep_dims": False},
    "BATCH_MATMUL": {"adj_x": False, "adj_y": False, "asymmetric_quantize_inputs": False},
    "L2_NORMALIZATION": {"activation": "NONE"},
}


def read_tflite(path: str | Path) -> Graph:
    """Parse a .tflite file. Raises ModelError with a one-line reason for anything malformed."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {path}: {exc.strerror or exc}") from None
    return parse_tflite(buf, name=path.stem)


def parse_tflite(buf: bytes, name: str = "model") -> Graph:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a TFLite flatbuffer (missing 'TFL3' identifier)")
    try:
        return _parse(buf, name)
    except ModelError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on corrupt offsets
        raise ModelError(f"{name}: malformed TFLite file ({type(exc).__name__}: {exc})") from None


def _parse(buf: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{name}: model has no subgraph")
    if model.SubgraphsLength() > 1:
        raise ModelError(f"{name}: models with {model.SubgraphsLength()} subgraphs (control flow) are not supported")
    sg = model.Subgraphs(0)
    n_buffers = model.BuffersLength()

    tensors = [_read_tensor(model, sg.Tensors(i), i, n_buffers, buf, name) for i in range(sg.TensorsLength())]
    n_tensors = len(tensors)

    def check_indices(indices: np.ndarray, what: str, optional: bool = False) -> tuple[int, ...]:
        out = tuple(int(i) for i in indices)
        for i in out:
            if i < (-1 if optional else 0) or i >= n_tensors:
                raise ModelError(f"{what} refers to tensor {i}, but the model has {n_tensors}")
        return out

    operators = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if op.OpcodeIndex() >= model.OperatorCodesLength():
            raise ModelError(f"{name}: operator {i} has opcode index {op.OpcodeIndex()} out of range")
        op_type = _op_name(model.OperatorCodes(op.OpcodeIndex()))
        where = f"{name}: operator {i} ({op_type})"
        inputs = check_indices(op.InputsAsNumpy() if op.InputsLength() else np.zeros(0), where, optional=True)
        outputs = check_indices(op.OutputsAsNumpy() if op.OutputsLength() else np.zeros(0), f"{where} output")
        _check_arity(where, op_type, inputs, outputs)
        options = _read_options(op, op_type, where)
        if not op_type.startswith("CUSTOM:"):
            _check_options(where, options)
        operators.append(Operator(i, op_type, inputs, outputs, options))

    graph_inputs = check_indices(sg.InputsAsNumpy() if sg.InputsLength() else np.zeros(0), f"{name}: graph inputs")
    graph_outputs = check_indices(sg.OutputsAsNumpy() if sg.OutputsLength() else np.zeros(0), f"{name}: graph outputs")
    if not graph_inputs or not graph_outputs:
        raise ModelError(f"{name}: model declares no inputs or no outputs")
    variables = {i for i in range(n_tensors) if sg.Tensors(i).IsVariable()}
    for i in variables:
        tensors[i].is_variable = True
    graph = Graph(tensors, operators, graph_inputs, graph_outputs, name=name)
    _check_dataflow(graph, variables)
    return graph


def _check_arity(where: str, op_type: str, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
    """Every operator writes something; a known one has TFLite's number of inputs and outputs."""
    if not outputs:
        raise ModelError(f"{where} has no outputs")
    if op_type not in _ARITY:
        return
    required, most, n_out = _ARITY[op_type]
    if len(inputs) < required or (most is not None and len(inputs) > most):
        expected = f"{required}" if most == required else f"{required} to {most}" if most else f"{required} or more"
        raise ModelError(f"{where} has {len(inputs)} inputs; TFLite's {op_type} takes {expected}")
    if any(i < 0 for i in inputs[:required]):
        raise ModelError(f"{where} omits a required input (tensor -1 among its first {required})")
    if len(outputs) != n_out:
        raise ModelError(f"{where} has {len(outputs)} outputs; TFLite's {op_type} has {n_out}")


def _check_options(where: str, options: dict[str, Any]) -> None:
    """Builtin options the reader could not name, and window parameters no kernel can divide by."""
    for key, what in (("activation", "fused activation"), ("padding", "padding")):
        if isinstance(options.get(key), int):
            raise ModelError(f"{where}: {what} code {options[key]} is not one TFLite defines")
    for key in ("stride_h", "stride_w", "dilation_h", "dilation_w", "filter_h", "filter_w"):
        if key in options and options[key] < 1:
            raise ModelError(f"{where}: {key} is {options[key]} (must be at least 1)")
    if "beta" in options and not math.isfinite(options["beta"]):
        raise ModelError(f"{where}: softmax beta is {options['beta']}")


def _check_dataflow(graph: Graph, variables: set[int]) -> None:
    """Each tensor has one producer: a constant, a graph input, a variable, or one operator before its readers."""
    name = graph.name
    if len(set(graph.inputs)) != len(graph.inputs):
        raise ModelError(f"{name}: graph inputs {list(graph.inputs)} name a tensor twice")
    available = set(graph.inputs) | variables | {t.index for t in graph.tensors if t.is_const}
    for i in graph.inputs:
        if graph.tensors[i].is_const:
            raise ModelError(f"{name}: graph input tensor {i} ({_label(graph.tensors[i].name)}) is a constant")
    for op in graph.operators:
        # Ops the compiler does not know may read tensors they own (an Ethos-U op's scratch): they are refused
        # by name when lowered, not here.
        for i in op.inputs if op.op_type in _ARITY else ():
            if i >= 0 and i not in available:
                raise ModelError(f"{name}: {op.describe()} reads tensor {i} ({_label(graph.tensors[i].name)}), which "
                                 "no earlier operator writes and which is neither a constant nor a graph input")
        for i in op.outputs:
            if i in available and i not in variables:
                raise ModelError(f"{name}: {op.describe()} writes tensor {i} ({_label(graph.tensors[i].name)}), which "
                                 "already holds a constant, a graph input or an earlier operator's result")
            available.add(i)
    for i in graph.outputs:
        if i not in available or graph.tensors[i].is_const:
            raise ModelError(f"{name}: graph output tensor {i} ({_label(graph.tensors[i].name)}) is never computed")


def _label(name: str) -> str:
    """A tensor's name fit for a one-line message: printable, and short."""
    text = "".join(ch if ch.isprintable() else "?" for ch in name)
    return text if len(text) <= 60 else text[:57] + "..."


def _op_name(opcode: Any) -> str:
    # Schema v3a: the real code lives in BuiltinCode when DeprecatedBuiltinCode saturates at 127.
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == tflite.BuiltinOperator.CUSTOM:
        custom = opcode.CustomCode()
        return "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
    return _OP_NAMES.get(code, f"BUILTIN_{code}")


def _read_options(op: Any, op_type: str, where: str) -> dict[str, Any]:
    if op_type.startswith("CUSTOM:"):
        return _read_custom_options(op, where)
    options = dict(_DEFAULT_OPTIONS.get(op_type, {}))
    entry = _OPTION_PARSERS.get(op_type)
    table = op.BuiltinOptions()
    if entry is None or table is None:
        return options
    cls, parse = entry
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    options.update(parse(obj))
    return options


def _read_custom_options(op: Any, where: str) -> dict[str, Any]:
    """A custom op's options: the flexbuffer map TFLM's Signal* ops carry, else the raw bytes (an Ethos-U
    command stream's op has none of its own; other vendors' ops may carry any blob)."""
    if op.CustomOptionsLength() == 0:
        return {}
    raw = op.CustomOptionsAsNumpy().tobytes()
    try:
        value = flexbuffers.Loads(raw)
    except Exception:  # flexbuffers raises bare errors of several kinds on a blob that is not one
        value = None
    if not isinstance(value, dict):
        return {CUSTOM_RAW: raw}
    return {str(k): v for k, v in value.items()}


def _read_tensor(model: Any, t: Any, index: int, n_buffers: int, buf: bytes, name: str) -> Tensor:
    tname = (t.Name() or b"").decode("utf-8", "replace")
    type_code = t.Type()
    dtype = _TENSOR_TYPES.get(type_code, _TYPE_NAMES.get(type_code, f"type{type_code}").lower())
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    where = f"{name}: tensor {index} ({_label(tname)})"
    _check_shape(where, shape, dtype)

    data = None
    if t.Buffer() >= n_buffers:
        raise ModelError(f"{where} refers to buffer {t.Buffer()} out of range")
    buffer = model.Buffers(t.Buffer())
    raw = _buffer_bytes(buffer, buf, where)
    if raw is not None and len(raw):
        if dtype not in NUMPY_DTYPES:
            raise ModelError(f"{where} is a constant of unsupported type {dtype.upper()}")
        np_dtype = np.dtype(NUMPY_DTYPES[dtype]).newbyteorder("<")
        count = math.prod(shape)
        if len(raw) != count * np_dtype.itemsize:
            raise ModelError(
                f"{where} holds {len(raw)} bytes, shape {shape} of {dtype} needs {count * np_dtype.itemsize}"
            )
        data = np.frombuffer(raw, dtype=np_dtype).astype(NUMPY_DTYPES[dtype]).reshape(shape)
    quant = _read_quant(t, where)
    if quant is not None:
        _check_quant(where, quant, shape, dtype, constant=data is not None)
    return Tensor(index, tname, shape, dtype, quant, data)


def _check_shape(where: str, shape: tuple[int, ...], dtype: str) -> None:
    if any(d < 0 for d in shape):
        raise ModelError(f"{where} has a dynamic shape {shape}; static shapes are required")
    if len(shape) > MAX_RANK:
        raise ModelError(f"{where} has {len(shape)} dimensions (TFLite Micro supports at most {MAX_RANK})")
    itemsize = np.dtype(NUMPY_DTYPES[dtype]).itemsize if dtype in NUMPY_DTYPES else 1
    if math.prod(shape) * itemsize > MAX_TENSOR_BYTES:
        raise ModelError(f"{where} of shape {shape} would take {math.prod(shape) * itemsize:,} bytes "
                         f"(at most {MAX_TENSOR_BYTES:,})")


def _check_quant(where: str, q: Quantization, shape: tuple[int, ...], dtype: str, constant: bool) -> None:
    """Quantization parameters that TFLite Micro accepts for this tensor's type and shape."""
    if not all(math.isfinite(s) for s in q.scale):
        bad = next(s for s in q.scale if not math.isfinite(s))
        raise ModelError(f"{where} has scale {bad} (scales must be finite)")
    # Filters carry their own sign conventions (checked where they are lowered); activations need a scale > 0.
    if not constant and dtype in ("int8", "uint8", "int16") and not all(s > 0 for s in q.scale):
        bad = next(s for s in q.scale if not s > 0)
        raise ModelError(f"{where} has scale {bad} (an activation's scale must be positive)")
    low, high = _ZERO_POINT_RANGES.get(dtype, _ZERO_POINT_RANGES["int64"])
    for zp in q.zero_point:
        if not low <= zp <= high:
            raise ModelError(f"{where} has zero point {zp}, outside the {dtype} range [{low}, {high}]")
    if q.axis < 0:
        raise ModelError(f"{where} has quantized dimension {q.axis}")
    if len(q.scale) > 1:
        matches = q.axis < len(shape) and shape[q.axis] == len(q.scale)
        # TFLM ignores the axis of rank-1 tensors (person_detect's biases declare 3): so does the reader.
        if not matches and not (len(shape) == 1 and shape[0] == len(q.scale)):
            raise ModelError(f"{where} has {len(q.scale)} scales along dimension {q.axis} of shape {shape}")


def _buffer_bytes(buffer: Any, buf: bytes, where: str) -> bytes | None:
    # Models over 2 GB keep data outside the flatbuffer (offset/size); small ones inline it.
    offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
    if offset > 1:
        size = buffer.Size()
        if offset + size > len(buf):
            raise ModelError(f"{where}: its buffer's data lies beyond the end of the file (truncated?)")
        return buf[offset : offset + size]
    if buffer.DataLength() == 0:
        return None
    return buffer.DataAsNumpy().tobytes()


def _read_quant(t: Any, where: str) -> Quantization | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scales = tuple(float(s) for s in q.ScaleAsNumpy().astype(np.float32))
    zps = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
    if len(zps) == 1 and len(scales) > 1:
        zps = zps * len(scales)
    if len(zps) != len(scales):
        raise ModelError(f"{where} has {len(scales)} scales but {len(zps)} zero points")
    return Quantization(scales, zps, int(q.QuantizedDimension()))
