"""Run memory-heavy blocks after the patch stage in row bands too: each block is a small cached-band stage.

Per-layer execution of an inverted-residual block holds its input, its whole expanded tensor (6x wider) and
more. Between two cut points of the call list (where exactly one tensor crosses, a block boundary), the block
can run top to bottom in row bands with line buffers, exactly like stage 1 of a cached-band schedule
(patch_schedule.expand_cached with `start`): its input and output stay whole tensors, only a few rows of each
inner tensor exist at a time, and nothing is recomputed (one strip, so no horizontal halo either). It costs
row shifts and more, smaller calls, so a block is banded only where that lowers the arena.
"""

from __future__ import annotations

from collections.abc import Callable

from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.memory.planner import plan_memory
from codegen.passes.depthwise_in_place import place_depthwise_in_place
from codegen.passes.residual_in_place import band_residuals
from codegen.schedule.patch_schedule import WINDOWED, expand_cached, is_patchable

Evaluate = Callable[[Graph, list[KernelCall]], int]  # a graph and its calls -> the arena they end up with
Steps = dict[tuple[tuple[int, int], ...], tuple[Graph, list[KernelCall]]]  # see _band


def block_segments(graph: Graph, calls: list[KernelCall]) -> list[tuple[int, int]]:
    """(first, last) call positions of each block worth banding: between cut points, every call patchable,
    nothing seen through views, at least one window taller than a row, an output more than a row high."""
    last_read: dict[int, int] = {}
    for k, call in enumerate(calls):
        for t in call.inputs:
            last_read[t] = k
    for t in graph.outputs:
        last_read[t] = len(calls)
    cuts = []
    crossing: set[int] = set()  # tensors produced so far and read later
    for k, call in enumerate(calls):
        crossing = {t for t in crossing if last_read.get(t, -1) > k}
        crossing.update(t for t in call.outputs if last_read.get(t, -1) > k)
        if crossing == {call.outputs[0]}:
            cuts.append(k)
    # Blocks end where the crossing tensor is narrow: no larger than at the neighbouring cuts (an expansion's
    # and a depthwise layer's outputs are cut points too, but wide ones).
    size = [graph.tensor(calls[k].outputs[0]).nbytes for k in cuts]
    ends = [k for i, k in enumerate(cuts) if size[i] <= min(size[max(i - 1, 0)], size[min(i + 1, len(cuts) - 1)])]
    segments, start = [], 0
    for k in ends:
        call = calls[k]
        block = calls[start : k + 1]
        touched = {t for c in block for t in (*c.inputs, *c.outputs)}
        windowed = any(c.kernel in WINDOWED and getattr(c.params, WINDOWED[c.kernel][0]) > 1 for c in block)
        if (windowed and all(is_patchable(c, graph) for c in block) and not touched & set(graph.views)
                and not touched & set(graph.streamed_inputs) and graph.tensor(call.outputs[0]).shape[1] > 1):
            segments.append((start, k))
        start = k + 1
    return segments


def band_segments(graph: Graph, calls: list[KernelCall], evaluate: Evaluate) -> tuple[Graph, list[KernelCall]]:
    """Band every block at once (one row of its output per band); then un-band, one at a time, each block the
    arena does not need. Unchanged if banding does not lower the arena."""
    segments = block_segments(graph, calls)
    if not segments:
        return graph, calls
    before = evaluate(graph, calls)
    chosen = list(segments)
    steps: Steps = {}
    banded, steps = _band(graph, calls, chosen, steps)
    arena = evaluate(*banded)
    if arena >= before:
        return graph, calls
    floors = _unbanded_floors(graph, calls, segments)
    for segment in segments:
        if floors[segment] > arena:
            continue  # run whole, this block alone needs more than the arena: keeping it banded, as the trial would
        trial = [s for s in chosen if s != segment]
        candidate, trial_steps = _band(graph, calls, trial, steps)
        if evaluate(*candidate) <= arena:
            chosen, banded, steps = trial, candidate, trial_steps
    return banded


def _unbanded_floors(graph: Graph, calls: list[KernelCall],
                     segments: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Per block, bytes that any arena evaluated with that block run whole must hold at once: a convolution or
    pool's whole input and output, two buffers live at its step. Depthwise layers (their output may go in
    place over the input), ADDs and the projections they sum (a residual sum may go over the shortcut) and
    aliasing calls are left out: the passes an evaluation runs may merge those buffers."""
    summed = {t for c in calls if c.kernel.startswith("add_") for t in c.inputs}
    floors = {}
    for first, last in segments:
        floor = 0
        for call in calls[first : last + 1]:
            if (call.kernel not in WINDOWED or call.kernel.startswith("depthwise") or call.in_place
                    or call.alias_offset is not None or len(call.outputs) != 1 or call.outputs[0] in summed):
                continue
            x, y = graph.tensor(call.inputs[0]), graph.tensor(call.outputs[0])
            if x.index != y.index and not (x.is_variable or y.is_variable or x.is_const):
                floor = max(floor, x.nbytes + y.nbytes)
        floors[(first, last)] = floor
    return floors


def _band(graph: Graph, calls: list[KernelCall], segments: list[tuple[int, int]],
          known: Steps | None = None) -> tuple[tuple[Graph, list[KernelCall]], Steps]:
    """The graph and calls with `segments` in bands, and the steps that built them: after each block (last
    first), the blocks banded so far -> the graph and calls then. `known`, the steps of an earlier call on the
    same graph and calls, starts from the longest run of blocks both band first: expansion is deterministic, so
    that is exactly the state banding them again would reach (un-banding one block leaves the later blocks'
    expansions as they were)."""
    order = sorted(segments, reverse=True)  # last block first, so that the positions of earlier blocks stay valid
    steps: Steps = {}
    done = 0
    for n in range(len(order), 0, -1) if known else ():
        state = known.get(tuple(order[:n]))
        if state is not None:
            done, (graph, calls) = n, state
            steps.update({key: state for key, state in known.items() if key == tuple(order[: len(key)])})
            break
    for n in range(done, len(order)):
        first, last = order[n]
        height = graph.tensor(calls[last].outputs[0]).shape[1]
        graph, calls = expand_cached(graph, calls, last, height, 1, start=first)
        steps[tuple(order[: n + 1])] = (graph, calls)
    return (graph, calls), steps


def band_blocks(graph: Graph, calls: list[KernelCall]) -> tuple[Graph, list[KernelCall]]:
    """Blocks in row bands where that lowers the arena, then residual sums over their shortcuts where that
    does: the arenas compared are the planner's, with depthwise layers in place as the build will place them."""
    evaluated: list[tuple[Graph, list[KernelCall], int]] = []  # band_segments returns one of these

    def evaluate(g: Graph, c: list[KernelCall]) -> int:
        evaluated.append((g, c, _arena_with_residuals(g, c)))
        return evaluated[-1][2]

    graph, calls = band_segments(graph, calls, evaluate)
    summed = band_residuals(graph, calls)
    known = [arena for g, c, arena in evaluated if g is graph and c is calls]
    return summed if (known[0] if known else _arena(*summed)) < _arena(graph, calls) else (graph, calls)


def _arena(graph: Graph, calls: list[KernelCall]) -> int:
    return place_depthwise_in_place(graph, calls, plan_memory(graph, calls))[1].arena_bytes


def _arena_with_residuals(graph: Graph, calls: list[KernelCall]) -> int:
    return _arena(*band_residuals(graph, calls))
