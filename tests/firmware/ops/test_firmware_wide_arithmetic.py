"""int32 and float32 arithmetic (DIV, MUL, SUB, MAXIMUM, CAST) as firmware on the nucleo-f746 twin (Cortex-M7,
single-precision FPU) in QEMU: bit for bit TFLite Micro, as on the host."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.targets.boards import load_board
from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import run_tflm
from tools.build import EMULATED_DIR, build
from tools.link.emulator import Emulator


def wide_graph() -> Graph:
    b = GraphBuilder("wide_arithmetic")
    a, d = b.tensor("a", (2, 3), "int32"), b.tensor("d", (3,), "int32")
    q = b.tensor("quotient", (2, 3), "int32")
    b.op("DIV", (a, d), (q,), activation="NONE")
    m = b.tensor("product", (2, 3), "int32")
    b.op("MUL", (q, d), (m,), activation="NONE")
    r = b.tensor("remainder", (2, 3), "int32")
    b.op("SUB", (a, m), (r,), activation="NONE")
    f = b.tensor("as_float", (2, 3), "float32")
    b.op("CAST", (a,), (f,))
    c = b.tensor("c", (1, 3), "float32", data=np.array([[3.0, -7.0, 0.1]], np.float32))
    g = b.tensor("ratio", (2, 3), "float32")
    b.op("DIV", (f, c), (g,), activation="NONE")
    floor = b.tensor("floor", (), "float32", data=np.float32(-1e6))
    out = b.tensor("out", (2, 3), "float32")
    b.op("MAXIMUM", (g, floor), (out,))
    return b.build((a, d), (r, out))


@pytest.mark.emulator
def test_wide_arithmetic_firmware_is_bit_exact_with_tflm(tmp_path: Path):
    graph = wide_graph()
    model = tmp_path / "wide_arithmetic.tflite"
    model.write_bytes(write_tflite(graph))
    rng = np.random.default_rng(5)
    invokes = [[rng.integers(-(2**31) + 1, 2**31, (2, 3)).astype(np.int32),
                np.where((v := rng.integers(-1000, 1000, 3)) == 0, 3, v).astype(np.int32)] for _ in range(4)]
    want = run_tflm(graph, invokes)
    result = build(model, load_board("nucleo-f746"), tmp_path / "build", measure_run=False)
    compiled = result.compiled
    outs = [compiled.graph.tensor(i) for i in compiled.graph.outputs]
    with Emulator(tmp_path / "build" / EMULATED_DIR / "firmware.elf") as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name)
        for k, inputs in enumerate(invokes):
            raw, _ = emu.link.infer(inputs)
            for j, out in enumerate(outs):
                got = np.frombuffer(raw[j], dtype=NUMPY_DTYPES[out.dtype]).reshape(out.shape)
                np.testing.assert_array_equal(got.view(np.uint8), want[k][j].view(np.uint8),
                                              err_msg=f"invoke {k} output {j} ({out.name})")
