"""The memory planner never lets a write clobber a tensor that is still to be read."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.memory.planner import check_plan, plan_memory


@st.composite
def schedules(draw):
    """Random DAGs: each call reads 1-2 earlier tensors and writes one new tensor. Reshapes and slices are
    aliases (alias_offset), at offsets that may or may not keep the buffer alignment."""
    n_calls = draw(st.integers(1, 14))
    tensors = [Tensor(0, "in", (draw(st.integers(1, 300)),), "int8")]
    calls = []
    for step in range(n_calls):
        k = draw(st.integers(1, min(2, len(tensors))))
        inputs = tuple(draw(st.lists(st.integers(0, len(tensors) - 1), min_size=k, max_size=k, unique=True)))
        kind = draw(st.sampled_from(["op", "elementwise", "reshape", "slice"]))
        src_size = tensors[inputs[0]].size
        size = {"op": draw(st.integers(1, 300)), "slice": draw(st.integers(1, src_size))}.get(kind, src_size)
        offset = draw(st.sampled_from([0, 8 * ((src_size - size) // 16), src_size - size])) if kind == "slice" else 0
        out = len(tensors)
        tensors.append(Tensor(out, f"t{out}", (size,), "int8"))
        alias = kind in ("reshape", "slice")
        calls.append(KernelCall(
            {"reshape": "copy_bytes", "slice": "slice_bytes"}.get(kind, "k"),
            None,
            inputs[:1] if alias else inputs,
            (),
            (out,),
            step,
            scratch_bytes=draw(st.sampled_from([0, 0, 64])),
            in_place=kind in ("elementwise", "reshape"),
            alias_offset=offset if alias else None,
        ))
    outputs = tuple(sorted({len(tensors) - 1, *draw(st.lists(st.integers(1, len(tensors) - 1), max_size=2))}))
    return Graph(tensors, [], (0,), outputs), calls


@settings(max_examples=300, deadline=None)
@given(schedules())
def test_plan_never_clobbers_live_data(case):
    graph, calls = case
    plan = plan_memory(graph, calls)
    check_plan(plan)
    arena = np.zeros(plan.arena_bytes, dtype=np.int64)
    content = {}  # tensor -> the bytes we expect to read back

    def write(t, value):
        off, n = plan.tensor_offsets[t], graph.tensor(t).nbytes
        content[t] = value * 1000 + np.arange(n)  # distinct bytes: a view at a wrong offset reads wrong ones
        arena[off : off + n] = content[t]

    def check(t):
        off = plan.tensor_offsets[t]
        assert (arena[off : off + graph.tensor(t).nbytes] == content[t]).all(), f"tensor {t} clobbered"

    write(0, 1)
    for step, call in enumerate(calls):
        for t in call.inputs:
            check(t)
        if call.scratch_bytes and step not in plan.elided_calls:
            off = plan.scratch_offsets[step]
            arena[off : off + call.scratch_bytes] = -step - 1
        if step in plan.elided_calls:
            # An alias: the output's bytes are the input's from alias_offset on.
            start = call.alias_offset
            content[call.outputs[0]] = content[call.inputs[0]][start : start + graph.tensor(call.outputs[0]).nbytes]
            check(call.outputs[0])
        else:
            write(call.outputs[0], 1000 + step)
    for t in graph.outputs:
        check(t)
    for t, off in plan.tensor_offsets.items():
        assert off % 8 == 0, f"tensor {t} at unaligned offset {off}"


def test_reshape_is_elided_and_elementwise_is_in_place():
    tensors = [Tensor(i, f"t{i}", (64,), "int8") for i in range(4)]
    calls = [
        KernelCall("k", None, (0,), (), (1,), 0),
        KernelCall("copy_bytes", None, (1,), (), (2,), 1, in_place=True, alias_offset=0),
        KernelCall("add", None, (2,), (), (3,), 2, in_place=True),
    ]
    plan = plan_memory(Graph(tensors, [], (0,), (3,)), calls)
    assert plan.elided_calls == {1}
    assert plan.tensor_offsets[1] == plan.tensor_offsets[2] == plan.tensor_offsets[3]
    assert plan.arena_bytes == 128


def test_slices_of_one_tensor_are_views_at_their_offsets():
    """SPLIT into three 64-byte parts, each read by a kernel: no copies, no extra bytes."""
    tensors = [Tensor(0, "x", (192,), "int8")] + [Tensor(i, f"t{i}", (64,), "int8") for i in range(1, 7)]
    calls = [KernelCall("slice_bytes", None, (0,), (), (1 + i,), 0, alias_offset=64 * i) for i in range(3)]
    calls += [KernelCall("k", None, (1 + i,), (), (4 + i,), 1 + i) for i in range(3)]
    plan = plan_memory(Graph(tensors, [], (0,), (4, 5, 6)), calls)
    check_plan(plan)
    assert plan.elided_calls == {0, 1, 2}
    assert [plan.tensor_offsets[i] - plan.tensor_offsets[0] for i in (1, 2, 3)] == [0, 64, 128]
    # A slice that would break the alignment is copied instead.
    odd = [KernelCall("slice_bytes", None, (0,), (), (1,), 0, alias_offset=3), calls[3]]
    assert plan_memory(Graph(tensors, [], (0,), (4,)), odd).elided_calls == set()
