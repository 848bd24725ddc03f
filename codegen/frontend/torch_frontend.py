"""PyTorch frontend: a torch.export ExportedProgram (.pt2), a TorchScript file, or an nn.Module made by a
Python factory ("module:function" or "path/to/file.py:function") -> the float IR.

Every model is brought to an ExportedProgram first (TorchScript through torch's TS2EP converter, a module
through torch.export.export in eval mode), whose graph holds high-level ATen ops (conv2d, batch_norm, linear,
relu, ...). Each op maps onto TFLite ops in NHWC:

- PyTorch computes in NCHW; the firmware takes NHWC. Every 4-D tensor becomes NHWC: the input (1, C, H, W)
  becomes (1, H, W, C), conv weights O x I x kh x kw become O x kh x kw x I (depthwise: 1 x kh x kw x C*m),
  dims of cat / mean / softmax / permute are remapped. A 4-D output is returned NHWC. A flatten of C x H x W
  before a Linear is kept in NHWC order and the Linear's weight columns are permuted to match (no
  transpose at run time); elsewhere a TRANSPOSE restores PyTorch's order.
- Symmetric PyTorch padding becomes TFLite SAME or VALID when it computes the same windows, otherwise an
  explicit PAD before a VALID convolution (the compiler fuses it back).
- BatchNorm (eval) becomes a per-channel MUL and ADD, folded into the preceding convolution or Linear;
  ReLU / ReLU6 (hardtanh 0..6) are fused into their producer (codegen/frontend/float_passes.py).
- Dropout and other identities vanish. Anything else is refused, naming the layer and its place.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
import operator
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codegen.errors import CodegenError, ModelError, ToolchainError
from codegen.frontend.float_graph import FloatGraphBuilder, is_same_padding
from codegen.frontend.float_passes import simplify
from codegen.ir import Graph

INSTALL_HINT = "install the frontends extra: .venv/bin/pip install -e '.[frontends]' (PyTorch 2.13 CPU)"
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
_NCHW_OF_NHWC = (0, 2, 3, 1)  # NHWC axis i holds NCHW axis _NCHW_OF_NHWC[i]
_NHWC_OF_NCHW = (0, 3, 1, 2)  # NCHW axis j lives at NHWC axis _NHWC_OF_NCHW[j]


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ToolchainError(f"PyTorch is not installed: {INSTALL_HINT}") from None
    return torch


class _Unsupported(Exception):
    """This op (or this configuration of it) has no TFLite int8 counterpart here."""


@dataclass
class _Act:
    """A run-time tensor of the network. 4-D tensors are stored NHWC (nhwc=True); others as PyTorch has them.
    flat_chw: the value is a flatten of the 4-D `source`, stored in NHWC (H, W, C) order, standing for
    PyTorch's (C, H, W) order; a Linear reads it directly with permuted weights."""

    index: int
    nhwc: bool
    flat_chw: tuple[int, int, int] | None = None
    source: int | None = None


def _op_name(node: Any) -> str:
    if node.target is operator.getitem:
        return "getitem"
    text = str(node.target)  # "aten.conv2d.default"
    parts = text.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "aten" else text


def where(node: Any, position: int | None = None) -> str:
    """How an error names a node: its place among the network's ops, its module path and class."""
    stack = node.meta.get("nn_module_stack") or {}
    text = f"node {position} " if position is not None else ""
    if stack:
        path, cls = list(stack.values())[-1]
        cls_name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        text += f"'{path}' ({cls_name.split('.')[-1]}, {node.target})"
    else:
        text += f"'{node.name}' ({node.target})"
    return text


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1])) if value else (0, 0)
    return int(value), int(value)


def _numpy(t: Any) -> np.ndarray:
    array = t.detach().cpu().numpy()
    return array.astype(np.float32) if array.dtype.kind == "f" else array


class _Converter:
    def __init__(self, ep: Any, name: str):
        self.ep = ep
        self.b = FloatGraphBuilder(name)
        self.env: dict[str, Any] = {}
        self.names: set[str] = set()
        self.flat_cache: dict[int, int] = {}
        self.inputs: list[int] = []

    # ---- values -----------------------------------------------------------------------------------------

    def name_of(self, node: Any) -> str:
        """The layer's module path and class ("features.0/Conv2d"), else the node's name."""
        stack = node.meta.get("nn_module_stack") or {}
        name = node.name
        if stack:
            path, cls = list(stack.values())[-1]
            cls_name = (cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))).split(".")[-1]
            name = f"{path}/{cls_name}" if path else node.name
        if name in self.names:
            name = f"{name}:{node.name}"
        self.names.add(name)
        return name

    def value(self, arg: Any) -> Any:
        if hasattr(arg, "name") and hasattr(arg, "op"):  # an fx Node
            return self.env[arg.name]
        if isinstance(arg, list | tuple):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def act(self, arg: Any, allow_flat: bool = False) -> _Act:
        v = self.value(arg)
        if not isinstance(v, _Act):
            raise _Unsupported("a constant where a computed tensor is expected")
        if v.flat_chw is not None and not allow_flat:
            return self.materialize(v)
        return v

    def materialize(self, v: _Act) -> _Act:
        """PyTorch's (C, H, W) flatten order, through a TRANSPOSE of the NHWC source."""
        assert v.source is not None
        if v.index not in self.flat_cache:
            src = self.b.shape(v.source)
            nchw = self.b.transpose(v.source, _NHWC_OF_NCHW, f"{self.b.tensors[v.index].name}/to_nchw")
            self.flat_cache[v.index] = self.b.reshape(nchw, self.b.shape(v.index), f"{self.b.tensors[v.index].name}"
                                                      f"/nchw_flat{src[1:]}")
        return _Act(self.flat_cache[v.index], False)

    def const(self, arg: Any) -> np.ndarray:
        v = self.value(arg)
        if isinstance(v, _Act):
            raise _Unsupported("a run-time tensor where a constant (weights) is expected")
        return np.asarray(v, dtype=np.float32)

    def torch_shape(self, node: Any) -> tuple[int, ...]:
        val = node.meta.get("val")
        if val is None or not hasattr(val, "shape"):
            raise _Unsupported("an output without a known static shape")
        try:
            return tuple(int(d) for d in val.shape)
        except TypeError:
            raise _Unsupported(f"a dynamic output shape {tuple(val.shape)}") from None

    def new(self, node: Any, shape_nchw: tuple[int, ...]) -> tuple[int, bool]:
        """A fresh float tensor for `node` in the IR layout of its PyTorch shape."""
        nhwc = len(shape_nchw) == 4
        shape = tuple(shape_nchw[a] for a in _NCHW_OF_NHWC) if nhwc else shape_nchw
        return self.b.activation(self.name_of(node), shape), nhwc

    def ir_axis(self, v: _Act, dim: int) -> int:
        rank = len(self.b.shape(v.index))
        dim = dim % rank
        return _NHWC_OF_NCHW[dim] if v.nhwc else dim

    def ir_const(self, v: _Act, c: np.ndarray) -> np.ndarray:
        """A constant operand broadcast against `v`, brought into v's layout."""
        if not v.nhwc or c.ndim == 0:
            return c.reshape(1) if c.ndim == 0 else c
        c4 = c.reshape((1,) * (4 - c.ndim) + c.shape)
        return np.ascontiguousarray(c4.transpose(_NCHW_OF_NHWC))

    def check_shape(self, node: Any, index: int) -> None:
        want = self.torch_shape(node)
        if len(want) == 4:
            want = tuple(want[a] for a in _NCHW_OF_NHWC)
        if self.b.shape(index) != want:
            raise _Unsupported(f"an output shape {self.b.shape(index)} that differs from PyTorch's {want} (NHWC)")

    # ---- conversion ---------------------------------------------------------------------------------------

    def run(self) -> Graph:
        from torch.export.graph_signature import InputKind

        ep = self.ep
        specs = {spec.arg.name: spec for spec in ep.graph_signature.input_specs}
        nodes = list(ep.graph.nodes)
        calls = [n for n in nodes if n.op == "call_function"]
        problems = [f"{where(n, k)}: unsupported operation" for k, n in enumerate(calls) if _op_name(n) not in
                    _HANDLERS]
        if problems:
            noun = "layer" if len(problems) == 1 else "layers"
            raise ModelError(f"{self.b.name}: cannot convert {len(problems)} {noun}:", problems)
        position = {n.name: k for k, n in enumerate(calls)}
        outputs: list[int] = []
        for node in nodes:
            try:
                if node.op == "placeholder":
                    spec = specs.get(node.name)
                    if spec is not None and spec.kind == InputKind.USER_INPUT:
                        self.env[node.name] = self.user_input(node)
                    else:
                        target = spec.target if spec is not None else node.target
                        tensor = ep.state_dict.get(target)
                        if tensor is None:
                            tensor = ep.constants.get(target)
                        if tensor is None:
                            raise _Unsupported(f"input {node.name} that is neither a user input nor a weight")
                        self.env[node.name] = _numpy(tensor)
                elif node.op == "get_attr":
                    self.env[node.name] = _numpy(getattr(ep.graph_module, node.target))
                elif node.op == "call_function":
                    self.env[node.name] = _HANDLERS[_op_name(node)](self, node)
                elif node.op == "output":
                    for arg in node.args[0]:
                        v = self.act(arg)
                        outputs.append(v.index)
            except _Unsupported as exc:
                place = where(node, position.get(node.name))
                raise ModelError(f"{self.b.name}: cannot convert {place}: unsupported {exc}") from None
        if not outputs:
            raise ModelError(f"{self.b.name}: the network returns no tensor")
        return simplify(self.b.build(self.inputs, outputs))

    def user_input(self, node: Any) -> _Act:
        shape = self.torch_shape(node)
        if not shape or shape[0] != 1:
            raise _Unsupported(f"input shape {shape}: export the network with a batch-1 example input")
        index, nhwc = self.new(node, shape)
        self.b.tensors[index].name = node.name
        self.inputs.append(index)
        return _Act(index, nhwc)


# ---- op handlers: each returns the node's value ---------------------------------------------------------------


def _arg(node: Any, i: int, name: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _conv(c: _Converter, node: Any) -> _Act:
    op = _op_name(node)
    x = c.act(node.args[0])
    if not x.nhwc:
        raise _Unsupported("convolution of a non-4-D tensor (only Conv2d)")
    w = c.const(node.args[1])
    bias_arg = _arg(node, 2, "bias")
    bias = c.const(bias_arg) if bias_arg is not None else None
    stride = _pair(_arg(node, 3, "stride", 1))
    padding = _arg(node, 4, "padding", 0)
    dilation = _pair(_arg(node, 5, "dilation", 1))
    if op == "convolution":
        if _arg(node, 6, "transposed", False):
            raise _Unsupported("transposed convolution")
        groups = int(_arg(node, 8, "groups", 1))
    else:
        groups = int(_arg(node, 6, "groups", 1))
    _, h, wd, cin = c.b.shape(x.index)
    cout, per_group, kh, kw = w.shape
    if groups == 1:
        weights, depthwise = np.ascontiguousarray(w.transpose(0, 2, 3, 1)), False
    elif groups == cin and per_group == 1 and cout % cin == 0:
        weights, depthwise = np.ascontiguousarray(w.transpose(1, 2, 3, 0)), True
    else:
        raise _Unsupported(f"grouped convolution ({groups} groups over {cin} channels; only 1 or depthwise)")
    pads = _torch_pads(padding, (kh, kw), dilation)
    mode = _padding_mode((h, wd), (kh, kw), stride, dilation, pads)
    src = x.index
    name = c.name_of(node)
    if mode is None:
        src = c.b.pad(x.index, [(0, 0), pads[0], pads[1], (0, 0)], f"{name}/pad")
        mode = "VALID"
    y = c.b.conv2d(src, weights, bias, name, stride, dilation, mode, depthwise=depthwise)
    c.check_shape(node, y)
    return _Act(y, True)


def _torch_pads(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        # PyTorch's 'same' (stride 1 only): total d*(k-1), the extra one after, as TFLite.
        out = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    ph, pw = _pair(padding)
    return (ph, ph), (pw, pw)


def _padding_mode(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int], pads: tuple[tuple[int, int], ...]) -> str | None:
    dims = list(zip(size, kernel, stride, dilation, pads, strict=True))

    def valid(s: int, k: int, st: int, d: int, p: tuple[int, int]) -> bool:
        eff = (k - 1) * d + 1
        return p[0] == 0 and (s + p[1] - eff) // st == (s - eff) // st

    if all(valid(*dim) for dim in dims):
        return "VALID"
    if all(is_same_padding(s, k, st, d, p[0], p[1]) for s, k, st, d, p in dims):
        return "SAME"
    return None


def _linear(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0], allow_flat=True)
    w = c.const(node.args[1])
    bias_arg = _arg(node, 2, "bias")
    bias = c.const(bias_arg) if bias_arg is not None else None
    if x.flat_chw is not None:
        ch, hh, ww = x.flat_chw
        w = np.ascontiguousarray(w.reshape(w.shape[0], ch, hh, ww).transpose(0, 2, 3, 1).reshape(w.shape[0], -1))
    elif x.nhwc or len(c.b.shape(x.index)) != 2:
        raise _Unsupported(f"Linear on a rank-{len(c.b.shape(x.index))} input (only (N, features))")
    y = c.b.fully_connected(x.index, w, bias, c.name_of(node))
    c.check_shape(node, y)
    return _Act(y, False)


def _batch_norm(c: _Converter, node: Any) -> Any:
    op = _op_name(node)
    x = c.act(node.args[0])
    if op == "batch_norm":
        weight, bias, mean, var = (_arg(node, i, n) for i, n in
                                   ((1, "weight"), (2, "bias"), (3, "running_mean"), (4, "running_var")))
        if _arg(node, 5, "training", False):
            raise _Unsupported("BatchNorm in training mode: call model.eval() before exporting")
        eps = float(_arg(node, 7, "eps", 1e-5))
    else:  # _native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum, eps)
        weight, bias, mean, var = node.args[1:5]
        eps = float(_arg(node, 6, "eps", 1e-5))
    shape = c.b.shape(x.index)
    if not x.nhwc and len(shape) != 2:
        raise _Unsupported(f"BatchNorm over a rank-{len(shape)} tensor (only 2-D and 4-D)")
    channels = shape[-1]
    m = c.const(mean).astype(np.float64) if mean is not None else np.zeros(channels)
    v = c.const(var).astype(np.float64) if var is not None else np.ones(channels)
    g = c.const(weight).astype(np.float64) if weight is not None else np.ones(channels)
    beta = c.const(bias).astype(np.float64) if bias is not None else np.zeros(channels)
    scale = g / np.sqrt(v + eps)
    shift = beta - m * scale
    name = c.name_of(node)
    scaled = c.b.unary("MUL", x.index, f"{name}/scale", extra_inputs=(c.b.const(f"{name}/gamma", scale),),
                       activation="NONE")
    y = c.b.unary("ADD", scaled, name, extra_inputs=(c.b.const(f"{name}/beta", shift),), activation="NONE")
    out = _Act(y, x.nhwc)
    return out if op == "batch_norm" else (out, None, None)


def _activation(kind: str) -> Callable[[_Converter, Any], _Act]:
    def handle(c: _Converter, node: Any) -> _Act:
        x = c.act(node.args[0])
        return _Act(c.b.unary(kind, x.index, c.name_of(node)), x.nhwc)

    return handle


def _clamp_kind(lo: Any, hi: Any) -> str:
    bounds = (None if lo is None else float(lo), None if hi is None else float(hi))
    kinds = {(0.0, None): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}
    if bounds not in kinds:
        raise _Unsupported(f"clamp to {bounds} (only ReLU, ReLU6 and [-1, 1])")
    return kinds[bounds]


def _hardtanh(c: _Converter, node: Any) -> _Act:
    kind = _clamp_kind(_arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))
    return _activation(kind)(c, node)


def _clamp(c: _Converter, node: Any) -> _Act:
    kind = _clamp_kind(_arg(node, 1, "min"), _arg(node, 2, "max"))
    return _activation(kind)(c, node)


def _softmax_like(kind: str) -> Callable[[_Converter, Any], _Act]:
    def handle(c: _Converter, node: Any) -> _Act:
        x = c.act(node.args[0])
        rank = len(c.b.shape(x.index))
        if c.ir_axis(x, int(node.args[1])) != rank - 1:
            raise _Unsupported(f"{kind.lower()} over dim {node.args[1]} (only the channel / last dim)")
        options = {"beta": 1.0} if kind == "SOFTMAX" else {}
        return _Act(c.b.unary(kind, x.index, c.name_of(node), **options), x.nhwc)

    return handle


def _binary(kind: str) -> Callable[[_Converter, Any], _Act]:
    """add / sub / mul / div of two tensors, or of a tensor and a constant (sub and div by constants only)."""

    def handle(c: _Converter, node: Any) -> _Act:
        first, second = node.args[0], node.args[1]
        alpha = float(node.kwargs.get("alpha", 1.0))
        if not isinstance(c.value(first), _Act):
            if kind in ("sub", "div") or alpha != 1.0 or not isinstance(c.value(second), _Act):
                raise _Unsupported(f"{kind} with a constant first operand")
            first, second = second, first
        a = c.act(first)
        other = c.value(second)
        name = c.name_of(node)
        if isinstance(other, _Act):
            if kind in ("sub", "div") or alpha != 1.0:
                raise _Unsupported(f"{kind} of two computed tensors" + (f" with alpha {alpha:g}" if alpha != 1 else ""))
            other = c.act(second)
            if other.nhwc != a.nhwc:
                raise _Unsupported("a binary op between a 4-D and a lower-rank tensor")
            op_type = "ADD" if kind == "add" else "MUL"
            shape = np.broadcast_shapes(c.b.shape(a.index), c.b.shape(other.index))
            y = c.b.activation(name, shape)
            c.b.op(op_type, (a.index, other.index), (y,), activation="NONE")
        else:
            k = np.asarray(other, dtype=np.float64)
            if kind == "add":
                op_type, k = "ADD", k * alpha
            elif kind == "sub":
                op_type, k = "ADD", -k * alpha
            elif kind == "mul":
                op_type = "MUL"
            else:
                op_type, k = "MUL", 1.0 / k
            k = c.ir_const(a, k.astype(np.float32))
            kt = c.b.const(f"{name}/constant", k)
            shape = np.broadcast_shapes(c.b.shape(a.index), k.shape)
            y = c.b.activation(name, shape)
            c.b.op(op_type, (a.index, kt), (y,), activation="NONE")
        c.check_shape(node, y)
        return _Act(y, a.nhwc)

    return handle


def _max_pool(c: _Converter, node: Any) -> Any:
    x = c.act(node.args[0])
    k = _pair(node.args[1])
    s = _pair(_arg(node, 2, "stride") or k)
    p = _pair(_arg(node, 3, "padding", 0))
    if _pair(_arg(node, 4, "dilation", 1)) != (1, 1):
        raise _Unsupported("dilated max pooling")
    _, h, w, _ = c.b.shape(x.index)
    mode = _padding_mode((h, w), k, s, (1, 1), ((p[0], p[0]), (p[1], p[1])))
    if mode is None:
        raise _Unsupported(f"max pooling with padding {p} (TFLite's SAME or VALID windows only)")
    y = c.b.pool("MAX_POOL_2D", x.index, c.name_of(node), k, s, mode)
    if _op_name(node) == "max_pool2d_with_indices":
        return _Act(y, True), None
    c.check_shape(node, y)
    return _Act(y, True)


def _avg_pool(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    k = _pair(node.args[1])
    s = _pair(_arg(node, 2, "stride") or k)
    p = _pair(_arg(node, 3, "padding", 0))
    include_pad = bool(_arg(node, 5, "count_include_pad", True))
    if _arg(node, 6, "divisor_override") is not None:
        raise _Unsupported("average pooling with divisor_override")
    _, h, w, _ = c.b.shape(x.index)
    mode = _padding_mode((h, w), k, s, (1, 1), ((p[0], p[0]), (p[1], p[1])))
    if mode is None or (mode == "SAME" and include_pad and p != (0, 0)):
        raise _Unsupported(f"average pooling with padding {p}" + (" counting the padding (count_include_pad)"
                                                                   if mode else ""))
    y = c.b.pool("AVERAGE_POOL_2D", x.index, c.name_of(node), k, s, mode)
    c.check_shape(node, y)
    return _Act(y, True)


def _adaptive_avg_pool(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    _, h, w, _ = c.b.shape(x.index)
    oh, ow = _pair(node.args[1])
    if h % oh or w % ow:
        raise _Unsupported(f"adaptive average pooling of {h}x{w} to {oh}x{ow} (sizes must divide)")
    k = (h // oh, w // ow)
    # A global pool is one window: stride 1, as the TFLite converter writes it.
    y = c.b.pool("AVERAGE_POOL_2D", x.index, c.name_of(node), k, (1, 1) if (oh, ow) == (1, 1) else k, "VALID")
    c.check_shape(node, y)
    return _Act(y, True)


def _mean(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    dims = _arg(node, 1, "dim")
    keep = bool(_arg(node, 2, "keepdim", False))
    rank = len(c.b.shape(x.index))
    dims = list(range(rank)) if dims is None else [int(d) % rank for d in (dims if isinstance(dims, list | tuple)
                                                                            else [dims])]
    axes = sorted(c.ir_axis(x, d) for d in dims)
    if x.nhwc and not keep:
        kept_torch = [d for d in range(4) if d not in dims]
        kept_ir = [_NCHW_OF_NHWC[i] for i in range(4) if _NCHW_OF_NHWC[i] not in dims]
        if kept_torch != kept_ir:
            raise _Unsupported(f"mean over dims {dims} that leaves channels and pixels in PyTorch's order")
    shape = tuple(1 if i in axes else d for i, d in enumerate(c.b.shape(x.index)) if keep or i not in axes)
    ax = c.b.const(f"{c.name_of(node)}/axes", np.asarray(axes, np.int32), "int32")
    y = c.b.unary("MEAN", x.index, c.name_of(node), shape, (ax,), keep_dims=keep)
    c.check_shape(node, y)
    return _Act(y, x.nhwc and keep)


def _reshape(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    out = c.torch_shape(node)
    name = c.name_of(node)
    src = c.b.shape(x.index)
    if not x.nhwc:
        if len(out) != 4:
            return _Act(c.b.reshape(x.index, out, name), False)
        nchw = c.b.reshape(x.index, out, f"{name}/nchw")
        return _Act(c.b.transpose(nchw, _NCHW_OF_NHWC, name), True)
    n, h, w, ch = src
    same_order = ch == 1 or h * w == 1
    if len(out) == 4:
        if same_order and (out[1] == 1 or out[2] * out[3] == 1):
            return _Act(c.b.reshape(x.index, tuple(out[a] for a in _NCHW_OF_NHWC), name), True)
        nchw = c.b.transpose(x.index, _NHWC_OF_NCHW, f"{name}/to_nchw")
        nchw = c.b.reshape(nchw, out, f"{name}/nchw")
        return _Act(c.b.transpose(nchw, _NCHW_OF_NHWC, name), True)
    if same_order:
        return _Act(c.b.reshape(x.index, out, name), False)
    if len(out) == 2 and out == (n, ch * h * w):
        return _Act(c.b.reshape(x.index, out, name), False, (ch, h, w), x.index)
    nchw = c.b.transpose(x.index, _NHWC_OF_NCHW, f"{name}/to_nchw")
    return _Act(c.b.reshape(nchw, out, name), False)


def _cat(c: _Converter, node: Any) -> _Act:
    parts = [c.act(a) for a in node.args[0]]
    dim = int(_arg(node, 1, "dim", 0))
    if len({p.nhwc for p in parts}) != 1:
        raise _Unsupported("cat of 4-D and lower-rank tensors")
    axis = c.ir_axis(parts[0], dim)
    shapes = [c.b.shape(p.index) for p in parts]
    shape = list(shapes[0])
    shape[axis] = sum(s[axis] for s in shapes)
    y = c.b.activation(c.name_of(node), tuple(shape))
    c.b.op("CONCATENATION", tuple(p.index for p in parts), (y,), axis=axis, activation="NONE")
    c.check_shape(node, y)
    return _Act(y, parts[0].nhwc)


def _pad(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    pad = [int(p) for p in node.args[1]]
    if _op_name(node) == "pad" and _arg(node, 2, "mode", "constant") != "constant":
        raise _Unsupported(f"{_arg(node, 2, 'mode')} padding (only constant zeros)")
    value = _arg(node, 3 if _op_name(node) == "pad" else 2, "value", 0.0)
    if value not in (None, 0, 0.0):
        raise _Unsupported(f"padding with {value} (only zeros)")
    rank = len(c.b.shape(x.index))
    torch_pads = [(0, 0)] * rank
    for k in range(len(pad) // 2):
        torch_pads[rank - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if any(p < 0 for pair in torch_pads for p in pair) or torch_pads[0] != (0, 0):
        raise _Unsupported("negative padding, or padding of the batch")
    pads = [torch_pads[_NCHW_OF_NHWC[i]] for i in range(4)] if x.nhwc else torch_pads
    y = c.b.pad(x.index, pads, c.name_of(node))
    c.check_shape(node, y)
    return _Act(y, x.nhwc)


def _permute(c: _Converter, node: Any) -> _Act:
    x = c.act(node.args[0])
    rank = len(c.b.shape(x.index))
    if _op_name(node) == "permute":
        perm = [int(d) % rank for d in node.args[1]]
    else:
        d0, d1 = int(node.args[1]) % rank, int(node.args[2]) % rank
        perm = list(range(rank))
        perm[d0], perm[d1] = perm[d1], perm[d0]
    if perm[0] != 0:
        raise _Unsupported("a permutation that moves the batch dim")
    if x.nhwc:
        perm = [_NHWC_OF_NCHW[perm[_NCHW_OF_NHWC[i]]] for i in range(4)]
    y = c.b.transpose(x.index, tuple(perm), c.name_of(node))
    c.check_shape(node, y)
    return _Act(y, x.nhwc)


def _identity(c: _Converter, node: Any) -> Any:
    return c.value(node.args[0])


def _getitem(c: _Converter, node: Any) -> Any:
    value = c.value(node.args[0])
    item = value[int(node.args[1])]
    if item is None:
        raise _Unsupported("use of a BatchNorm statistic or pooling index output")
    return item


_HANDLERS: dict[str, Callable[[_Converter, Any], Any]] = {
    "conv2d": _conv,
    "convolution": _conv,
    "linear": _linear,
    "batch_norm": _batch_norm,
    "_native_batch_norm_legit_no_training": _batch_norm,
    "relu": _activation("RELU"),
    "relu_": _activation("RELU"),
    "relu6": _activation("RELU6"),
    "hardtanh": _hardtanh,
    "hardtanh_": _hardtanh,
    "clamp": _clamp,
    "sigmoid": _activation("LOGISTIC"),
    "softmax": _softmax_like("SOFTMAX"),
    "_softmax": _softmax_like("SOFTMAX"),
    "log_softmax": _softmax_like("LOG_SOFTMAX"),
    "_log_softmax": _softmax_like("LOG_SOFTMAX"),
    "add": _binary("add"),
    "add_": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("div"),
    "max_pool2d": _max_pool,
    "max_pool2d_with_indices": _max_pool,
    "avg_pool2d": _avg_pool,
    "adaptive_avg_pool2d": _adaptive_avg_pool,
    "mean": _mean,
    "flatten": _reshape,
    "view": _reshape,
    "reshape": _reshape,
    "_unsafe_view": _reshape,
    "squeeze": _reshape,
    "unsqueeze": _reshape,
    "cat": _cat,
    "concat": _cat,
    "constant_pad_nd": _pad,
    "pad": _pad,
    "permute": _permute,
    "transpose": _permute,
    "dropout": _identity,
    "dropout_": _identity,
    "feature_dropout": _identity,
    "alpha_dropout": _identity,
    "clone": _identity,
    "contiguous": _identity,
    "detach": _identity,
    "alias": _identity,
    "lift_fresh_copy": _identity,
    "getitem": _getitem,
}

SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(_HANDLERS))


# ---- loading ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export and the TorchScript converter log warnings that mean nothing to a codegen user."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def example_input(sample_shape: tuple[int, ...]) -> Any:
    """A batch-1 PyTorch example for a sample in the firmware layout: (H, W, C) -> (1, C, H, W)."""
    torch = import_torch()
    shape = tuple(int(d) for d in sample_shape)
    if len(shape) == 3:
        shape = (shape[2], shape[0], shape[1])
    return torch.zeros((1, *shape), dtype=torch.float32)


def graph_from_exported(ep: Any, name: str) -> Graph:
    return _Converter(ep, name).run()


def graph_from_module(module: Any, sample_shape: tuple[int, ...], name: str) -> Graph:
    """An nn.Module in eval mode, exported with a batch-1 example of `sample_shape` (firmware layout)."""
    torch = import_torch()
    module.eval()
    try:
        with _quiet(), torch.no_grad():
            ep = torch.export.export(module, (example_input(sample_shape),))
    except Exception as exc:  # torch.export raises many types for unexportable code
        raise ModelError(f"{name}: torch.export could not trace the module: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return graph_from_exported(ep, name)


def _batch_one(ep: Any, name: str) -> Any:
    """The same program with a batch of 1, re-exported when it was exported for another batch size."""
    from torch.export.graph_signature import InputKind

    torch = import_torch()
    users = [s for s in ep.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    nodes = {n.name: n for n in ep.graph.nodes}
    shapes = [tuple(nodes[s.arg.name].meta["val"].shape) for s in users]
    if all(s and s[0] == 1 for s in shapes):
        return ep
    try:
        with _quiet():
            return torch.export.export(ep.module(), tuple(torch.zeros((1, *s[1:])) for s in shapes))
    except Exception:
        raise ModelError(f"{name}: exported with input shapes {shapes}; export it with a batch-1 example input") \
            from None


def load_exported(path: Path) -> Graph:
    torch = import_torch()
    try:
        with _quiet():
            ep = torch.export.load(str(path))
    except Exception as exc:
        raise ModelError(f"cannot load {path} as a torch.export program (.pt2): {type(exc).__name__}: {exc}") \
            from None
    return graph_from_exported(_batch_one(ep, path.stem), path.stem)


def load_torchscript(path: Path, sample_shape: tuple[int, ...] | None) -> Graph:
    torch = import_torch()
    try:
        with _quiet():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelError(f"cannot load {path} as TorchScript: {type(exc).__name__}: {exc}") from None
    if sample_shape is None:
        raise CodegenError(f"{path}: a TorchScript file does not record its input shape; pass --calib data")
    from torch._export.converter import TS2EPConverter

    module.eval()
    try:
        with _quiet():
            ep = TS2EPConverter(module, (example_input(sample_shape),)).convert()
    except Exception as exc:
        raise ModelError(f"{path.stem}: converting TorchScript to torch.export failed: {type(exc).__name__}: "
                         f"{exc}") from None
    return graph_from_exported(ep, path.stem)


def load_factory(spec: str, sample_shape: tuple[int, ...] | None) -> Graph:
    """"module:function" or "file.py:function": the function returns an nn.Module (trained or not)."""
    torch = import_torch()
    target, _, func_name = spec.rpartition(":")
    if not target or not func_name:
        raise CodegenError(f"--model {spec}: expected a file, or module:function")
    if sample_shape is None:
        raise CodegenError(f"--model {spec}: a Python module does not say its input shape; pass --calib data")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise CodegenError(f"--model {spec}: {path} does not exist")
        loader = importlib.util.spec_from_file_location(path.stem, path)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        # Registered like an import, so that dataclasses and pickling inside the file can find it.
        sys.modules.setdefault(path.stem, module)
        loader.loader.exec_module(module)
    else:
        added = "" not in sys.path and str(Path.cwd()) not in sys.path
        if added:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise CodegenError(f"--model {spec}: cannot import {target}: {exc}") from None
        finally:
            if added:
                sys.path.remove(str(Path.cwd()))
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise CodegenError(f"--model {spec}: {target} has no function {func_name}")
    net = factory()
    if not isinstance(net, torch.nn.Module):
        raise CodegenError(f"--model {spec}: {func_name}() returned {type(net).__name__}, not a torch.nn.Module")
    return graph_from_module(net, sample_shape, func_name)


def load_torch_model(spec: str | Path, sample_shape: tuple[int, ...] | None) -> Graph:
    """Dispatch on what `spec` is: .pt2, TorchScript, or module:function."""
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() == ".pt2":
            return load_exported(path)
        return load_torchscript(path, sample_shape)
    return load_factory(str(spec), sample_shape)
