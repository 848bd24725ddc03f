"""Static memory planning: place every activation tensor and scratch buffer in one arena.

Tensors live from the step that writes them to the last step that reads them. Buffers whose lifetimes do not
overlap may share bytes. Two kinds of aliasing remove copies and memory outright:
- a call whose output is bytes of its input left unchanged (KernelCall.alias_offset: RESHAPE, SQUEEZE,
  EXPAND_DIMS, a SLICE or SPLIT of contiguous bytes) makes its output a view of the input's buffer at that byte
  offset, and the call disappears from the generated code;
- an element-wise kernel marked in_place writes over its first input when that input dies at this step.
Tensors that share a buffer are kept as a union-find whose links carry byte offsets.
Offsets are chosen greedily (several orderings, the smallest arena wins), as first-fit into gaps between
already placed buffers whose lifetimes overlap.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from dataclasses import dataclass, field

from codegen.ir import Graph
from codegen.kernels.base import KernelCall

_IS_VARIABLE = operator.attrgetter("is_variable")
_BASE = operator.itemgetter(0)
ALIGNMENT = 8  # bytes; word-aligned loads everywhere, doubleword for future SIMD kernels


@dataclass
class Buffer:
    """A region of the arena shared by one or more tensors (aliases) or holding one scratch area."""

    size: int
    first: int  # first step at which the buffer holds live data
    last: int  # last step at which it is read
    tensors: list[int] = field(default_factory=list)
    offset: int = -1

    def overlaps(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    arena_bytes: int
    tensor_offsets: dict[int, int]  # activation tensor index -> byte offset in the arena
    scratch_offsets: dict[int, int]  # call position -> byte offset of its scratch buffer
    elided_calls: set[int]  # call positions whose work the aliasing made unnecessary
    live_bytes: list[int]  # bytes live at each step (the per-layer memory profile)
    buffers: list[Buffer]
    # Variable tensors (SVDF's state) live outside the arena, in model_state: kept from one invoke to the next,
    # zeroed by model_reset(), never shared. Tensor index -> byte offset in model_state.
    state_offsets: dict[int, int] = field(default_factory=dict)
    state_bytes: int = 0


def _align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


@dataclass
class Lifetimes:
    """First and last step of each planned tensor (a view counts as its base), `first` in the order the call
    list meets the tensors: that order lists the buffers, which breaks the placement's ties."""

    first: dict[int, int]
    last: dict[int, int]

    def shared(self, a: int, b: int, into: int) -> Lifetimes:
        """The lifetimes once tensors a and b (planned tensors, neither a view nor a base of one) become views
        of one new tensor `into`: it takes the place of whichever of them the calls met first, and spans both.
        Exactly what lifetimes() of the changed graph gives, without walking the calls again."""
        pair = (a, b)
        first: dict[int, int] = {}
        for t, step in self.first.items():
            if t not in pair:
                first[t] = step
            elif into not in first:
                first[into] = min(self.first[u] for u in pair if u in self.first)
        last = {t: step for t, step in self.last.items() if t not in pair}
        ends = [self.last[u] for u in pair if u in self.last]
        if ends:
            last[into] = max(ends)
        return Lifetimes(first, last)


def lifetimes(graph: Graph, calls: list[KernelCall]) -> Lifetimes:
    """Lifetimes over call positions (a view lives as its base); graph inputs exist before step 0, outputs
    must survive the last step. Variable tensors are planned apart (model_state): like streamed inputs they
    take no arena bytes."""
    n_steps = len(calls)
    views = graph.views
    variables = {t.index for t in filter(_IS_VARIABLE, graph.tensors)}
    streamed = set(graph.streamed_inputs) | variables
    first: dict[int, int] = {i: 0 for i in graph.inputs if i not in streamed}
    last: dict[int, int] = {}
    for step, call in enumerate(calls):
        for t in call.inputs:
            if t in views:
                t = views[t][0]
            if t not in streamed:
                last[t] = step
        for t in call.outputs:
            if t in views:
                t = views[t][0]
            if t in variables:
                continue
            first.setdefault(t, step)
            last[t] = step  # steps only grow: the latest is this one
    for t in graph.outputs:
        first.setdefault(t, 0)
        last[t] = max(n_steps - 1, 0)
    for t in graph.inputs:
        if t not in streamed:
            last.setdefault(t, 0)
    return Lifetimes(first, last)


def plan_memory(graph: Graph, calls: list[KernelCall], known: Lifetimes | None = None) -> MemoryPlan:
    """`known`, the lifetimes of this graph and calls (Lifetimes.shared of a plan's), spares computing them."""
    n_steps = len(calls)
    views = graph.views
    variables = {t.index for t in filter(_IS_VARIABLE, graph.tensors)}
    spans = lifetimes(graph, calls) if known is None else known
    first, last = spans.first, spans.last

    # Union-find over tensors that must share one buffer; shift[t] is t's byte offset relative to parent[t].
    parent: dict[int, int] = {t: t for t in first}
    shift: dict[int, int] = {t: 0 for t in first}

    def find(t: int) -> int:
        path = []
        while parent[t] != t:
            path.append(t)
            t = parent[t]
        for node in reversed(path):  # nearest the root first, so its shift is already relative to the root
            if parent[node] != t:
                shift[node] += shift[parent[node]]
                parent[node] = t
        return t

    def position(t: int) -> int:
        """Byte offset of t within its group's root."""
        return 0 if find(t) == t else shift[t]

    def attach(child: int, root: int, offset: int) -> None:
        parent[child], shift[child] = root, offset

    # Tensors seen through views keep their own buffers: no aliasing games with line buffers.
    graph_io = set(graph.inputs) | set(graph.outputs) | set(views) | set(map(_BASE, views.values()))
    elided: set[int] = set()
    # Aliases first: both names denote the same bytes, and nothing is ever written over them. An offset must keep
    # the buffer alignment (kernels may read words), so other slices run their copy.
    for step, call in enumerate(calls):
        if call.alias_offset is None or not call.inputs or len(call.outputs) != 1:
            continue
        if views.keys() & {*call.inputs, *call.outputs}:  # through a view
            continue
        if variables.intersection(call.inputs[:1] + call.outputs):
            continue
        src, dst = call.inputs[0], call.outputs[0]
        if src in graph_io and dst in graph_io or call.alias_offset % ALIGNMENT:
            continue
        if call.alias_offset + graph.tensor(dst).nbytes > graph.tensor(src).nbytes:
            continue
        root_src, root_dst = find(src), find(dst)
        if root_src == root_dst:
            continue
        attach(root_dst, root_src, position(src) + call.alias_offset - position(dst))
        elided.add(step)
    members: dict[int, list[int]] = {}
    for t in first:
        members.setdefault(t if parent[t] == t else find(t), []).append(t)
    # Then element-wise ops write over their first input when every alias of it dies at this step.
    for step, call in enumerate(calls):
        if step in elided or not call.in_place or not call.inputs or len(call.outputs) != 1:
            continue
        if call.inputs[0] in views or call.outputs[0] in views:
            continue
        if variables.intersection(call.inputs[:1] + call.outputs):
            continue
        src, dst = find(call.inputs[0]), find(call.outputs[0])
        if src == dst or graph.tensor(call.inputs[0]).nbytes != graph.tensor(call.outputs[0]).nbytes:
            continue
        group = members[src]
        if max(last[t] for t in group) == step and not graph_io.intersection(group):
            attach(dst, src, position(call.inputs[0]) - position(call.outputs[0]))
            members[src] = group + members.pop(dst)

    # A group's buffer spans its members' bytes; offsets may be negative relative to the root, so shift to 0.
    roots: dict[int, int] = {}  # each tensor's root and its byte offset there, found once
    placed_at: dict[int, int] = {}
    low: dict[int, int] = {}
    for t in first:
        if parent[t] == t:
            roots[t], placed_at[t] = t, 0
            if t not in low:
                low[t] = 0
            continue
        root = roots[t] = find(t)
        at = placed_at[t] = shift[t]
        low[root] = min(low.get(root, 0), at)
    within = {t: placed_at[t] - low[roots[t]] for t in first}
    tensors = graph.tensors
    groups: dict[int, Buffer] = {}
    for t in first:
        root = roots[t]
        buf = groups.get(root)
        if buf is None:
            buf = groups[root] = Buffer(0, first[t], last[t])
        buf.size = max(buf.size, _align(within[t] + tensors[t].nbytes))
        if first[t] < buf.first:
            buf.first = first[t]
        if last[t] > buf.last:
            buf.last = last[t]
        buf.tensors.append(t)

    buffers = list(groups.values())
    scratch: dict[int, Buffer] = {}
    for step, call in enumerate(calls):
        if call.scratch_bytes and step not in elided:
            scratch[step] = Buffer(_align(call.scratch_bytes), step, step)
    all_buffers = buffers + list(scratch.values())

    arena = _place_best(all_buffers)
    offsets = {t: buf.offset + within[t] for buf in buffers for t in buf.tensors}
    offsets.update({view: offsets[b] + byte_offset for view, (b, byte_offset) in views.items()})
    change = [0] * (n_steps + 1)  # live bytes by step, from each buffer's start and end
    for b in all_buffers:
        change[max(b.first, 0)] += b.size
        change[min(b.last + 1, n_steps)] -= b.size
    live = list(itertools.accumulate(change[:n_steps]))
    state_offsets: dict[int, int] = {}
    state_bytes = 0
    for t in sorted(variables):
        state_offsets[t] = state_bytes
        state_bytes += _align(graph.tensor(t).nbytes)
    return MemoryPlan(
        arena_bytes=arena,
        tensor_offsets=offsets,
        scratch_offsets={step: b.offset for step, b in scratch.items()},
        elided_calls=elided,
        live_bytes=live,
        buffers=all_buffers,
        state_offsets=state_offsets,
        state_bytes=state_bytes,
    )


def _place_best(buffers: list[Buffer]) -> int:
    """Try a few greedy orderings; keep the one with the smallest arena."""
    orderings = [
        lambda b: (-b.size, b.first),
        lambda b: (-(b.size * (b.last - b.first + 1)), -b.size),
        lambda b: (b.first, -b.size),
        lambda b: (-(b.last - b.first), -b.size),
    ]
    floor = _live_peak(buffers)
    best: tuple[int, list[int]] | None = None
    for key in orderings:
        arena = _place(sorted(buffers, key=key))
        if best is None or arena < best[0]:
            best = (arena, [b.offset for b in buffers])
        if best[0] <= floor:
            break  # nothing places below the bytes live at one step: later orderings cannot win (ties keep the first)
    assert best is not None
    for b, off in zip(buffers, best[1], strict=True):
        b.offset = off
    return best[0]


def _live_peak(buffers: list[Buffer]) -> int:
    """The most bytes live at one step: buffers live at the same step overlap pairwise, so they occupy disjoint
    bytes and no placement makes the arena smaller than this."""
    change: dict[int, int] = {}
    for b in buffers:
        if b.first <= b.last:
            change[b.first] = change.get(b.first, 0) + b.size
            change[b.last + 1] = change.get(b.last + 1, 0) - b.size
    return max(itertools.accumulate(change[step] for step in sorted(change)), default=0)


def _place(ordered: list[Buffer]) -> int:
    """First fit: each buffer at the lowest offset clear of the placed buffers whose lifetimes overlap its own.
    Placed buffers are kept as plain tuples in offset order, so the scan stops at the first gap that fits
    (which of several at one offset comes first does not change the result); banded schedules plan thousands
    of times."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last), sorted
    top = 0
    for buf in ordered:
        first, last, size = buf.first, buf.last, buf.size
        offset = 0
        for o, n, f, la in placed:
            if f <= last and first <= la:
                if offset + size <= o:
                    break
                if o + n > offset:
                    offset = o + n
        buf.offset = offset
        bisect.insort(placed, (offset, size, first, last))
        top = max(top, offset + size)
    return top


def check_plan(plan: MemoryPlan) -> None:
    """Raise AssertionError if two buffers that are live together overlap in the arena."""
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        assert a.offset >= 0 and a.offset % ALIGNMENT == 0
        assert a.offset + a.size <= plan.arena_bytes
        for b in bufs[i + 1 :]:
            if a.overlaps(b):
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
