"""Run a float graph (codegen/frontend/float_graph.py) in NumPy, a batch of samples at a time.

This is the float reference of the quantizer: calibration reads its intermediate tensors, and the
quantization report compares the int8 model against it. Semantics are TFLite's float kernels: NHWC, SAME
padding with the extra row/column after, average pooling that does not count padded cells, softmax over
the last axis. Arithmetic is float32 like TFLite's; sums of products are done by BLAS, so results agree with
TFLite to float32 rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from codegen.errors import ModelError
from codegen.frontend.float_graph import same_padding
from codegen.ir import Graph, Operator

Values = dict[int, np.ndarray]


def _activation(x: np.ndarray, name: str) -> np.ndarray:
    if name == "NONE":
        return x
    if name == "RELU":
        return np.maximum(x, 0.0)
    if name == "RELU6":
        return np.clip(x, 0.0, 6.0)
    if name == "RELU_N1_TO_1":
        return np.clip(x, -1.0, 1.0)
    raise ModelError(f"fused activation {name} is not supported")


def _pads(op: Operator, h: int, w: int, kh: int, kw: int) -> tuple[tuple[int, int], tuple[int, int]]:
    o = op.options
    if o["padding"] == "VALID":
        return (0, 0), (0, 0)
    return (same_padding(h, kh, o["stride_h"], o.get("dilation_h", 1)),
            same_padding(w, kw, o["stride_w"], o.get("dilation_w", 1)))


def _windows(x: np.ndarray, op: Operator, kh: int, kw: int, fill: float = 0.0) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) views of the padded input under `op`'s stride and dilation."""
    o = op.options
    dh, dw = o.get("dilation_h", 1), o.get("dilation_w", 1)
    ph, pw = _pads(op, x.shape[1], x.shape[2], kh, kw)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=fill) if any(ph + pw) else x
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    win = sliding_window_view(xp, (eh, ew), axis=(1, 2))
    return win[:, :: o["stride_h"], :: o["stride_w"], :, ::dh, ::dw]


def _conv(op: Operator, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    win = _windows(x, op, w.shape[1], w.shape[2])
    y = np.einsum("nhwcij,oijc->nhwo", win, w, optimize=True)
    return y + b if b is not None else y


def _depthwise(op: Operator, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    mult = op.options.get("depth_multiplier", 1) or w.shape[3] // x.shape[3]
    xr = np.repeat(x, mult, axis=3) if mult != 1 else x  # output channel c*m + j reads input channel c
    win = _windows(xr, op, w.shape[1], w.shape[2])
    y = np.einsum("nhwcij,ijc->nhwc", win, w[0], optimize=True)
    return y + b if b is not None else y


def _pool(op: Operator, x: np.ndarray) -> np.ndarray:
    kh, kw = op.options["filter_h"], op.options["filter_w"]
    if op.op_type == "MAX_POOL_2D":
        return _windows(x, op, kh, kw, fill=-np.inf).max(axis=(4, 5))
    total = _windows(x, op, kh, kw).sum(axis=(4, 5))
    count = _windows(np.ones((1, *x.shape[1:3], 1), x.dtype), op, kh, kw).sum(axis=(4, 5))
    return total / count


def _softmax(x: np.ndarray, beta: float) -> np.ndarray:
    z = (x - x.max(axis=-1, keepdims=True)) * beta
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _batched(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    return (n, *shape[1:])


def _run_op(graph: Graph, op: Operator, values: Values, n: int) -> np.ndarray:
    def arg(k: int) -> np.ndarray | None:
        if k >= len(op.inputs) or op.inputs[k] < 0:
            return None
        t = graph.tensor(op.inputs[k])
        return np.asarray(t.data) if t.data is not None else values[op.inputs[k]]

    x = arg(0)
    assert x is not None
    t = op.op_type
    act = op.options.get("activation", "NONE")
    out_shape = _batched(graph.tensor(op.outputs[0]).shape, n)
    if t == "CONV_2D":
        y = _conv(op, x, arg(1), arg(2))
    elif t == "DEPTHWISE_CONV_2D":
        y = _depthwise(op, x, arg(1), arg(2))
    elif t == "FULLY_CONNECTED":
        w, b = arg(1), arg(2)
        y = x.reshape(-1, w.shape[1]) @ w.T
        y = y + b if b is not None else y
    elif t == "ADD":
        y = x + arg(1)
    elif t == "MUL":
        y = x * arg(1)
    elif t in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        y = _pool(op, x)
    elif t == "MEAN":
        axes = tuple(int(a) % x.ndim for a in np.asarray(arg(1)).reshape(-1))
        y = x.mean(axis=axes, keepdims=bool(op.options.get("keep_dims", False)))
    elif t == "PAD":
        y = np.pad(x, np.asarray(arg(1)).reshape(-1, 2))
    elif t == "RESHAPE":
        y = x.reshape(out_shape)
    elif t == "TRANSPOSE":
        y = np.transpose(x, tuple(int(p) for p in np.asarray(arg(1)).reshape(-1)))
    elif t == "CONCATENATION":
        parts = [arg(k) for k in range(len(op.inputs))]
        y = np.concatenate(parts, axis=op.options["axis"] % x.ndim)
    elif t == "SOFTMAX":
        y = _softmax(x, op.options.get("beta", 1.0))
    elif t == "LOG_SOFTMAX":
        z = x - x.max(axis=-1, keepdims=True)
        y = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    elif t == "LOGISTIC":
        y = 1.0 / (1.0 + np.exp(-x))
    elif t in ("RELU", "RELU6", "RELU_N1_TO_1"):
        y = _activation(x, t)
    else:
        raise ModelError(f"{graph.name}: {op.describe()}: no float implementation")
    y = _activation(y, act) if act != "NONE" else y
    return np.asarray(y, dtype=np.float32).reshape(out_shape)


def check_batchable(graph: Graph) -> None:
    """Every run-time tensor must have a leading batch of 1, which the executor widens to N samples."""
    for t in graph.tensors:
        if t.data is None and (not t.shape or t.shape[0] != 1):
            raise ModelError(f"{graph.name}: tensor {t.index} ({t.name}) has shape {t.shape}; the float executor "
                             "needs a leading batch dimension of 1 on every activation")
    for op in graph.operators:
        if op.op_type == "TRANSPOSE":
            perm = graph.tensor(op.inputs[1]).data
            if perm is None or int(np.asarray(perm).reshape(-1)[0]) != 0:
                raise ModelError(f"{graph.name}: {op.describe()} moves the batch axis")
        if op.op_type == "CONCATENATION" and op.options["axis"] % len(graph.tensor(op.outputs[0]).shape) == 0:
            raise ModelError(f"{graph.name}: {op.describe()} concatenates along the batch axis")


def run_float(graph: Graph, inputs: list[np.ndarray], keep: Callable[[int], bool] | None = None) -> Values:
    """Run the graph on a batch: inputs[i] has shape (N, *input_shape[1:]). Returns the graph outputs and
    every tensor for which keep(index) is true, each with a leading axis of N."""
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"{graph.name} takes {len(graph.inputs)} inputs, got {len(inputs)}")
    n = len(inputs[0])
    values: Values = {}
    for index, array in zip(graph.inputs, inputs, strict=True):
        values[index] = np.asarray(array, dtype=np.float32).reshape(_batched(graph.tensor(index).shape, n))
    remaining = _last_reads(graph)
    wanted = set(graph.outputs)
    for pos, op in enumerate(graph.operators):
        values[op.outputs[0]] = _run_op(graph, op, values, n)
        # Free what no later operator reads, unless the caller keeps it.
        for i in op.inputs:
            if i >= 0 and remaining.get(i) == pos and i not in wanted and not (keep and keep(i)):
                values.pop(i, None)
    return {i: v for i, v in values.items() if i in wanted or (keep and keep(i))}


def _last_reads(graph: Graph) -> dict[int, int]:
    last: dict[int, int] = {}
    for pos, op in enumerate(graph.operators):
        for i in op.inputs:
            if i >= 0:
                last[i] = pos
    return last


def batches(samples: list[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive slices of `size` samples of every input."""
    n = len(samples[0])
    for start in range(0, n, size):
        yield [s[start:start + size] for s in samples]
