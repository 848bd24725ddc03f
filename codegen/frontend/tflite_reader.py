"""Read a .tflite flatbuffer into the IR.

The reader is strict about structure (a corrupt file must never reach code generation) and lenient
where TFLite Micro is lenient (e.g. person_detect's rank-1 biases that declare quantized_dimension=3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tflite

from codegen.errors import ModelError
from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor

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
    "ADD": (tflite.AddOptions, _activation_only),
    # pot_scale_int16 is not read: TFLite Micro ignores it (always the general int16 path).
    "SUB": (tflite.SubOptions, _activation_only),
    "LEAKY_RELU": (tflite.LeakyReluOptions, lambda o: {"alpha": float(o.Alpha())}),
    "STRIDED_SLICE": (tflite.StridedSliceOptions, _strided_slice_options),
    "TRANSPOSE_CONV": (tflite.TransposeConvOptions, _transpose_conv_options),
    "MUL": (tflite.MulOptions, _activation_only),
    "AVERAGE_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "MAX_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "MEAN": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "SOFTMAX": (tflite.SoftmaxOptions, lambda o: {"beta": float(o.Beta())}),
    "CONCATENATION": (tflite.ConcatenationOptions, _concat_options),
}

_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "ADD": {"activation": "NONE"},
    "SUB": {"activation": "NONE"},
    "LEAKY_RELU": {"alpha": 0.0},
    "STRIDED_SLICE": {"begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
                      "shrink_axis_mask": 0, "offset": False},
    "TRANSPOSE_CONV": {"activation": "NONE"},
    "MUL": {"activation": "NONE"},
    "MEAN": {"keep_dims": False},
    "SOFTMAX": {"beta": 1.0},
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

    def check_indices(indices: np.ndarray, what: str) -> tuple[int, ...]:
        out = tuple(int(i) for i in indices)
        for i in out:
            if i < -1 or i >= n_tensors:
                raise ModelError(f"{name}: {what} refers to tensor {i}, but the model has {n_tensors}")
        return out

    operators = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if op.OpcodeIndex() >= model.OperatorCodesLength():
            raise ModelError(f"{name}: operator {i} has opcode index {op.OpcodeIndex()} out of range")
        op_type = _op_name(model.OperatorCodes(op.OpcodeIndex()))
        inputs = check_indices(op.InputsAsNumpy() if op.InputsLength() else np.zeros(0), f"operator {i}")
        outputs = check_indices(op.OutputsAsNumpy() if op.OutputsLength() else np.zeros(0), f"operator {i}")
        operators.append(Operator(i, op_type, inputs, outputs, _read_options(op, op_type)))

    graph_inputs = check_indices(sg.InputsAsNumpy() if sg.InputsLength() else np.zeros(0), "graph inputs")
    graph_outputs = check_indices(sg.OutputsAsNumpy() if sg.OutputsLength() else np.zeros(0), "graph outputs")
    if not graph_inputs or not graph_outputs:
        raise ModelError(f"{name}: model declares no inputs or no outputs")
    return Graph(tensors, operators, graph_inputs, graph_outputs, name=name)


def _op_name(opcode: Any) -> str:
    # Schema v3a: the real code lives in BuiltinCode when DeprecatedBuiltinCode saturates at 127.
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == tflite.BuiltinOperator.CUSTOM:
        custom = opcode.CustomCode()
        return "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
    return _OP_NAMES.get(code, f"BUILTIN_{code}")


def _read_options(op: Any, op_type: str) -> dict[str, Any]:
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


def _read_tensor(model: Any, t: Any, index: int, n_buffers: int, buf: bytes, name: str) -> Tensor:
    tname = (t.Name() or b"").decode("utf-8", "replace")
    type_code = t.Type()
    dtype = _TENSOR_TYPES.get(type_code, _TYPE_NAMES.get(type_code, f"type{type_code}").lower())
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise ModelError(f"{name}: tensor {index} ({tname}) has a dynamic shape {shape}; static shapes are required")

    data = None
    if t.Buffer() >= n_buffers:
        raise ModelError(f"{name}: tensor {index} ({tname}) refers to buffer {t.Buffer()} out of range")
    buffer = model.Buffers(t.Buffer())
    raw = _buffer_bytes(buffer, buf)
    if raw is not None and len(raw):
        if dtype not in NUMPY_DTYPES:
            raise ModelError(f"{name}: constant tensor {index} ({tname}) has unsupported type {dtype.upper()}")
        np_dtype = np.dtype(NUMPY_DTYPES[dtype]).newbyteorder("<")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(raw) != count * np_dtype.itemsize:
            raise ModelError(
                f"{name}: tensor {index} ({tname}) holds {len(raw)} bytes, shape {shape} of {dtype} needs "
                f"{count * np_dtype.itemsize}"
            )
        data = np.frombuffer(raw, dtype=np_dtype).astype(NUMPY_DTYPES[dtype]).reshape(shape)
    return Tensor(index, tname, shape, dtype, _read_quant(t), data)


def _buffer_bytes(buffer: Any, buf: bytes) -> bytes | None:
    # Models over 2 GB keep data outside the flatbuffer (offset/size); small ones inline it.
    offset = buffer.Offset() if hasattr(buffer, "Offset") else 0
    if offset > 1:
        size = buffer.Size()
        if offset + size > len(buf):
            raise ModelError("buffer data lies beyond the end of the file (truncated?)")
        return buf[offset : offset + size]
    if buffer.DataLength() == 0:
        return None
    return buffer.DataAsNumpy().tobytes()


def _read_quant(t: Any) -> Quantization | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scales = tuple(float(s) for s in q.ScaleAsNumpy().astype(np.float32))
    zps = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
    if len(zps) == 1 and len(scales) > 1:
        zps = zps * len(scales)
    return Quantization(scales, zps, int(q.QuantizedDimension()))
