"""A small model of issue 13's math operators (CONV_2D -> HARD_SWISH -> PRELU -> MAXIMUM with a constant,
then SUM over H and W and ARG_MAX over channels), written with tflite_writer, built into firmware, run in QEMU
on the nucleo-f746 twin and compared bit for bit with TFLite Micro and with tflite-runtime BUILTIN_REF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph, Quantization
from codegen.targets.boards import load_board
from tests.support.model_factory import GraphBuilder, per_tensor, run_builtin_ref, run_tflm
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


def math_ops_graph() -> Graph:
    rng = np.random.default_rng(13)
    b = GraphBuilder("math_ops")
    x = b.tensor("input", (1, 8, 8, 3), "int8", per_tensor(0.02, -5))
    w_scales = tuple(float(np.float32(s)) for s in rng.uniform(0.002, 0.006, size=6))
    filt = b.tensor("filter", (6, 3, 3, 3), "int8", Quantization(w_scales, (0,) * 6, 0),
                    rng.integers(-127, 128, size=(6, 3, 3, 3)))
    bias_q = Quantization(tuple(float(np.float32(0.02 * s)) for s in w_scales), (0,) * 6, 0)
    bias = b.tensor("bias", (6,), "int32", bias_q, rng.integers(-2000, 2000, size=6))
    conv = b.tensor("conv", (1, 8, 8, 6), "int8", per_tensor(0.03, -10))
    b.op("CONV_2D", (x, filt, bias), (conv,), padding="SAME", stride_h=1, stride_w=1, dilation_h=1,
         dilation_w=1, activation="NONE")
    hs = b.tensor("hard_swish", (1, 8, 8, 6), "int8", per_tensor(0.02, -100))
    b.op("HARD_SWISH", (conv,), (hs,))
    alpha = b.tensor("alpha", (6,), "int8", per_tensor(0.01, 0), rng.integers(-50, 50, size=6))
    pr = b.tensor("prelu", (1, 8, 8, 6), "int8", per_tensor(0.04, 0))
    b.op("PRELU", (hs, alpha), (pr,))
    floor = b.tensor("floor", (1, 1, 1, 6), "int8", per_tensor(0.04, 0), rng.integers(0, 20, size=6))
    mx = b.tensor("maximum", (1, 8, 8, 6), "int8", per_tensor(0.04, 0))
    b.op("MAXIMUM", (pr, floor), (mx,))
    axes = b.const_i32("axes", [1, 2])
    # Output zero point 0 and sums > 0: tflite-runtime 2.14's int8 SUM is wrong on negative outputs (TFLM is
    # right; tests/codegen/kernels/reduce/test_kernel_sum_max.py shows it), so here both runtimes are golden.
    out = b.tensor("sum", (1, 1, 1, 6), "int8", per_tensor(1.0, 0))
    b.op("SUM", (mx, axes), (out,), keep_dims=True)
    channel = b.const_i32("channel", [3])
    best = b.tensor("arg_max", (1, 8, 8), "int32")
    b.op("ARG_MAX", (mx, channel), (best,), output_type="int32")
    return b.build((x,), (out, best))


def test_math_ops_graph_lowers_to_the_new_kernels():
    from codegen.passes.lowering import lower_graph

    kernels = [c.kernel for c in lower_graph(math_ops_graph())]
    assert kernels[1:] == ["lut_s8", "prelu_s8", "maximum_s8", "mean_s8", "arg_min_max_s8_i32"]


@pytest.mark.emulator
def test_math_ops_firmware_is_bit_exact_with_tflm_and_tflite(tmp_path: Path):
    graph = math_ops_graph()
    model = tmp_path / "math_ops.tflite"
    model.write_bytes(write_tflite(graph))
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, size=(1, 8, 8, 3), dtype=np.int8) for _ in range(3)]
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    compiled = result.compiled
    outs = [compiled.graph.tensor(i) for i in compiled.graph.outputs]
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for x in inputs:
            raw, _ = emu.link.infer([x])
            tflm = run_tflm(model.read_bytes(), [x], graph)
            ref = run_builtin_ref(model.read_bytes(), [x])
            for k, out in enumerate(outs):
                got = np.frombuffer(raw[k], dtype=NUMPY_DTYPES[out.dtype]).reshape(out.shape)
                np.testing.assert_array_equal(got, tflm[k], err_msg=f"output {k} ({out.name}) differs from TFLM")
                np.testing.assert_array_equal(got, ref[k], err_msg=f"output {k} ({out.name}) differs from TFLite")
                assert len(np.unique(got)) > 2  # not saturated to a constant


def matmul_graph() -> Graph:
    """Two runtime operands (batch dims broadcast) -> BATCH_MATMUL -> L2_NORMALIZATION -> TANH ->
    SQUARED_DIFFERENCE with a constant -> REDUCE_MAX over the last axis, and ARG_MIN over it as a second output."""
    rng = np.random.default_rng(7)
    b = GraphBuilder("matmul_ops")
    lhs = b.tensor("lhs", (2, 6, 8), "int8", per_tensor(0.05, 1))
    rhs = b.tensor("rhs", (1, 8, 5), "int8", per_tensor(0.04, -2))
    mm = b.tensor("matmul", (2, 6, 5), "int8", per_tensor(1.0, 3))
    b.op("BATCH_MATMUL", (lhs, rhs), (mm,), adj_x=False, adj_y=False, asymmetric_quantize_inputs=False)
    unit = per_tensor(1.0 / 128, 0)
    l2 = b.tensor("l2", (2, 6, 5), "int8", unit)
    b.op("L2_NORMALIZATION", (mm,), (l2,), activation="NONE")
    th = b.tensor("tanh", (2, 6, 5), "int8", unit)
    b.op("TANH", (l2,), (th,))
    target = b.tensor("target", (5,), "int8", unit, rng.integers(-100, 100, size=5))
    sq_q = per_tensor(1.0 / 64, -128)
    sq = b.tensor("squared_difference", (2, 6, 5), "int8", sq_q)
    b.op("SQUARED_DIFFERENCE", (th, target), (sq,))
    last = b.const_i32("last", [2])
    mx = b.tensor("reduce_max", (2, 6), "int8", sq_q)
    b.op("REDUCE_MAX", (sq, last), (mx,), keep_dims=False)
    last_arg = b.const_i32("last_arg", [2])
    am = b.tensor("arg_min", (2, 6), "int32")
    b.op("ARG_MIN", (sq, last_arg), (am,), output_type="int32")
    return b.build((lhs, rhs), (mx, am))


@pytest.mark.emulator
def test_matmul_ops_firmware_is_bit_exact_with_tflm(tmp_path: Path):
    """TFLM only: tflite-runtime's int8 TANH is a float lookup table, not TFLM's fixed-point kernel."""
    graph = matmul_graph()
    model = tmp_path / "matmul_ops.tflite"
    model.write_bytes(write_tflite(graph))
    rng = np.random.default_rng(1)
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    compiled = result.compiled
    assert {"batch_matmul_s8", "l2_normalization_s8", "lut_s8", "squared_difference_s8", "reduce_max_s8",
            "arg_min_max_s8_i32"} <= {c.kernel for c in compiled.calls}
    outs = [compiled.graph.tensor(i) for i in compiled.graph.outputs]
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for _ in range(3):
            inputs = [rng.integers(-128, 128, size=(2, 6, 8), dtype=np.int8),
                      rng.integers(-128, 128, size=(1, 8, 5), dtype=np.int8)]
            raw, _ = emu.link.infer(inputs)
            tflm = run_tflm(model.read_bytes(), inputs, graph)
            for k, out in enumerate(outs):
                got = np.frombuffer(raw[k], dtype=NUMPY_DTYPES[out.dtype]).reshape(out.shape)
                np.testing.assert_array_equal(got, tflm[k], err_msg=f"output {k} ({out.name}) differs from TFLM")
                assert len(np.unique(got)) > 2
