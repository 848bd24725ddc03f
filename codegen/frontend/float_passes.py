"""Float-graph simplifications that every frontend runs before quantization, as the TFLite converter does:

- a per-channel MUL then ADD by constants after a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (BatchNorm,
  as the frontends emit it) is folded into the weights and the bias;
- a zero PAD in front of a convolution or pooling that computes exactly TFLite's SAME padding becomes SAME;
- a RELU / RELU6 / RELU_N1_TO_1 after CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED or ADD becomes its fused
  activation;
- unused tensors and operators are dropped and both are renumbered by position.

A fold happens only when the intermediate tensor has no other reader and is not a graph output, so the
graph computes the same function before and after (up to float rounding of the folded weights).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from codegen.frontend.float_graph import is_same_padding
from codegen.ir import Graph, Operator, Tensor

_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_FUSES_ACTIVATION = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD")
_PADDED = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D")


def simplify(graph: Graph) -> Graph:
    """All passes, to a fixed point, then dead-code removal and renumbering."""
    graph = Graph([replace(t) for t in graph.tensors], [replace(op, options=dict(op.options))
                                                        for op in graph.operators],
                  graph.inputs, graph.outputs, graph.name)
    changed = True
    while changed:
        # Folds first: an activation fused into an ADD would block folding that ADD into a bias.
        changed = _fold_affine(graph) or _fold_same_pad(graph) or _fuse_activations(graph)
    return prune(graph)


def _readers(graph: Graph) -> dict[int, list[Operator]]:
    readers: dict[int, list[Operator]] = {}
    for op in graph.operators:
        for i in op.inputs:
            if i >= 0:
                readers.setdefault(i, []).append(op)
    return readers


def _sole_reader(graph: Graph, readers: dict[int, list[Operator]], tensor: int) -> Operator | None:
    users = readers.get(tensor, [])
    if len(users) != 1 or tensor in graph.outputs:
        return None
    return users[0]


def _bypass(graph: Graph, op: Operator, keep: int) -> None:
    """Remove `op` (whose input `keep` it transforms into its output): readers of its output read `keep`."""
    out = op.outputs[0]
    graph.operators.remove(op)
    for other in graph.operators:
        if out in other.inputs:
            other.inputs = tuple(keep if i == out else i for i in other.inputs)
    graph.outputs = tuple(keep if i == out else i for i in graph.outputs)


def _channel_vector(graph: Graph, op: Operator, x: int, channels: int) -> np.ndarray | None:
    """The other operand of a binary `op` on x, as one value per channel, if it is a constant that only
    varies along the last axis (or is a scalar)."""
    others = [i for i in op.inputs if i != x]
    if len(op.inputs) != 2 or len(others) != 1:
        return None
    c = graph.tensor(others[0])
    if c.data is None or c.dtype != "float32" or op.options.get("activation", "NONE") != "NONE":
        return None
    data = np.asarray(c.data, dtype=np.float64)
    if data.size == 1:
        return np.full(channels, float(data.reshape(-1)[0]))
    if data.shape[-1] != channels or data.size != channels or len(data.shape) > len(graph.tensor(x).shape):
        return None
    return data.reshape(channels)


def _fold_affine(graph: Graph) -> bool:
    readers = _readers(graph)
    for op in graph.operators:
        if op.op_type not in _WEIGHTED or op.options.get("activation", "NONE") != "NONE":
            continue
        y = op.outputs[0]
        nxt = _sole_reader(graph, readers, y)
        if nxt is None or nxt.op_type not in ("MUL", "ADD"):
            continue
        channels = graph.tensor(y).shape[-1]
        # The folded tensor must keep y's shape (the constant must not broadcast y up).
        if graph.tensor(nxt.outputs[0]).shape != graph.tensor(y).shape:
            continue
        vector = _channel_vector(graph, nxt, y, channels)
        if vector is None:
            continue
        w = graph.tensor(op.inputs[1])
        if w.data is None or len(op.inputs) < 3 or op.inputs[2] < 0 or graph.tensor(op.inputs[2]).data is None:
            continue
        b = graph.tensor(op.inputs[2])
        weights = np.asarray(w.data, dtype=np.float64)
        bias = np.asarray(b.data, dtype=np.float64)
        if nxt.op_type == "MUL":
            axis = 3 if op.op_type == "DEPTHWISE_CONV_2D" else 0
            shape = [1] * weights.ndim
            shape[axis] = channels
            weights = weights * vector.reshape(shape)
            bias = bias * vector
        else:
            bias = bias + vector
        # Fresh constant tensors: the originals may be shared with other operators.
        op.inputs = (op.inputs[0], _new_const(graph, w, weights), _new_const(graph, b, bias))
        _bypass(graph, nxt, y)
        return True
    return False


def _new_const(graph: Graph, like: Tensor, data: np.ndarray) -> int:
    index = len(graph.tensors)
    array = np.ascontiguousarray(data.astype(np.float32))
    graph.tensors.append(Tensor(index, like.name, tuple(array.shape), "float32", None, array))
    return index


def _fold_same_pad(graph: Graph) -> bool:
    readers = _readers(graph)
    for pad in graph.operators:
        if pad.op_type != "PAD" or len(pad.inputs) != 2:
            continue
        nxt = _sole_reader(graph, readers, pad.outputs[0])
        if nxt is None or nxt.op_type not in _PADDED or nxt.options.get("padding") != "VALID":
            continue
        x = graph.tensor(pad.inputs[0])
        paddings = graph.tensor(pad.inputs[1]).data
        if paddings is None or len(x.shape) != 4:
            continue
        p = np.asarray(paddings).reshape(4, 2)
        if p[0].any() or p[3].any():
            continue
        if nxt.op_type in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            # Pools ignore SAME's padding where zero padding would count (average) or win (max).
            continue
        w = graph.tensor(nxt.inputs[1])
        kh, kw = (w.shape[1], w.shape[2])
        o = nxt.options
        same = (is_same_padding(x.shape[1], kh, o["stride_h"], o.get("dilation_h", 1), int(p[1, 0]), int(p[1, 1]))
                and is_same_padding(x.shape[2], kw, o["stride_w"], o.get("dilation_w", 1), int(p[2, 0]),
                                    int(p[2, 1])))
        if not same:
            continue
        nxt.options["padding"] = "SAME"
        nxt.inputs = (pad.inputs[0], *nxt.inputs[1:])
        graph.operators.remove(pad)
        return True
    return False


def _fuse_activations(graph: Graph) -> bool:
    readers = _readers(graph)
    for op in graph.operators:
        if op.op_type not in _FUSES_ACTIVATION or op.options.get("activation", "NONE") != "NONE":
            continue
        y = op.outputs[0]
        nxt = _sole_reader(graph, readers, y)
        if nxt is None or nxt.op_type not in ("RELU", "RELU6", "RELU_N1_TO_1"):
            continue
        op.options["activation"] = nxt.op_type
        _bypass(graph, nxt, y)
        return True
    return False


def prune(graph: Graph) -> Graph:
    """Drop operators whose outputs nobody needs and tensors nobody refers to; renumber both by position."""
    needed = set(graph.outputs)
    kept: list[Operator] = []
    for op in reversed(graph.operators):
        if any(o in needed for o in op.outputs):
            kept.append(op)
            needed.update(i for i in op.inputs if i >= 0)
    kept.reverse()
    used = sorted(needed | set(graph.inputs) | {o for op in kept for o in op.outputs})
    new_index = {old: new for new, old in enumerate(used)}
    tensors = [replace(graph.tensors[old], index=new) for new, old in enumerate(used)]
    operators = [
        Operator(pos, op.op_type, tuple(new_index[i] if i >= 0 else -1 for i in op.inputs),
                 tuple(new_index[o] for o in op.outputs), dict(op.options))
        for pos, op in enumerate(kept)
    ]
    return Graph(tensors, operators, tuple(new_index[i] for i in graph.inputs),
                 tuple(new_index[o] for o in graph.outputs), graph.name)
