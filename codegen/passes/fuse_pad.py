"""Fold an explicit PAD into the convolution that consumes it.

In MCUNet-style models an explicit PAD materialises a padded copy of a large feature map, often the worst
layer for memory. When the pad value is the input zero point, a padded tap contributes
(zp + input_offset) * w = 0, exactly what TFLite's skipped out-of-bounds taps contribute, so the convolution
can read the unpadded tensor with the PAD's amounts as its own padding: bit-exact, and the copy is gone.
"""

from __future__ import annotations

import dataclasses

from codegen.ir import Graph, Operator
from codegen.kernels.conv.conv2d import compute_out_size, compute_padding

_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def fuse_pads(graph: Graph) -> Graph:
    """A new graph in which every fusable PAD -> CONV_2D / DEPTHWISE_CONV_2D pair is one convolution."""
    consumers: dict[int, list[Operator]] = {}
    for op in graph.operators:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    removed: set[int] = set()
    replaced: dict[int, Operator] = {}
    for pad in graph.operators:
        if pad.op_type != "PAD":
            continue
        users = consumers.get(pad.outputs[0], [])
        if len(users) != 1 or users[0].op_type not in _CONVS or pad.outputs[0] in graph.outputs:
            continue
        conv = replaced.get(users[0].index, users[0])
        amounts = _spatial_pads(graph, pad)
        if amounts is None or conv.inputs[0] != pad.outputs[0]:
            continue
        own = _own_padding(graph, conv)
        if own is None:
            continue
        total = tuple(a + b for a, b in zip(amounts, own, strict=True))
        options = {**conv.options, "padding": "EXPLICIT", "explicit_padding": total}
        replaced[conv.index] = dataclasses.replace(conv, inputs=(pad.inputs[0], *conv.inputs[1:]), options=options)
        removed.add(pad.index)
    if not removed:
        return graph
    ops = [replaced.get(op.index, op) for op in graph.operators if op.index not in removed]
    return dataclasses.replace(graph, operators=ops)


def _spatial_pads(graph: Graph, pad: Operator) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) when this PAD only pads H and W of an NHWC int8 or int16 (16x8, zero point 0)
    tensor with its zero point."""
    x, paddings = graph.tensor(pad.inputs[0]), graph.tensor(pad.inputs[1])
    y = graph.tensor(pad.outputs[0])
    if (paddings.data is None or paddings.data.size != 8 or len(x.shape) != 4
            or x.dtype not in ("int8", "int16")):
        return None
    if x.quant is None or y.quant is None or x.quant.per_channel or y.quant.per_channel:
        return None  # not a PAD the lowering accepts: leave it to refuse the model
    if (x.scale, x.zero_point) != (y.scale, y.zero_point):
        return None
    p = [[int(v) for v in row] for row in paddings.data.reshape(4, 2)]
    if p[0] != [0, 0] or p[3] != [0, 0] or min(min(r) for r in p) < 0:
        return None
    return p[1][0], p[1][1], p[2][0], p[2][1]


def _own_padding(graph: Graph, conv: Operator) -> tuple[int, int, int, int] | None:
    """The convolution's own padding as explicit amounts (top, bottom, left, right)."""
    o = conv.options
    if o.get("padding") == "VALID":
        return 0, 0, 0, 0
    if o.get("padding") != "SAME":
        return None
    x, w = graph.tensor(conv.inputs[0]), graph.tensor(conv.inputs[1])
    if len(x.shape) != 4 or len(w.shape) != 4:
        return None  # the lowering refuses such a convolution
    amounts = []
    for axis, k_axis, stride, dil in ((1, 1, o["stride_h"], o["dilation_h"]), (2, 2, o["stride_w"], o["dilation_w"])):
        size, kernel = x.shape[axis], w.shape[k_axis]
        out = compute_out_size("SAME", size, kernel, stride, dil)
        before = compute_padding(size, kernel, stride, dil, out)
        total = max((out - 1) * stride + (kernel - 1) * dil + 1 - size, 0)
        amounts += [before, total - before]
    return amounts[0], amounts[1], amounts[2], amounts[3]
