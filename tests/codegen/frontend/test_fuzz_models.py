"""The model fuzzer: a short run over mutated small models ends every case in success or a clean error; the
harness itself tells crashes, hangs and dead workers apart; and every distinct crash the fuzzer found is
a regression test here, built from a generated model with the same mutation."""

from __future__ import annotations

import dataclasses
import os
import random
import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from codegen.errors import CodegenError
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from scripts.fuzz_models import (
    BUDGETS,
    TARGETS,
    Case,
    Outcome,
    compile_case,
    fuzz,
    load_seeds,
    make_case,
    report,
    run_case,
)
from scripts.fuzz_seeds import cnn_graph, elementwise_graph, float_io_graph
from scripts.model_mutations import field_sites, make_seed, mutate
from tests.conftest import SHARED_MODELS
from tests.support.model_factory import any_graph

# Real models that compile (or fail) in milliseconds: the CI run's seeds besides the generated ones.
SMALL_REAL = ("tflm_hello_world_int8", "tflm_simple_add_model", "tflm_network_tester_model",
              "tflm_micro_speech_quantized", "tflm_keyword_scrambled", "tinyengine_mnist_lenet300_100")
CI_CASES = 3000


def case_of(data: bytes, budget: int = BUDGETS[0]) -> Case:
    return Case(0, "test", "test", data, budget, TARGETS[0], False, True)


def test_short_fuzz_run_has_no_crash_and_no_hang():
    seeds = load_seeds(SHARED_MODELS, SMALL_REAL)  # the generated seeds alone when ../shared/models is absent
    assert len(seeds) == 3 + (len(SMALL_REAL) if SHARED_MODELS.is_dir() else 0)
    started = time.monotonic()
    tally = fuzz(seeds, seed=18, cases=CI_CASES, time_limit=30)
    text = report(tally, time.monotonic() - started)
    assert tally.cases == CI_CASES
    assert tally.kinds["crash"] == 0 and tally.kinds["hang"] == 0, text
    # The run reaches the planner and the emitter, not only the flatbuffer checks.
    assert tally.kinds["ok"] >= CI_CASES // 20, text
    assert tally.kinds["clean"] >= CI_CASES // 2, text


def test_cases_are_the_same_bytes_on_every_run():
    seeds = load_seeds(None)
    assert make_case(seeds, 3, 41) == make_case(seeds, 3, 41)
    assert make_case(seeds, 3, 41).data != make_case(seeds, 3, 42).data
    assert make_case(seeds, 3, 0).description == "unmutated"


@given(graph=any_graph())
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutations_of_hypothesis_models_end_cleanly(graph):
    """Models the kernel tests generate, written with tflite_writer, then mutated: in process, 25 each."""
    seed = make_seed(graph.name, write_tflite(graph))
    assert run_case(case_of(seed.data)).kind == "ok"
    rng = random.Random(graph.name + str(len(seed.data)))
    for _ in range(25):
        data, description = mutate(seed, seed, rng)
        outcome = run_case(case_of(data, rng.choice(BUDGETS)))
        assert outcome.kind in ("ok", "clean"), f"{description}: {outcome.summary}\n{outcome.details}"


# ---- the harness tells outcomes apart -------------------------------------------------------------------


def _misbehaving(case: Case) -> Outcome:
    if case.index == 3:
        raise KeyError("missing")  # a crash inside the case
    if case.index == 5:
        time.sleep(60)  # a hang
    if case.index == 7:
        os._exit(9)  # the worker dies (as under the kernel's OOM killer)
    return Outcome("ok", "compiled")


def _reporting(case: Case) -> Outcome:
    try:
        return _misbehaving(case)
    except Exception as exc:
        return Outcome("crash", f"{type(exc).__name__} in case {case.index}")


def test_harness_counts_crashes_hangs_and_dead_workers_and_carries_on():
    tally = fuzz(load_seeds(None), seed=0, cases=10, time_limit=5, chunk=10, run=_reporting)
    assert tally.cases == 10
    assert tally.kinds == {"ok": 7, "crash": 2, "hang": 1}
    found = {outcome.summary: case.index for case, outcome in tally.crashes.values()}
    assert found == {"KeyError in case 3": 3, "no result within 5 s": 5, "worker died (exit code 9)": 7}


def test_run_case_calls_anything_but_a_codegen_error_a_crash():
    assert run_case(case_of(write_tflite(cnn_graph()))).kind == "ok"
    assert run_case(case_of(b"\x00" * 16)).kind == "clean"
    outcome = run_case(case_of(None))  # type: ignore[arg-type]
    assert outcome.kind == "crash" and outcome.summary.startswith("TypeError at ")


# ---- regressions: one per distinct crash the fuzzer found -----------------------------------------------


def _patch(data: bytes, what: str, value: int) -> bytes:
    sites, _ = field_sites(data)
    site = next(s for s in sites if s.what == what)
    raw = (value & ((1 << (8 * site.width)) - 1)).to_bytes(site.width, "little")
    return data[: site.pos] + raw + data[site.pos + site.width:]


def fc_graph() -> Graph:
    """hello_world's last layer: weights of the input's shape, so a fuzzed input index can name them."""
    q = Quantization((0.05,), (0,))
    tensors = [Tensor(0, "x", (1, 16), "int8", q),
               Tensor(1, "w", (1, 16), "int8", q, np.arange(16, dtype=np.int8).reshape(1, 16)),
               Tensor(2, "y", (1, 1), "int8", Quantization((0.5,), (3,)))]
    op = Operator(0, "FULLY_CONNECTED", (0, 1, -1), (2,), {"activation": "NONE", "weights_format": 0})
    return Graph(tensors, [op], (0,), (2,), name="fc")


FOUND = [
    # ValueError (unpacking no outputs) in elementwise.py and logistic.py: an operator with 0 outputs.
    (elementwise_graph, "operator 0 outputs length", 0, "operator 0 (ADD) has no outputs"),
    (elementwise_graph, "operator 5 outputs length", 0, "operator 5 (LOGISTIC) has no outputs"),
    # KeyError in memory_plan.py: the graph input renamed to a tensor an operator writes.
    (cnn_graph, "graph inputs[0]", 2, "operator 0 (PAD) reads tensor 0"),
    # KeyError in emit_c.py: an operator writing a tensor an earlier one wrote.
    (float_io_graph, "operator 1 outputs[0]", 1, "operator 1 (QUANTIZE) writes tensor 1"),
    # ZeroDivisionError in depthwise_conv2d.py: an input with 0 channels (2^62 read as int32).
    (cnn_graph, "tensor 5 shape[3]", 2**62, "operator 2 (DEPTHWISE_CONV_2D): unsupported with an empty input"),
    # ValueError in ir.py (PAD read the scale and zero point of an unquantized int8 tensor).
    (float_io_graph, "tensor 5 scale length", 0, "PAD whose output is not per-tensor quantized"),
    # KeyError in emit_c.py: FULLY_CONNECTED taking a constant (its own weights) as its activation input.
    (fc_graph, "operator 0 inputs[0]", 1, "operator 0 (FULLY_CONNECTED): unsupported with constant tensor 1"),
    # ValueError in fuse_pad.py (long run, case 10859): a PAD padding a per-channel filter before a conv.
    (cnn_graph, "operator 0 inputs[0]", 3, "operator 0 (PAD): unsupported PAD whose input is not per-tensor"),
    # gcc -Werror=overflow (issue 18 item 10): a zero point far outside int8.
    (elementwise_graph, "tensor 2 zero point[0]", -14293651161216, "zero point -14293651161216"),
]


@pytest.mark.parametrize("dtype", ["bool", "int64"])
def test_reshape_of_types_the_emitter_cannot_spell_is_refused(dtype):
    # KeyError in emit_c.py (found by hand while reading the emitter): RESHAPE of a bool or int64 tensor.
    t = [Tensor(0, "x", (1, 4), dtype), Tensor(1, "y", (4,), dtype)]
    data = write_tflite(Graph(t, [Operator(0, "RESHAPE", (0,), (1,))], (0,), (1,), name="r"))
    with pytest.raises(CodegenError) as info:
        compile_case(case_of(data))
    assert f"operator 0 (RESHAPE): unsupported RESHAPE of {dtype}" in " ".join(info.value.lines())


@pytest.mark.parametrize("make,what,value,phrase", FOUND, ids=[f"{m.__name__}: {w}" for m, w, _, _ in FOUND])
def test_found_crashes_are_clean_errors(make, what, value, phrase):
    case = case_of(_patch(write_tflite(make()), what, value))
    with pytest.raises(CodegenError) as info:
        compile_case(case)
    assert phrase in " ".join(info.value.lines())
    assert run_case(case).kind == "clean"


def test_patch_helper_writes_the_field_it_names():
    data = _patch(write_tflite(cnn_graph()), "tensor 5 shape[1]", 9)
    sites, _ = field_sites(data)
    site = next(s for s in sites if s.what == "tensor 5 shape[1]")
    assert struct.unpack_from("<i", data, site.pos)[0] == 9


def test_pad_before_a_convolution_with_a_malformed_filter_is_left_to_the_lowering():
    # IndexError in fuse_pad.py (found while fixing the PAD one): a SAME convolution after a PAD, filter rank 2.
    g = cnn_graph()
    w = g.tensors[3]
    tensors = list(g.tensors)
    tensors[3] = dataclasses.replace(w, shape=(4, 27), data=w.data.reshape(4, 27))
    ops = list(g.operators)
    ops[1] = dataclasses.replace(ops[1], options={**ops[1].options, "padding": "SAME"})
    data = write_tflite(dataclasses.replace(g, tensors=tensors, operators=ops))
    with pytest.raises(CodegenError) as info:
        compile_case(case_of(data))
    assert "operator 1 (CONV_2D): unsupported with a rank-2 filter" in " ".join(info.value.lines())
