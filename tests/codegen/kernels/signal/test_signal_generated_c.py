"""Signal ops in generated C (host build): the preprocessor's front over all 49 golden frames against TFLM,
and a Framer -> OverlapAdd -> Delay chain whose three states sit in model_state, carried across invokes and
zeroed by model_reset()."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Tensor
from codegen.pipeline import compile_graph
from tests.codegen.kernels.signal.signal_support import assert_equal, run_ref, run_tflm, run_tflm_sequence
from tests.codegen.kernels.signal.test_fft import PREPROCESSOR, VECTORS, _front
from tools.host_model import HostModel


def test_preprocessor_front_in_generated_c() -> None:
    if not PREPROCESSOR.is_file() or not VECTORS.is_file():
        pytest.skip(f"{PREPROCESSOR.name} or its vectors are absent")
    front = _front(read_tflite(PREPROCESSOR))
    compiled = compile_graph(front, write_tflite(front))
    assert compiled.plan.state_bytes == 0
    model = HostModel(compiled.graph, compiled.sources.files)
    start, end = front.operators[4].options["start_index"], front.operators[4].options["end_index"]
    for i, frame in enumerate(np.load(VECTORS)["in0"]):
        got, expected = model.run([frame]), run_tflm(front, [frame])
        assert_equal(got[0][start:end], expected[0][start:end], f"frame {i} energy")
        assert int(got[1].reshape(-1)[0]) == int(expected[1]), f"frame {i} scale bits"


def _chain() -> Graph:
    tensors = [
        Tensor(0, "x", (8,), "int16"),
        Tensor(1, "frames", (2, 10), "int16"),
        Tensor(2, "valid", (), "bool"),
        Tensor(3, "added", (8,), "int16"),
        Tensor(4, "y", (8,), "int16"),
    ]
    ops = [
        Operator(0, "CUSTOM:SignalFramer", (0,), (1, 2), {"frame_size": 10, "frame_step": 4, "prefill": True}),
        Operator(1, "CUSTOM:SignalOverlapAdd", (1,), (3,), {"T": 7, "frame_step": 4}),
        Operator(2, "CUSTOM:SignalDelay", (3,), (4,), {"delay_length": 3}),
    ]
    return Graph(tensors, ops, (0,), (4, 2), name="framing_chain")


def test_framing_chain_state_in_generated_c() -> None:
    rng = np.random.default_rng(3)
    xs = [rng.integers(-9000, 9000, (8,)).astype(np.int16) for _ in range(6)]
    expected = run_tflm_sequence(_chain(), [[x] for x in xs])
    graph = _chain()
    compiled = compile_graph(graph, write_tflite(_chain()))
    # Framer: 10 history samples + a count; OverlapAdd: a 10-sample buffer; Delay: 3 samples (8-byte aligned).
    assert compiled.plan.state_bytes == 24 + 8 + 24 + 8
    assert "model_state + " in compiled.sources.files["model.c"]
    model = HostModel(compiled.graph, compiled.sources.files)
    state: dict[int, np.ndarray] = {}
    outs = []
    for i, (x, exp) in enumerate(zip(xs, expected, strict=True)):
        got, ref = model.run([x]), run_ref(graph, [x], state=state)
        assert_equal(got[0], exp[0], f"invoke {i}: generated C vs TFLM")
        assert_equal(ref[0], exp[0], f"invoke {i}: reference vs TFLM")
        assert bool(got[1].reshape(-1)[0]) and bool(exp[1])
        outs.append(got[0].copy())
    assert len({o.tobytes() for o in outs}) > 1
    model.reset()
    assert_equal(model.run([xs[0]])[0], outs[0], "after model_reset(), the first output again")
    assert_equal(model.run([xs[1]])[0], outs[1], "and the second")


def test_unsigned_constants_compile_as_unsigned_literals(tmp_path) -> None:
    """uint32/uint64 tensors (the signal ops' energies and filter-bank sums) as flash constants: 2^64 - 1 as a
    plain decimal is 'so large that it is unsigned', an error under -Werror."""
    import subprocess

    from codegen.emit.c_source import _format_values

    lines = _format_values(np.array([0, 2**64 - 1, 2**63], np.uint64))
    lines32 = _format_values(np.array([2**32 - 1, 5], np.uint32))
    source = tmp_path / "u.c"
    source.write_text("#include <stdint.h>\nconst uint64_t a[] = {\n" + "\n".join(lines) + "\n};\n"
                      "const uint32_t b[] = {\n" + "\n".join(lines32) + "\n};\n")
    done = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(source), "-o",
                           str(tmp_path / "u.o")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
