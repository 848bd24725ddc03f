"""Fast ADD (DSP extension): the specialized call is bit-exact with add_s8.

Levels: the identities the kernel rests on, against codegen.kernels.fixedpoint; the NumPy reference of the fast kernel
(computed from the specialized constants) against add_s8_ref, which test_kernel_elementwise.py checks against
TFLite Micro, on all 256 x 256 input pairs at once; the C kernel on the host (portable SMMLAR emulation)
against both, also in place and with constant operands; firmware with the real instructions, on a Cortex-M7
and a Cortex-M4 in QEMU, against the reference executor.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.kernels import SPECIALIZERS
from codegen.kernels.arithmetic.add_dsp import EXACT_MULTIPLIER, KERNEL, add_s8_dsp_ref, specialize_add
from codegen.kernels.arithmetic.elementwise import add_params, add_s8_ref
from codegen.kernels.base import KernelCall
from codegen.kernels.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import load_board
from codegen.targets.core import HOST
from tests.codegen.kernels.conv.test_kernel_fully_connected_dsp import _emulator_boards
from tests.support.fast_firmware import build_with_fast_kernels
from tests.support.model_factory import GraphBuilder, f32, per_tensor
from tools.build import EMULATED_DIR
from tools.host_model import HostModel
from tools.link.emulator import Emulator

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
INT32 = st.integers(INT32_MIN, INT32_MAX)
# Every pair of int8 operands once: the kernel is element-wise, so this is exhaustive for a call's constants.
PAIRS = (np.repeat(np.arange(-128, 128), 256).astype(np.int8), np.tile(np.arange(-128, 128), 256).astype(np.int8))
SHAPE = (256, 256)


# ---------------------------------------------------------------------------------------------------------
# The identities (see codegen/kernels/arithmetic/add_dsp.py)


@settings(max_examples=500)
@given(INT32, INT32)
def test_srdhm_is_a_floor_and_smmulr_of_twice(a, b):
    assume(not a == b == INT32_MIN)
    srdhm = int(saturating_rounding_doubling_high_mul(a, b))
    assert srdhm == (a * b + 2**30) >> 31
    if -(2**30) <= a < 2**30:
        assert srdhm == (2 * a * b + 2**31) >> 32  # SMMULR(2a, b); SMMLAR adds its accumulator on top


@settings(max_examples=500)
@given(st.integers(-(2**30), 2**30), st.integers(0, 31))
def test_rdbp_adds_a_half_minus_the_sign_then_shifts(x, e):
    expected = x if e == 0 else (x + (1 << (e - 1)) - (x < 0)) >> e
    assert int(rounding_divide_by_pot(x, e)) == expected


@settings(max_examples=500)
@given(st.integers(-(2**30), 2**30 - 1), st.integers(1, INT32_MAX), st.integers(1, 31))
def test_the_multiplicands_sign_can_stand_for_the_products(a, b, e):
    """SRDHM(a, b > 0) has a's sign or is 0, where the misplaced -1 vanishes in the rounding."""
    x = int(saturating_rounding_doubling_high_mul(a, b))
    assert x == 0 or (x < 0) == (a < 0)
    assert (x + (1 << (e - 1)) - (a < 0)) >> e == int(rounding_divide_by_pot(x, e))


@settings(max_examples=300)
@given(st.floats(-20, 20), st.floats(-20, 20), st.floats(-3, 3))
def test_the_larger_scale_operand_needs_no_multiply(log1, log2, log_out):
    s1, s2 = f32(2.0**log1), f32(2.0**log2)
    p = add_params(s1, s2, f32(max(s1, s2) * 2.0**log_out))
    pairs = [(p["input1_multiplier"], p["input1_shift"]), (p["input2_multiplier"], p["input2_shift"])]
    assert pairs[0 if s1 >= s2 else 1] == (EXACT_MULTIPLIER, 0)
    # A shift of 0 comes with the multiplier of exactly one half, or 0 (scales over 2^32 apart: TFLite
    # flushes the multiplier, the specializer refuses it): the other operand is scaled unless the scales are
    # equal.
    assert all(m in (EXACT_MULTIPLIER, 0) for m, shift in pairs if shift == 0)
    assert (pairs[0] == pairs[1] == (EXACT_MULTIPLIER, 0)) == (s1 == s2)


def test_exact_operand_is_a_shift():
    k = np.arange(-255, 256, dtype=np.int64)  # (x + offset) for int8 x and offsets in [-127, 128]
    np.testing.assert_array_equal(saturating_rounding_doubling_high_mul(k << 20, EXACT_MULTIPLIER), k << 19)


# ---------------------------------------------------------------------------------------------------------
# Calls as the lowering makes them, on every input pair


def add_graph(qa: tuple[float, int], qb: tuple[float, int], qo: tuple[float, int], activation: str = "NONE",
              const: str = "none") -> tuple[Graph, list[np.ndarray]]:  # fmt: skip
    """One ADD of two 256 x 256 operands whose elements run through every int8 pair; const: "a" or "b" makes
    that operand a constant. Returns the graph and its input values."""
    b = GraphBuilder("add")
    a_t = b.tensor("a", SHAPE, "int8", per_tensor(*qa), PAIRS[0] if const == "a" else None)
    b_t = b.tensor("b", SHAPE, "int8", per_tensor(*qb), PAIRS[1] if const == "b" else None)
    y = b.tensor("y", SHAPE, "int8", per_tensor(*qo))
    b.op("ADD", (a_t, b_t), (y,), activation=activation)
    inputs = tuple(t for t, name in ((a_t, "a"), (b_t, "b")) if name != const)
    return b.build(inputs, (y,)), [PAIRS[0 if name == "a" else 1] for name in ("a", "b") if name != const]


def check_fast(host_runtime, graph: Graph, values: list[np.ndarray]) -> KernelCall:
    """The fast call against add_s8 for the graph's single ADD: NumPy, C, and C in place when offered."""
    (call,) = lower_graph(graph)
    fast = specialize_add(call, graph, HOST)
    assert fast is not None and fast.kernel == KERNEL
    assert (fast.inputs, fast.consts, fast.outputs, fast.in_place, fast.op_index) == (
        call.inputs, call.consts, call.outputs, call.in_place, call.op_index)  # fmt: skip
    args = [v.reshape(SHAPE) for v in values] + [c.data for c in call.consts]
    expected = add_s8_ref(call.params, *args).reshape(SHAPE)
    np.testing.assert_array_equal(add_s8_dsp_ref(fast.params, *args).reshape(SHAPE), expected)
    np.testing.assert_array_equal(host_runtime.run(KERNEL, fast.params, args, SHAPE, np.int8), expected)
    if fast.in_place:
        buf = args[0].copy()
        host_runtime.run(KERNEL, fast.params, [buf, *args[1:]], SHAPE, np.int8, out=buf)
        np.testing.assert_array_equal(buf, expected)
    return fast


@st.composite
def add_cases(draw):
    """Output scale 2^-8..2^-2; input scales 2^-6..2^6 of it, a fifth of the time equal; zero points often at
    the extremes; sometimes a constant operand."""
    zero_point = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
    so = 2.0 ** draw(st.floats(-8, -2))
    sa = so * 2.0 ** draw(st.floats(-6, 6))
    sb = sa if draw(st.integers(0, 4)) == 0 else so * 2.0 ** draw(st.floats(-6, 6))
    quants = [(sa, draw(zero_point)), (sb, draw(zero_point)), (so, draw(zero_point))]
    return add_graph(*quants, draw(st.sampled_from(ACTIVATIONS)), draw(st.sampled_from(["none"] * 4 + ["a", "b"])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(add_cases())
def test_fast_add_matches_portable(host_runtime, case):
    graph, values = case
    (call,) = lower_graph(graph)
    p = call.params
    g_shift, out_shift = max(-p.input1_shift, -p.input2_shift), -p.output_shift
    if specialize_add(call, graph, HOST) is None:
        # Only the documented overflows: E's offset at a shift >= 5, the output offset at a shift >= 24.
        assert g_shift >= 5 or out_shift >= 24
        return
    check_fast(host_runtime, graph, values)


@pytest.mark.parametrize("activation", ["NONE", "RELU6"])
@pytest.mark.parametrize(
    ("scales", "swap", "scaled", "g_shift"),
    [((0.02, 0.05), 1, 1, 2), ((0.05, 0.02), 0, 1, 2), ((0.03, 0.03), 0, 0, 0), ((0.1, 0.1 / 15.5), 0, 1, 4)],
)
@pytest.mark.parametrize("zero_points", [(-128, 127, -128), (127, -128, 127), (5, -3, 0)])
def test_every_mode_matches_portable(host_runtime, scales, swap, scaled, g_shift, activation, zero_points):
    """Either operand the exact one, equal scales (both exact: multiplier 2^30, shift 0), the largest scale
    ratio whose E offset always fits (shift 4), with and without clamping, at the extreme zero points."""
    (za, zb, zo), (sa, sb) = zero_points, scales
    fast = check_fast(host_runtime, *add_graph((sa, za), (sb, zb), (0.06, zo), activation))
    assert (fast.params.swap, fast.params.scaled, fast.params.g_shift) == (swap, scaled, g_shift)


@pytest.mark.parametrize("const", ["a", "b"])
def test_constant_operands(host_runtime, const):
    """Consts follow the inputs in C argument order; a constant first operand is swapped in by the lowering."""
    graph, values = add_graph((0.02, 7), (0.05, -100), (0.06, 3), "RELU", const)
    fast = check_fast(host_runtime, graph, values)
    assert fast.inputs == (1 if const == "a" else 0,) and len(fast.consts) == 1


# ---------------------------------------------------------------------------------------------------------
# Refusals


def _call(qa, qb, qo, **changes) -> KernelCall:
    (call,) = lower_graph(add_graph(qa, qb, qo)[0])
    return dataclasses.replace(call, params=dataclasses.replace(call.params, **changes))


def test_registered_for_add_s8():
    assert SPECIALIZERS["add_s8"] is specialize_add


def test_broadcast_is_refused():
    b = GraphBuilder("add_broadcast")
    x = b.tensor("x", (1, 4, 4, 8), "int8", per_tensor(0.02, 1))
    c = b.tensor("c", (8,), "int8", per_tensor(0.05, 2), np.arange(8))
    y = b.tensor("y", (1, 4, 4, 8), "int8", per_tensor(0.06, 0))
    b.op("ADD", (x, c), (y,), activation="NONE")
    graph = b.build((x,), (y,))
    (call,) = lower_graph(graph)
    assert call.params.broadcast and specialize_add(call, graph, HOST) is None


@pytest.mark.parametrize(
    "changes",
    [
        dict(left_shift=15),  # the int16 variant's headroom
        dict(output_shift=0),  # no rounding to fold the output offset into
        dict(output_shift=2),
        dict(input1_multiplier=EXACT_MULTIPLIER + 1),  # neither operand exact
        dict(input1_shift=-1),
        dict(input2_shift=0),  # G unscaled but not exact
        dict(input2_shift=1),
        dict(input2_multiplier=0, input2_shift=0),  # TFLite's flush to 0 of a multiplier below 2^-31
    ],
)
def test_parameters_the_lowering_does_not_make_are_refused(changes):
    qa, qb, qo = (0.05, 0), (0.02, 0), (0.06, 0)
    assert specialize_add(_call(qa, qb, qo), None, HOST) is not None
    assert specialize_add(_call(qa, qb, qo, **changes), None, HOST) is None


def test_offset_folds_that_overflow_are_refused(host_runtime):
    """E's offset * 2^(19 + 5) overflows int32 at offset 128 (zero point -128) and fits at 64; the output zero
    point * 2^24 overflows with the output's rounding at -128 and fits at 0. The accepted ones are exact."""
    graph, _ = add_graph((1.0, -128), (1.0 / 20, 0), (4.0, 0))  # G's shift 5
    (call,) = lower_graph(graph)
    assert -call.params.input2_shift == 5 and specialize_add(call, graph, HOST) is None
    check_fast(host_runtime, *add_graph((1.0, -64), (1.0 / 20, 0), (4.0, 0)))
    graph, _ = add_graph((0.01, 0), (0.005, 0), (0.48, -128))  # output shift 24
    (call,) = lower_graph(graph)
    assert -call.params.output_shift == 24 and specialize_add(call, graph, HOST) is None
    check_fast(host_runtime, *add_graph((0.01, 0), (0.005, 0), (0.48, 0)))


# ---------------------------------------------------------------------------------------------------------
# Real models and firmware


def test_resnet8_on_host_matches_golden(shared_models):
    name = "mlperf_ic_resnet8_int8"
    path = shared_models / f"{name}.tflite"
    compiled = compile_graph(read_tflite(path), path.read_bytes(), HOST)
    kernels = [c.kernel for c in compiled.calls]
    assert kernels.count(KERNEL) == 3 and "add_s8" not in kernels
    vec = np.load(shared_models / "vectors" / f"{name}.npz")
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([vec["in0"]])
    np.testing.assert_array_equal(got, vec["out0"])


def add_chain_graph() -> Graph:
    """ADDs through every mode: input1 exact, input2 exact with a RELU6 clamp, equal scales (one tensor twice),
    a constant second operand with a RELU clamp, a constant first one (swapped by the lowering), each of the
    last three in place on its dying input; then a broadcast that stays portable."""
    rng = np.random.default_rng(3)
    shape = (1, 6, 5, 12)
    b = GraphBuilder("add_chain")
    x1 = b.tensor("x1", shape, "int8", per_tensor(0.05, -128))
    x2 = b.tensor("x2", shape, "int8", per_tensor(0.02, 9))
    y1 = b.tensor("y1", shape, "int8", per_tensor(0.06, 3))
    b.op("ADD", (x1, x2), (y1,), activation="NONE")
    y2 = b.tensor("y2", shape, "int8", per_tensor(0.04, -128))
    b.op("ADD", (x2, y1), (y2,), activation="RELU6")
    y3 = b.tensor("y3", shape, "int8", per_tensor(0.07, -5))
    b.op("ADD", (y2, y2), (y3,), activation="NONE")
    c1 = b.tensor("c1", shape, "int8", per_tensor(0.03, 127), rng.integers(-128, 128, shape))
    y4 = b.tensor("y4", shape, "int8", per_tensor(0.05, 20))
    b.op("ADD", (y3, c1), (y4,), activation="RELU")
    c2 = b.tensor("c2", shape, "int8", per_tensor(0.11, -7), rng.integers(-128, 128, shape))
    y5 = b.tensor("y5", shape, "int8", per_tensor(0.09, 0))
    b.op("ADD", (c2, y4), (y5,), activation="NONE")
    c3 = b.tensor("c3", (12,), "int8", per_tensor(0.02, 0), rng.integers(-128, 128, 12))
    y6 = b.tensor("y6", shape, "int8", per_tensor(0.1, -1))
    b.op("ADD", (y5, c3), (y6,), activation="NONE")
    return b.build((x1, x2), (y6,))


def test_add_chain_covers_every_mode(host_runtime):
    graph = add_chain_graph()
    fast = [specialize_add(c, graph, HOST) for c in lower_graph(graph)]
    assert all(f is not None for f in fast[:5]) and fast[5] is None
    modes = {(f.params.swap, f.params.scaled, f.params.act_min > -128 or f.params.act_max < 127) for f in fast[:5]}
    assert {(0, 1, False), (1, 1, True), (0, 0, False), (0, 1, True)} <= modes
    assert [len(f.consts) for f in fast[:5]] == [0, 0, 0, 1, 1]
    rng = np.random.default_rng(0)
    x = [rng.integers(-128, 128, graph.tensor(i).shape).astype(np.int8) for i in graph.inputs]
    (expected,) = run_reference(graph, x)
    assert len(np.unique(expected)) > 20
    compiled = compile_graph(graph, write_tflite(graph), HOST)
    assert [c.kernel for c in compiled.calls] == [KERNEL] * 5 + ["add_s8"]
    (got,) = HostModel(compiled.graph, compiled.sources.files).run(x)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", _emulator_boards())
def test_firmware_add_chain_matches_reference(board_name, tmp_path: Path):
    graph = add_chain_graph()
    board = load_board(board_name)
    result = build_with_fast_kernels(graph, board, tmp_path)
    assert [c.kernel for c in result.compiled.calls].count(KERNEL) == 5, "the fast kernel was not chosen"
    rng = np.random.default_rng(12)
    for _ in range(3):
        x = [rng.integers(-128, 128, graph.tensor(i).shape).astype(np.int8) for i in graph.inputs]
        with Emulator(result.out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine) as emu:
            emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
            raw, _ = emu.link.infer(x)
        got = np.frombuffer(raw[0], dtype=np.int8).reshape(graph.tensor(graph.outputs[0]).shape)
        (expected,) = run_reference(graph, x)
        np.testing.assert_array_equal(got, expected, err_msg=f"add_chain on {board_name}")
