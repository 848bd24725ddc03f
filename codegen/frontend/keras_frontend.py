"""Keras frontend: a .keras (or legacy .h5) model -> the float IR.

The model is loaded with Keras 3 itself on its PyTorch backend (KERAS_BACKEND=torch unless the user chose
another), so neither TensorFlow nor its converter is needed: the same quantizer then handles PyTorch, Keras
and float TFLite models alike. The topology comes from the model's config (Sequential or functional), the
weights from each layer's get_weights(). Keras is channels-last like TFLite, so no layout change is needed.

Supported layers: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense (on 2-D inputs),
BatchNormalization (folded into the preceding Conv2D / Dense), ReLU (max_value None or 6), Activation and
the activation= argument (linear, relu, relu6, sigmoid, softmax), Softmax, MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, ZeroPadding2D, Add, Multiply, Concatenate,
Rescaling, and Dropout-like layers (identities at inference). Anything else is refused with the layer's name,
class and position.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codegen.errors import ModelError, ToolchainError
from codegen.frontend.float_graph import FloatGraphBuilder
from codegen.frontend.float_passes import simplify
from codegen.ir import Graph

INSTALL_HINT = "install the frontends extra: .venv/bin/pip install -e '.[frontends]' (Keras 3 with PyTorch)"
_IDENTITY_LAYERS = frozenset({"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                              "ActivityRegularization", "Identity"})


def import_keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise ToolchainError(f"Keras is not installed: {INSTALL_HINT}") from None
    return keras


class _Unsupported(Exception):
    pass


@dataclass
class _Layer:
    position: int
    name: str
    class_name: str
    config: dict[str, Any]
    inbound: list[list[tuple[str, int, int]]]  # per call of the layer: the (layer, node, tensor) it reads


def _history(obj: Any, out: list[tuple[str, int, int]]) -> None:
    """Collect keras_history triples from a serialized call's args, in order."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            name, node, tensor = obj["config"]["keras_history"]
            out.append((name, int(node), int(tensor)))
            return
        for v in obj.values():
            _history(v, out)
    elif isinstance(obj, list | tuple):
        if len(obj) == 3 and isinstance(obj[0], str) and all(isinstance(v, int) for v in obj[1:]):
            out.append((obj[0], int(obj[1]), int(obj[2])))  # legacy (Keras 2) [name, node, tensor, kwargs]
            return
        for v in obj:
            _history(v, out)


def _layers(config: dict[str, Any], sequential: bool) -> tuple[list[_Layer], list[tuple[str, int, int]]]:
    """The layers in config order with their inputs, and the model outputs."""
    raw = config["layers"]
    layers: list[_Layer] = []
    if sequential:
        prev: tuple[str, int, int] | None = None
        for pos, entry in enumerate(raw):
            cfg = entry.get("config", {})
            name = cfg.get("name", f"layer{pos}")
            layers.append(_Layer(pos, name, entry["class_name"], cfg, [[prev]] if prev else []))
            prev = (name, 0, 0)
        assert prev is not None
        return layers, [prev]
    for pos, entry in enumerate(raw):
        inbound = []
        for call in entry.get("inbound_nodes", []):
            refs: list[tuple[str, int, int]] = []
            _history(call, refs)
            inbound.append(refs)
        cfg = entry.get("config", {})
        layers.append(_Layer(pos, entry.get("name", cfg.get("name")), entry["class_name"], cfg, inbound))
    outs = config["output_layers"]
    if outs and isinstance(outs[0], str):
        outs = [outs]
    return layers, [(o[0], int(o[1]), int(o[2])) for o in outs]


class _Converter:
    def __init__(self, model: Any, name: str):
        self.model = model
        self.b = FloatGraphBuilder(name)
        self.values: dict[tuple[str, int, int], int] = {}
        self.inputs: list[int] = []

    def weights(self, layer: _Layer) -> list[np.ndarray]:
        return [np.asarray(w, dtype=np.float32) for w in self.model.get_layer(layer.name).get_weights()]

    def run(self) -> Graph:
        config = self.model.get_config()
        sequential = type(self.model).__name__ == "Sequential"
        layers, outputs = _layers(config, sequential)
        if sequential and (not layers or layers[0].class_name != "InputLayer"):
            shape = tuple(self.model.inputs[0].shape)
            layers.insert(0, _Layer(-1, "input", "InputLayer", {"batch_shape": list(shape)}, []))
            if len(layers) > 1:
                layers[1].inbound = [[("input", 0, 0)]]
        problems = [f"layer {lay.position} '{lay.name}' ({lay.class_name}): unsupported layer" for lay in layers
                    if lay.class_name not in _HANDLERS]
        if problems:
            noun = "layer" if len(problems) == 1 else "layers"
            raise ModelError(f"{self.b.name}: cannot convert {len(problems)} {noun}:", problems)
        for layer in layers:
            try:
                if layer.class_name == "InputLayer":
                    self.values[(layer.name, 0, 0)] = self.input_layer(layer)
                    continue
                if len(layer.inbound) != 1:
                    raise _Unsupported(f"a layer called {len(layer.inbound)} times (shared layers)")
                ins = [self.values[ref] for ref in layer.inbound[0]]
                self.values[(layer.name, 0, 0)] = _HANDLERS[layer.class_name](self, layer, ins)
            except _Unsupported as exc:
                raise ModelError(f"{self.b.name}: cannot convert layer {layer.position} '{layer.name}' "
                                 f"({layer.class_name}): unsupported {exc}") from None
            except KeyError as exc:
                raise ModelError(f"{self.b.name}: layer '{layer.name}' reads {exc}, which is not computed before "
                                 "it") from None
        return simplify(self.b.build(self.inputs, [self.values[o] for o in outputs]))

    def input_layer(self, layer: _Layer) -> int:
        shape = layer.config.get("batch_shape") or layer.config.get("batch_input_shape")
        if shape is None or any(d is None for d in shape[1:]):
            raise _Unsupported(f"input shape {shape} (every dimension but the batch must be fixed)")
        index = self.b.activation(layer.name, (1, *(int(d) for d in shape[1:])))
        self.inputs.append(index)
        return index

    def activation(self, x: int, name: str, layer: _Layer, activation: Any) -> int:
        if isinstance(activation, dict):
            activation = activation.get("config", {}).get("name") or activation.get("class_name")
        kind = {None: None, "linear": None, "relu": "RELU", "relu6": "RELU6", "sigmoid": "LOGISTIC",
                "softmax": "SOFTMAX"}.get(activation, "?")
        if kind == "?":
            raise _Unsupported(f"activation '{activation}'")
        if kind is None:
            return x
        options = {"beta": 1.0} if kind == "SOFTMAX" else {}
        return self.b.unary(kind, x, f"{name}/{activation}", **options)


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _check_channels_last(layer: _Layer) -> None:
    if layer.config.get("data_format", "channels_last") != "channels_last":
        raise _Unsupported("channels_first data format")


def _padding(layer: _Layer) -> str:
    padding = str(layer.config.get("padding", "valid")).upper()
    if padding not in ("SAME", "VALID"):
        raise _Unsupported(f"padding '{padding.lower()}'")
    return padding


def _conv2d(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    _check_channels_last(layer)
    if int(layer.config.get("groups", 1)) != 1:
        raise _Unsupported("grouped convolution")
    w = c.weights(layer)
    kernel = w[0]  # kh x kw x in x out
    bias = w[1] if layer.config.get("use_bias", True) else None
    y = c.b.conv2d(ins[0], np.ascontiguousarray(kernel.transpose(3, 0, 1, 2)), bias, layer.name,
                   _pair(layer.config.get("strides", 1)), _pair(layer.config.get("dilation_rate", 1)), _padding(layer))
    return c.activation(y, layer.name, layer, layer.config.get("activation"))


def _depthwise(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    _check_channels_last(layer)
    w = c.weights(layer)
    kernel = w[0]  # kh x kw x in x multiplier; output channel = in * multiplier + j, as TFLite
    kh, kw, cin, mult = kernel.shape
    bias = w[1] if layer.config.get("use_bias", True) else None
    y = c.b.conv2d(ins[0], kernel.reshape(1, kh, kw, cin * mult), bias, layer.name,
                   _pair(layer.config.get("strides", 1)), _pair(layer.config.get("dilation_rate", 1)),
                   _padding(layer), depthwise=True)
    return c.activation(y, layer.name, layer, layer.config.get("activation"))


def _separable(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    _check_channels_last(layer)
    w = c.weights(layer)
    depth, point = w[0], w[1]  # kh x kw x in x m, 1 x 1 x in*m x out
    bias = w[2] if layer.config.get("use_bias", True) else None
    kh, kw, cin, mult = depth.shape
    d = c.b.conv2d(ins[0], depth.reshape(1, kh, kw, cin * mult), None, f"{layer.name}/depthwise",
                   _pair(layer.config.get("strides", 1)), _pair(layer.config.get("dilation_rate", 1)),
                   _padding(layer), depthwise=True)
    y = c.b.conv2d(d, np.ascontiguousarray(point.transpose(3, 0, 1, 2)), bias, layer.name, (1, 1), (1, 1), "VALID")
    return c.activation(y, layer.name, layer, layer.config.get("activation"))


def _dense(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    if len(c.b.shape(ins[0])) != 2:
        raise _Unsupported(f"Dense on a rank-{len(c.b.shape(ins[0]))} input (only (batch, features); add Flatten)")
    w = c.weights(layer)
    bias = w[1] if layer.config.get("use_bias", True) else None
    y = c.b.fully_connected(ins[0], np.ascontiguousarray(w[0].T), bias, layer.name)
    return c.activation(y, layer.name, layer, layer.config.get("activation"))


def _batch_norm(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    shape = c.b.shape(ins[0])
    axis = layer.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % len(shape) != len(shape) - 1:
        raise _Unsupported(f"BatchNormalization over axis {axis} (only the last, channels)")
    weights = c.weights(layer)
    channels = shape[-1]
    gamma = weights.pop(0).astype(np.float64) if layer.config.get("scale", True) else np.ones(channels)
    beta = weights.pop(0).astype(np.float64) if layer.config.get("center", True) else np.zeros(channels)
    mean, var = weights[0].astype(np.float64), weights[1].astype(np.float64)
    scale = gamma / np.sqrt(var + float(layer.config.get("epsilon", 1e-3)))
    shift = beta - mean * scale
    scaled = c.b.unary("MUL", ins[0], f"{layer.name}/scale", extra_inputs=(c.b.const(f"{layer.name}/gamma", scale),),
                       activation="NONE")
    return c.b.unary("ADD", scaled, layer.name, extra_inputs=(c.b.const(f"{layer.name}/beta", shift),),
                     activation="NONE")


def _relu(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    cfg = layer.config
    if float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0 or float(cfg.get("threshold", 0.0) or 0.0) != 0.0:
        raise _Unsupported("leaky or thresholded ReLU")
    max_value = cfg.get("max_value")
    if max_value is None:
        return c.b.unary("RELU", ins[0], layer.name)
    if float(max_value) == 6.0:
        return c.b.unary("RELU6", ins[0], layer.name)
    raise _Unsupported(f"ReLU with max_value {max_value} (only None or 6)")


def _activation_layer(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    return c.activation(ins[0], layer.name, layer, layer.config.get("activation"))


def _softmax(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    axis = layer.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
    if axis % len(c.b.shape(ins[0])) != len(c.b.shape(ins[0])) - 1:
        raise _Unsupported(f"softmax over axis {axis} (only the last)")
    return c.b.unary("SOFTMAX", ins[0], layer.name, beta=1.0)


def _pool(op_type: str) -> Callable[[_Converter, _Layer, list[int]], int]:
    def handle(c: _Converter, layer: _Layer, ins: list[int]) -> int:
        _check_channels_last(layer)
        size = _pair(layer.config.get("pool_size", 2))
        strides = layer.config.get("strides")
        return c.b.pool(op_type, ins[0], layer.name, size, _pair(strides) if strides else size, _padding(layer))

    return handle


def _global_pool(op_type: str) -> Callable[[_Converter, _Layer, list[int]], int]:
    def handle(c: _Converter, layer: _Layer, ins: list[int]) -> int:
        _check_channels_last(layer)
        n, h, w, ch = c.b.shape(ins[0])
        keep = bool(layer.config.get("keepdims", False))
        if op_type == "MEAN":  # what the TFLite converter makes of GlobalAveragePooling2D
            axes = c.b.const(f"{layer.name}/axes", np.asarray([1, 2], np.int32), "int32")
            shape = (n, 1, 1, ch) if keep else (n, ch)
            return c.b.unary("MEAN", ins[0], layer.name, shape, (axes,), keep_dims=keep)
        y = c.b.pool("MAX_POOL_2D", ins[0], layer.name if keep else f"{layer.name}/pool", (h, w), (1, 1), "VALID")
        return y if keep else c.b.reshape(y, (n, ch), layer.name)

    return handle


def _flatten(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    shape = c.b.shape(ins[0])
    return c.b.reshape(ins[0], (shape[0], int(np.prod(shape[1:]))), layer.name)


def _reshape(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    target = [int(d) for d in layer.config["target_shape"]]
    size = int(np.prod(c.b.shape(ins[0])[1:]))
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target = [size // known if d == -1 else d for d in target]
    if int(np.prod(target)) != size:
        raise _Unsupported(f"reshape of {c.b.shape(ins[0])} to {target}")
    return c.b.reshape(ins[0], (1, *target), layer.name)


def _zero_padding(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    _check_channels_last(layer)
    pad = layer.config.get("padding", 1)
    if isinstance(pad, int):
        rows = cols = (pad, pad)
    else:
        rows = _pair(pad[0]) if isinstance(pad[0], list | tuple) else (int(pad[0]), int(pad[0]))
        cols = _pair(pad[1]) if isinstance(pad[1], list | tuple) else (int(pad[1]), int(pad[1]))
    return c.b.pad(ins[0], [(0, 0), rows, cols, (0, 0)], layer.name)


def _merge(op_type: str) -> Callable[[_Converter, _Layer, list[int]], int]:
    def handle(c: _Converter, layer: _Layer, ins: list[int]) -> int:
        if len(ins) < 2:
            raise _Unsupported(f"{layer.class_name} of {len(ins)} input")
        y = ins[0]
        for k, other in enumerate(ins[1:], start=1):
            shape = tuple(np.broadcast_shapes(c.b.shape(y), c.b.shape(other)))
            name = layer.name if k == len(ins) - 1 else f"{layer.name}/{k}"
            out = c.b.activation(name, shape)
            c.b.op(op_type, (y, other), (out,), activation="NONE")
            y = out
        return y

    return handle


def _concatenate(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    shapes = [c.b.shape(i) for i in ins]
    axis = int(layer.config.get("axis", -1)) % len(shapes[0])
    shape = list(shapes[0])
    shape[axis] = sum(s[axis] for s in shapes)
    y = c.b.activation(layer.name, tuple(shape))
    c.b.op("CONCATENATION", tuple(ins), (y,), axis=axis, activation="NONE")
    return y


def _rescaling(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    scale = np.asarray(layer.config.get("scale", 1.0), np.float32).reshape(-1)
    offset = np.asarray(layer.config.get("offset", 0.0), np.float32).reshape(-1)
    y = c.b.unary("MUL", ins[0], f"{layer.name}/scale", extra_inputs=(c.b.const(f"{layer.name}/k", scale),),
                  activation="NONE")
    return c.b.unary("ADD", y, layer.name, extra_inputs=(c.b.const(f"{layer.name}/offset", offset),),
                     activation="NONE")


def _identity(c: _Converter, layer: _Layer, ins: list[int]) -> int:
    return ins[0]


_HANDLERS: dict[str, Callable[[_Converter, _Layer, list[int]], int]] = {
    "InputLayer": _identity,  # handled before dispatch
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "Dense": _dense,
    "BatchNormalization": _batch_norm,
    "ReLU": _relu,
    "Activation": _activation_layer,
    "Softmax": _softmax,
    "MaxPooling2D": _pool("MAX_POOL_2D"),
    "AveragePooling2D": _pool("AVERAGE_POOL_2D"),
    "GlobalAveragePooling2D": _global_pool("MEAN"),
    "GlobalMaxPooling2D": _global_pool("MAX_POOL_2D"),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "ZeroPadding2D": _zero_padding,
    "Add": _merge("ADD"),
    "Multiply": _merge("MUL"),
    "Concatenate": _concatenate,
    "Rescaling": _rescaling,
    **dict.fromkeys(_IDENTITY_LAYERS, _identity),
}

SUPPORTED_LAYERS: tuple[str, ...] = tuple(sorted(_HANDLERS))


def graph_from_keras(model: Any, name: str) -> Graph:
    return _Converter(model, name).run()


def load_keras(path: Path) -> Graph:
    keras = import_keras()
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many types for unreadable files
        raise ModelError(f"cannot load {path} as a Keras model: {type(exc).__name__}: {exc}") from None
    return graph_from_keras(model, Path(path).stem)
