"""Run stride-1 depthwise convolutions in place, lagging behind their input, where that lowers the arena.

A stride-1, undilated depthwise convolution (depth multiplier 1) whose output has its input's shape reads, for
output pixel p (row-major), input pixels up to p + lag with lag = pad_h * width + pad_w; input pixel q is last
read for output q + lag at the latest. Every kernel variant computes each channel's outputs in increasing pixel
order and reads an output's inputs before writing it, so the output may start lag pixels *before* the input in
memory: writing (p, c) overwrites input (p - lag, c), which no later output reads. Input and output then share
one buffer of input + lag pixels instead of two of a whole tensor each.

Both tensors become views of that buffer, so the planner keeps it whole from the input's producer to the
output's last reader. It costs lag pixels at the steps around the convolution and saves a tensor at it. Layers
go in place one by one while the arena does not grow and memory is saved somewhere (several layers may share the
peak); if the arena does not end up smaller, nothing changes.
"""

from __future__ import annotations

import dataclasses

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.memory_plan import MemoryPlan, plan_memory


def lag_bytes(call: KernelCall) -> int | None:
    """Bytes the output starts before the input, or None when the call cannot run in place."""
    p = call.params
    if not call.kernel.startswith("depthwise_conv2d_s8") or p is None:
        return None
    same_shape = (p.in_h, p.in_w, p.in_c) == (p.out_h, p.out_w, p.out_c)
    simple = (p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.depth_multiplier) == (1, 1, 1, 1, 1)
    # Whole channel groups: a fast kernel's 4-byte store must not reach the next pixel's channels.
    if not (same_shape and simple and p.pad_h >= 0 and p.pad_w >= 0 and p.in_c % 4 == 0):
        return None
    return (p.pad_h * p.in_w + p.pad_w) * p.in_c


def _eligible(graph: Graph, calls: list[KernelCall], pos: int) -> bool:
    call = calls[pos]
    if len(call.inputs) != 1 or len(call.outputs) != 1 or lag_bytes(call) is None:
        return False
    x, y = call.inputs[0], call.outputs[0]
    io = set(graph.inputs) | set(graph.outputs)
    viewed = set(graph.views) | {b for b, _ in graph.views.values()}
    if {x, y} & (io | viewed):
        return False
    readers_x = [c for c in calls if x in c.inputs]
    touching = [c for c in calls if {x, y} & {*c.inputs, *c.outputs}]
    # Read by this call alone, and no aliasing (reshape, element-wise in place) around it to undo.
    return readers_x == [call] and not any(c.in_place for c in touching)


def place_depthwise_in_place(graph: Graph, calls: list[KernelCall], plan: MemoryPlan) -> tuple[Graph, MemoryPlan]:
    """The graph with each beneficial in-place depthwise layer's tensors turned into views, and its plan."""
    original = graph, plan
    for pos in range(len(calls)):
        if not _eligible(graph, calls, pos):
            continue
        call = calls[pos]
        x, y = graph.tensor(call.inputs[0]), graph.tensor(call.outputs[0])
        lag = lag_bytes(call)
        shared = Tensor(len(graph.tensors), f"{y.name}@in_place", (1, x.nbytes + lag), "int8", None)
        views = {**graph.views, x.index: (shared.index, lag), y.index: (shared.index, 0)}
        trial = dataclasses.replace(graph, tensors=[*graph.tensors, shared], views=views)
        trial_plan = plan_memory(trial, calls)
        if trial_plan.arena_bytes <= plan.arena_bytes and sum(trial_plan.live_bytes) < sum(plan.live_bytes):
            graph, plan = trial, trial_plan
    return (graph, plan) if plan.arena_bytes < original[1].arena_bytes else original
