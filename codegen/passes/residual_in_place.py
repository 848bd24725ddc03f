"""Write a residual block's sum over its shortcut, row band by row band, instead of into a tensor of its own.

In an inverted-residual block y = conv1x1(h) + x, the peak is at the 1x1 projection: its wide input h, its
output and the shortcut x are all live. Run the projection and the ADD on bands of `rows` rows instead:

    for each band b:  t  = conv1x1(rows b of h)      (a few rows, in a small buffer)
                      x[rows b] = t + x[rows b]      (element-wise, so in place over the shortcut)

and the sum ends up where x was, so the projection's full output never exists: the peak drops by the block
output minus one band. x must die at the ADD (its last reader) and the ADD must not broadcast. The projection
reads its band of h as a window with negative padding (like a patch), so h stays a whole tensor and its
producer can still run in place (codegen/passes/depthwise_in_place.py). The sum becomes a view of x's buffer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.schedule.patch_schedule import Region, pointwise_call, window_call

BAND_BYTES = 2048  # rows of the projection per band: about this many output bytes (at least one row)


def _pointwise_conv(call: KernelCall) -> bool:
    p = call.params
    return (call.kernel == "conv2d_s8" and (p.kernel_h, p.kernel_w, p.stride_h, p.stride_w) == (1, 1, 1, 1)
            and (p.pad_h, p.pad_w) == (0, 0) and (p.in_h, p.in_w) == (p.out_h, p.out_w))


def _root(views: dict[int, tuple[int, int]], t: int) -> tuple[int, int]:
    """The buffer a tensor lives in and its byte offset there (views of views resolved)."""
    offset = 0
    while t in views:
        t, extra = views[t]
        offset += extra
    return t, offset


@dataclass
class _Uses:
    """Where each tensor is written and read in one call list (positions in increasing order), built once per
    band_residuals: _match asks for each ADD, and banded call lists have thousands of calls."""

    producers: dict[int, list[int]]
    readers: dict[int, list[int]]

    @classmethod
    def of(cls, calls: list[KernelCall]) -> _Uses:
        producers: dict[int, list[int]] = {}
        readers: dict[int, list[int]] = {}
        for i, c in enumerate(calls):
            for t in dict.fromkeys(c.outputs):
                producers.setdefault(t, []).append(i)
            for t in dict.fromkeys(c.inputs):
                readers.setdefault(t, []).append(i)
        return cls(producers, readers)


def _match(graph: Graph, calls: list[KernelCall], pos: int, uses: _Uses | None = None) -> int | None:
    """For the ADD at `pos`: the position of its 1x1 projection operand when the pair can be banded."""
    add = calls[pos]
    if add.kernel != "add_s8" or add.params.broadcast or len(add.inputs) != 2:
        return None
    uses = _Uses.of(calls) if uses is None else uses
    io = set(graph.inputs) | set(graph.outputs) | set(graph.streamed_inputs)
    for k, y in enumerate(add.inputs):
        x = add.inputs[1 - k]
        producers = [i for i in uses.producers.get(y, ()) if i < pos]
        if len(producers) != 1 or not _pointwise_conv(calls[producers[0]]):
            continue
        only_add_reads_y = uses.readers.get(y, []) == [pos]
        x_read_later = uses.readers.get(x, [-1])[-1] > pos
        if not only_add_reads_y or x_read_later or {x, y, add.outputs[0]} & io or y in graph.views:
            continue
        bases = {b for b, _ in graph.views.values()}
        if {y, add.outputs[0]} & (bases | set(graph.views)):  # the sum becomes a view: it must not have any
            continue
        return producers[0]
    return None


def band_residuals(graph: Graph, calls: list[KernelCall]) -> tuple[Graph, list[KernelCall]]:
    """Every bandable projection + ADD pair rewritten as above (the caller keeps it if the arena shrinks)."""
    tensors, views = list(graph.tensors), dict(graph.views)
    replaced: dict[int, list[KernelCall]] = {}
    dropped: set[int] = set()
    uses = _Uses.of(calls)
    for pos in range(len(calls)):
        conv_pos = _match(graph, calls, pos, uses)
        if conv_pos is None:
            continue
        add, conv = calls[pos], calls[conv_pos]
        y = add.inputs[0] if add.inputs[0] in conv.outputs else add.inputs[1]
        x = add.inputs[1] if y == add.inputs[0] else add.inputs[0]
        yt, xt, zt = graph.tensor(y), graph.tensor(x), graph.tensor(add.outputs[0])
        height, width, channels = yt.shape[1], yt.shape[2], yt.shape[3]
        rows = max(1, BAND_BYTES // (width * channels))
        base, offset = _root(views, x)  # x may be the sum of an earlier rewritten block
        row_bytes = width * channels
        band_calls: list[KernelCall] = []
        for y0 in range(0, height, rows):
            band = Region(y0, min(y0 + rows, height), 0, width)
            t = _new(tensors, yt, band.h, f"{yt.name}@band{y0}")
            src = conv.inputs[0]
            band_calls.append(dataclasses.replace(window_call(conv, band, (src, Region(0, height, 0, width))),
                                                  outputs=(t,)))
            shortcut = _new(tensors, xt, band.h, f"{xt.name}@rows{y0}")
            views[shortcut] = (base, offset + y0 * row_bytes)
            operands = (t, shortcut) if add.inputs[0] == y else (shortcut, t)
            summed = _new(tensors, zt, band.h, f"{zt.name}@rows{y0}")
            views[summed] = (base, offset + y0 * row_bytes)
            band_calls.append(dataclasses.replace(pointwise_call(add, band, channels, operands), outputs=(summed,),
                                                  in_place=False))
        views[add.outputs[0]] = (base, offset)
        replaced[pos] = band_calls
        dropped.add(conv_pos)
    if not replaced:
        return graph, calls
    out: list[KernelCall] = []
    for pos, call in enumerate(calls):
        if pos in dropped:
            continue
        out.extend(replaced.get(pos, [call]))
    return dataclasses.replace(graph, tensors=tensors, views=views), out


def _new(tensors: list[Tensor], like: Tensor, rows: int, name: str) -> int:
    index = len(tensors)
    tensors.append(Tensor(index, name, (1, rows, like.shape[2], like.shape[3]), like.dtype, like.quant))
    return index
