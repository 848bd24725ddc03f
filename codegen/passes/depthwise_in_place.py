"""Run depthwise convolutions in place, the output lagging behind its input, where that lowers the arena.

An undilated depthwise convolution (depth multiplier 1, stride 1 or 2) computes each channel's outputs in
increasing pixel order, and every kernel variant reads an output's inputs before writing it. So the output may
start L pixels *before* its input in one buffer: writing (q, c) overwrites input (q - L, c), and L is chosen so
that no later output reads that pixel (_lag_pixels). Stride 1 needs L = pad_h * width + pad_w; stride 2 without
top padding needs none, the output being a quarter of the input. Input and output then share one buffer of
input + L pixels instead of two tensors.

Both tensors become views of that buffer, so the planner keeps it whole from the input's producer to the
output's last reader. It costs L pixels at the steps around the convolution and saves a tensor at it. Layers go
in place all at once or one by one (whichever arena is smaller; several layers may share the peak); if the
arena does not end up smaller, nothing changes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.memory.planner import ALIGNMENT, Buffer, MemoryPlan, lifetimes, plan_memory


def lag_bytes(call: KernelCall) -> int | None:
    """Bytes the output starts before the input, or None when the call cannot run in place."""
    p = call.params
    if not call.kernel.startswith("depthwise_conv2d_s8") or p is None:
        return None
    simple = (p.dilation_h, p.dilation_w, p.depth_multiplier) == (1, 1, 1) and p.stride_h == p.stride_w
    # Whole channel groups: a fast kernel's 4-byte store must not reach the next pixel's channels.
    if not (simple and p.stride_h in (1, 2) and p.pad_h >= 0 and p.pad_w >= 0 and p.in_c % 4 == 0):
        return None
    return _lag_pixels(p) * p.in_c


def _lag_pixels(p) -> int:
    """The fewest pixels L such that writing output q over input pixel q - L never clobbers a pixel that a
    later output reads: L > q - (smallest input pixel any later output reads), for every output q. Stride 1
    gives pad_h * width + pad_w; stride 2 with no top padding gives 0 (the output is a quarter the size)."""
    oy, ox = np.divmod(np.arange(p.out_h * p.out_w), p.out_w)
    first_read = np.maximum(oy * p.stride_h - p.pad_h, 0) * p.in_w + np.maximum(ox * p.stride_w - p.pad_w, 0)
    later = np.minimum.accumulate(first_read[::-1])[::-1][1:]  # smallest pixel read by outputs q + 1, ...
    return max(0, int(np.max(np.arange(len(later)) - later + 1, initial=0)))


@dataclass
class _Uses:
    """Per tensor, over one call list: how many calls read it, and whether any call touching it (reading or
    writing) is in place. Built once per place_depthwise_in_place: _eligible asks at every position."""

    reader_count: dict[int, int]
    touched_in_place: dict[int, bool]

    @classmethod
    def of(cls, calls: list[KernelCall]) -> _Uses:
        readers: dict[int, int] = {}
        in_place: dict[int, bool] = {}
        for c in calls:
            for t in set(c.inputs):
                readers[t] = readers.get(t, 0) + 1
            for t in {*c.inputs, *c.outputs}:
                in_place[t] = in_place.get(t, False) or c.in_place
        return cls(readers, in_place)


def _fixed(graph: Graph) -> set[int]:
    """Tensors a depthwise layer in place must not touch: graph inputs and outputs, views and their bases."""
    return set(graph.inputs) | set(graph.outputs) | set(graph.views) | {b for b, _ in graph.views.values()}


def _eligible(graph: Graph, calls: list[KernelCall], pos: int, uses: _Uses | None = None,
              fixed: set[int] | None = None) -> bool:
    """`uses` (of `calls`) and `fixed` (of `graph`) spare rebuilding them at every position."""
    call = calls[pos]
    if len(call.inputs) != 1 or len(call.outputs) != 1 or not call.kernel.startswith("depthwise_conv2d_s8"):
        return False
    x, y = call.inputs[0], call.outputs[0]
    if {x, y} & (_fixed(graph) if fixed is None else fixed):
        return False
    uses = _Uses.of(calls) if uses is None else uses
    # Read by this call alone, and no aliasing (reshape, element-wise in place) around it to undo.
    if uses.reader_count.get(x, 0) != 1 or uses.touched_in_place.get(x, False) or uses.touched_in_place.get(y, False):
        return False
    return lag_bytes(call) is not None  # last: the costliest test (band calls mostly fail the ones above)


def place_depthwise_in_place(graph: Graph, calls: list[KernelCall], plan: MemoryPlan) -> tuple[Graph, MemoryPlan]:
    """The graph with each beneficial in-place depthwise layer's tensors turned into views, and its plan.

    Two tries, the smaller arena wins: every eligible layer at once (when several layers share the peak, no
    single one lowers it, and the planner's placement may then refuse each alone), and layer by layer."""
    original = graph, plan
    uses, fixed = _Uses.of(calls), _fixed(graph)
    eligible = [pos for pos in range(len(calls)) if _eligible(graph, calls, pos, uses, fixed)]
    if not eligible:
        return original
    layers = [(calls[pos].inputs[0], calls[pos].outputs[0], _shared_bytes(graph, calls[pos])) for pos in eligible]
    together_live = _trial_live(plan, _own_buffers(plan), layers)  # all at once, from the plan before any change
    spans = lifetimes(graph, calls)  # of the graph as it stands: each trial changes two tensors' only
    own = _own_buffers(plan)
    for pos in eligible:
        if not _eligible(graph, calls, pos, uses, fixed):  # an earlier layer's views may have made it ineligible
            continue
        x, y = calls[pos].inputs[0], calls[pos].outputs[0]
        variable = graph.tensor(x).is_variable or graph.tensor(y).is_variable  # unplanned: not in spans
        if not variable and _cannot_win(plan, own, x, y, _shared_bytes(graph, calls[pos])):
            continue
        trial = _in_place(graph, calls, [pos])
        trial_spans = None if variable else spans.shared(x, y, len(graph.tensors))  # the new tensor's index
        trial_plan = plan_memory(trial, calls, trial_spans)
        if trial_plan.arena_bytes <= plan.arena_bytes and sum(trial_plan.live_bytes) < sum(plan.live_bytes):
            graph, plan = trial, trial_plan
            own = _own_buffers(plan)
            spans = trial_spans if trial_spans is not None else lifetimes(graph, calls)
            fixed = _fixed(graph)
    if together_live is not None and together_live[1] > plan.arena_bytes:
        best = graph, plan  # all at once needs more bytes at one step than layer by layer's arena: it cannot win
    else:
        together = _in_place(original[0], calls, eligible)
        together_plan = plan_memory(together, calls)
        best = min([(together, together_plan), (graph, plan)], key=lambda gp: gp[1].arena_bytes)
    return best if best[1].arena_bytes < original[1].arena_bytes else original


def _shared_bytes(graph: Graph, call: KernelCall) -> int:
    """Bytes of the buffer _in_place gives the call's input and output."""
    return max(graph.tensor(call.inputs[0]).nbytes + lag_bytes(call), graph.tensor(call.outputs[0]).nbytes)


def _own_buffers(plan: MemoryPlan) -> dict[int, Buffer]:
    """Each tensor that has a buffer to itself in `plan` (no alias shares it), and that buffer."""
    return {b.tensors[0]: b for b in plan.buffers if len(b.tensors) == 1}


def _trial_live(plan: MemoryPlan, own: dict[int, Buffer], layers: list[tuple[int, int, int]]) -> tuple[int, int] | None:
    """How the plan's live bytes change when each layer's (input x, output y, shared bytes) go in one buffer: the
    change of their sum over the steps (exact) and the most bytes live at one step of the steps the change
    spans (a floor under the changed plan's arena: buffers live together never share bytes). None when that is
    not known: some x or y does not have a buffer of its own in `plan`.

    When each x and y has its own buffer, the changed plan has the same buffers but those, each pair replaced by
    one spanning both lifetimes: no alias or in-place step involves them (the planner skips views, and such a
    step would have put them in a group)."""
    pairs = [(own.get(x), own.get(y), shared) for x, y, shared in layers]
    buffers = [b for bx, by, _ in pairs for b in (bx, by)]
    if None in buffers or len({id(b) for b in buffers}) != len(buffers):
        return None
    n = len(plan.live_bytes)
    lo, hi = min(b.first for b in buffers), max(b.last for b in buffers)
    if n == 0 or lo < 0 or hi >= n or any(b.first > b.last for b in buffers):
        return None
    change = [0] * (hi - lo + 2)
    for bx, by, shared in pairs:
        size = -(-shared // ALIGNMENT) * ALIGNMENT
        span = (min(bx.first, by.first), max(bx.last, by.last), size)
        for first, last, nbytes in (span, (bx.first, bx.last, -bx.size), (by.first, by.last, -by.size)):
            change[first - lo] += nbytes
            change[last + 1 - lo] -= nbytes
    live, total, peak = 0, 0, 0
    for step in range(lo, hi + 1):
        live += change[step - lo]
        total += live
        peak = max(peak, plan.live_bytes[step] + live)
    return total, peak


def _cannot_win(plan: MemoryPlan, own: dict[int, Buffer], x: int, y: int, shared: int) -> bool:
    """Whether putting x and y in one buffer of `shared` bytes surely fails the trial's test (an arena no larger
    and fewer live bytes summed over the steps) without planning it (see _trial_live; False when unknown)."""
    change = _trial_live(plan, own, [(x, y, shared)])
    return change is not None and (change[0] >= 0 or change[1] > plan.arena_bytes)


def _in_place(graph: Graph, calls: list[KernelCall], positions: list[int]) -> Graph:
    """The graph with the depthwise calls at `positions` in place: input and output views of one buffer."""
    tensors, views = list(graph.tensors), dict(graph.views)
    for pos in positions:
        call = calls[pos]
        x, y = graph.tensor(call.inputs[0]), graph.tensor(call.outputs[0])
        lag = lag_bytes(call)
        shared = Tensor(len(tensors), f"{y.name}@in_place", (1, max(x.nbytes + lag, y.nbytes)), "int8", None)
        tensors.append(shared)
        views[x.index] = (shared.index, lag)
        views[y.index] = (shared.index, 0)
    return dataclasses.replace(graph, tensors=tensors, views=views)
