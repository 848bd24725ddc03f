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
    """Random DAGs: each call reads 1-2 earlier tensors and writes one new tensor."""
    n_calls = draw(st.integers(1, 14))
    tensors = [Tensor(0, "in", (draw(st.integers(1, 300)),), "int8")]
    calls = []
    for step in range(n_calls):
        k = draw(st.integers(1, min(2, len(tensors))))
        inputs = tuple(draw(st.lists(st.integers(0, len(tensors) - 1), min_size=k, max_size=k, unique=True)))
        kind = draw(st.sampled_from(["op", "elementwise", "reshape"]))
        src_size = tensors[inputs[0]].size
        size = src_size if kind != "op" else draw(st.integers(1, 300))
        out = len(tensors)
        tensors.append(Tensor(out, f"t{out}", (size,), "int8"))
        calls.append(KernelCall(
            "copy_bytes" if kind == "reshape" else "k",
            None,
            inputs[:1] if kind == "reshape" else inputs,
            (),
            (out,),
            step,
            scratch_bytes=draw(st.sampled_from([0, 0, 64])),
            in_place=kind != "op",
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
    content = {}  # tensor -> the value we expect to read back

    def write(t, value):
        off = plan.tensor_offsets[t]
        arena[off : off + graph.tensor(t).nbytes] = value
        content[t] = value

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
            content[call.outputs[0]] = content[call.inputs[0]]  # an alias: same bytes, same value
        else:
            write(call.outputs[0], 1000 + step)
    for t in graph.outputs:
        check(t)


def test_reshape_is_elided_and_elementwise_is_in_place():
    tensors = [Tensor(i, f"t{i}", (64,), "int8") for i in range(4)]
    calls = [
        KernelCall("k", None, (0,), (), (1,), 0),
        KernelCall("copy_bytes", None, (1,), (), (2,), 1, in_place=True),
        KernelCall("add", None, (2,), (), (3,), 2, in_place=True),
    ]
    plan = plan_memory(Graph(tensors, [], (0,), (3,)), calls)
    assert plan.elided_calls == {1}
    assert plan.tensor_offsets[1] == plan.tensor_offsets[2] == plan.tensor_offsets[3]
    assert plan.arena_bytes == 128
