"""Repeated runs of kernel calls become loops: literals where an argument never changes, base + i * step where
an arena offset advances evenly, a table otherwise; short or mostly-varying runs stay straight-line."""

from __future__ import annotations

import numpy as np

from codegen.emit.c_source import emit_model
from codegen.emit.loops import MIN_REPEATS, Arg, Call, emit_calls
from codegen.frontend.model_zoo import mobilenet_v2
from codegen.memory.planner import plan_memory
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import expand_cached, split_points
from tools.host_model import HostModel


def _band(j: int, first_params: str = "kp") -> list[Call]:
    conv = Call("conv", (Arg("params", "conv_t", first_params), Arg("arena", "const int8_t *", offset=0),
                         Arg("weights", "int8_t", "kw"), Arg("arena", "int8_t *", offset=100 + 32 * j)), "op 1", 0)
    copy = Call("copy", (Arg("params", "copy_t", "kc"), Arg("arena", "const int8_t *", offset=[7, 3, 9][j % 3]),
                         Arg("arena", "int8_t *", offset=500)), "op 2", 0)
    return [conv, copy]


def _numbered(calls: list[Call]) -> list[Call]:
    return [Call(c.kernel, c.args, c.comment, k) for k, c in enumerate(calls)]


def test_a_run_of_bands_becomes_one_loop():
    calls = _numbered([Call("pad", (), "op 0", 0)] + [c for j in range(10) for c in _band(j, f"kp{j % 2}")])
    body, tables = emit_calls(calls)
    assert sum("for (uint32_t i = 0; i < 10u; ++i)" in line for line in body) == 1
    text = "\n".join(body)
    assert "conv(loop0_0_0[i], (const int8_t *)(model_arena + 0), kw, (int8_t *)(model_arena + 100 + i * 32u));" in text
    assert "copy(&kc, (const int8_t *)(model_arena + loop0_1_1[i]), (int8_t *)(model_arena + 500));" in text
    assert "MODEL_PROFILE_POINT(1u + i * 2u);" in text and "MODEL_PROFILE_POINT(2u + i * 2u);" in text
    assert sorted(tables) == [
        "static const conv_t *const loop0_0_0[10] = {&kp0, &kp1, &kp0, &kp1, &kp0, &kp1, &kp0, &kp1, &kp0, &kp1};",
        "static const uint32_t loop0_1_1[10] = {7u, 3u, 9u, 7u, 3u, 9u, 7u, 3u, 9u, 7u};",
    ]


def test_short_or_mostly_varying_runs_stay_straight():
    short = _numbered([c for j in range(MIN_REPEATS - 1) for c in _band(j)])
    assert not any("for (" in line for line in emit_calls(short)[0])
    varying = _numbered([Call("f", (Arg("params", "t", f"p{j}"), Arg("weights", "int8_t", f"w{j}")), "op", 0)
                         for j in range(12)])
    body, tables = emit_calls(varying)
    assert not tables and sum(line.startswith("    f(") for line in body) == 12


def test_cached_bands_in_loops_stay_exact():
    graph = fuse_pads(mobilenet_v2(0.35, 64, num_classes=10))
    calls = lower_graph(graph)
    x = np.random.default_rng(4).integers(-128, 128, graph.tensor(graph.inputs[0]).shape, dtype=np.int8)
    expected = run_reference(graph, [x], calls)[0]
    g, c = expand_cached(graph, calls, split_points(graph, calls)[3], 16, 1, stream_input=True)
    sources = emit_model(g, c, plan_memory(g, c), bytes(8))
    assert "for (uint32_t i = 0;" in sources.files["model.c"]
    np.testing.assert_array_equal(HostModel(g, sources.files).run([x])[0], expected)


def _patch(j: int) -> list:
    """A mixed-precision patch: its first convolution, then the VDPC branch (int8 body; low-bit body with a
    requantization, no profile point of its own)."""
    from codegen.emit.loops import Branch

    conv = Call("conv", (Arg("params", "conv_t", f"kp{j % 2}"), Arg("arena", "int8_t *", offset=64 * j)), "op 1", 0)
    check = Call("max_s8", (Arg("params", "w_t", "kw"), Arg("arena", "const int8_t *", offset=64 * j)), "vdpc", 0)
    dw = Call("dw", (Arg("arena", "const int8_t *", offset=64 * j), Arg("arena", "int8_t *", offset=900)), "op 2", 0)
    requant = Call("lowbit_requantize_s8", (Arg("params", "r_t", "kr"), Arg("arena", "int8_t *", offset=64 * j)),
                   "2 bits", 0, profiled=False)
    return [conv, Branch(check, 5, (dw,), (requant, dw))]


def _points(items: list) -> list:
    """Profile points in call order; the low-bit body reuses its int8 twins' points."""
    from codegen.emit.loops import Branch

    out, k = [], 0
    for item in items:
        if isinstance(item, Branch):
            check = Call(item.check.kernel, item.check.args, item.check.comment, k)
            high = tuple(Call(c.kernel, c.args, c.comment, k + 1 + n) for n, c in enumerate(item.high))
            twin = {c.kernel: h.point for c, h in zip(item.high, high, strict=True)}
            low = tuple(Call(c.kernel, c.args, c.comment, twin.get(c.kernel, 0), c.profiled) for c in item.low)
            out.append(Branch(check, item.threshold, high, low))
            k += 1 + len(high)
        else:
            out.append(Call(item.kernel, item.args, item.comment, k))
            k += 1
    return out


def test_patches_with_branches_fold_into_one_loop():
    body, tables = emit_calls(_points([item for j in range(8) for item in _patch(j)]))
    text = "\n".join(body)
    assert text.count("for (uint32_t i = 0; i < 8u; ++i)") == 1 and text.count("if (peak > 5)") == 1
    assert "const int32_t peak = max_s8(&kw, (const int8_t *)(model_arena + 0 + i * 64u));" in text
    assert "MODEL_PROFILE_POINT(1u + i * 3u);" in text and "MODEL_PROFILE_POINT(2u + i * 3u);" in text
    # the requantization reads and writes the patch's buffer and records no point
    assert "lowbit_requantize_s8(&kr, (int8_t *)(model_arena + 0 + i * 64u));\n" in text + "\n"
    assert text.count("dw((const int8_t *)(model_arena + 0 + i * 64u), (int8_t *)(model_arena + 900));") == 2
    assert sorted(tables) == ["static const conv_t *const loop0_0_0[8] = {&kp0, &kp1, &kp0, &kp1, &kp0, &kp1, "
                              "&kp0, &kp1};"]


def test_a_few_branches_stay_straight():
    body, _ = emit_calls(_points([item for j in range(MIN_REPEATS - 1) for item in _patch(j)]))
    text = "\n".join(body)
    assert "for (" not in text and text.count("if (peak > 5) {") == MIN_REPEATS - 1
    assert text.count("lowbit_requantize_s8(") == MIN_REPEATS - 1 and text.count("} else {") == MIN_REPEATS - 1
