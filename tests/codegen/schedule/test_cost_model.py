"""The instruction cost model: fitting, prediction, its use by specialisation, and per-call profiling."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.errors import DeviceError
from codegen.frontend.tflite_reader import read_tflite
from codegen.kernels import SPECIALIZERS
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import specialize
from codegen.pipeline import compile_file
from codegen.schedule import cost_model
from codegen.schedule.cost_model import FEATURES, CostModel, Sample, fit, kernel_key
from codegen.targets.boards import load_board
from codegen.targets.core import HOST, PORTABLE, Target
from tools.build import EMULATED_DIR, build, per_call
from tools.link.emulator import Emulator

TRUE = {"conv2d_s8": (1.5, 0.0, 2.0, 300.0), "copy_window": (0.0, 3.0, 0.0, 80.0)}


def synthetic(rng: np.random.Generator) -> list[Sample]:
    samples = []
    for key, coef in TRUE.items():
        for _ in range(12):
            f = (float(rng.integers(0, 10**6)), float(rng.integers(1, 10**4)), float(rng.integers(1, 10**4)), 1.0)
            samples.append(Sample(key, f, float(np.dot(coef, f))))
    return samples


def test_fit_recovers_known_coefficients() -> None:
    model = fit(synthetic(np.random.default_rng(1)), board="b", core="c")
    for key, coef in TRUE.items():
        np.testing.assert_allclose(model.coefficients[key], coef, rtol=1e-6, atol=1e-6)
    assert model.samples == {"conv2d_s8": 12, "copy_window": 12}
    assert all(c >= 0 for c in model.fallback)


def test_json_round_trip_and_unknown_kernel_fallback(tmp_path) -> None:
    model = CostModel({"conv2d_s8": (2.0, 0.0, 0.0, 10.0)}, (1.0, 1.0, 0.0, 50.0), "nucleo-f746", "cortex-m7")
    model.save(tmp_path / "m.json")
    loaded = cost_model.load(tmp_path / "m.json")
    assert loaded.coefficients == model.coefficients and loaded.fallback == model.fallback
    assert loaded.board == "nucleo-f746" and not loaded.knows("softmax_s8")
    graph = fuse_pads(_tiny_graph())
    calls = lower_graph(graph)
    for call in calls:
        f = cost_model.features(graph, call)
        expected = np.dot(model.coefficients.get(call.kernel, model.fallback), f)
        assert loaded.predict_call(graph, call) == pytest.approx(expected)
    assert loaded.predict(graph, calls, elided=range(len(calls))) == 0


def test_depthwise_flag_variants_share_coefficients() -> None:
    assert kernel_key("depthwise_conv2d_s8_dsp_3x3_nf_cl") == "depthwise_conv2d_s8_dsp_3x3"
    assert kernel_key("depthwise_conv2d_s8_dsp_m4_nf") == "depthwise_conv2d_s8_dsp_m4"
    assert kernel_key("conv2d_s8_dsp_borrow") == "conv2d_s8_dsp_borrow"


def test_committed_model_covers_the_main_kernels() -> None:
    model = cost_model.load()
    assert model.board == "nucleo-f746" and list(FEATURES) == ["macs", "output_bytes", "input_bytes", "call"]
    for kernel in ("conv2d_s8", "conv2d_s8_dsp", "depthwise_conv2d_s8", "fully_connected_s8", "copy_window"):
        assert model.knows(kernel), kernel
    assert all(c >= 0 for coef in model.coefficients.values() for c in coef)


def test_specialize_keeps_portable_when_the_model_says_it_is_cheaper(shared_models) -> None:
    graph = fuse_pads(read_tflite(shared_models / "mlperf_vww_96_int8.tflite"))
    calls = lower_graph(graph)
    fast = specialize(graph, calls, HOST)
    pairs = [(c.kernel, kernel_key(f.kernel)) for c, f in zip(calls, fast, strict=True) if f is not c]
    assert pairs, "vww has specialisable calls"
    portable, quick = {p for p, _ in pairs}, {q for _, q in pairs}

    def model(portable_cost: float, fast_cost: float) -> CostModel:
        coef = {k: (0.0, 0.0, 0.0, portable_cost) for k in portable}
        coef |= {k: (0.0, 0.0, 0.0, fast_cost) for k in quick}
        return CostModel(coef, (1.0, 0.0, 0.0, 0.0))

    kept = specialize(graph, calls, HOST, cost=model(1.0, 1e6))
    assert all(k is c for k, c in zip(kept, calls, strict=True))
    # Fast variants predicted cheaper, or no coefficients for the kernels at all: every exact fast variant.
    for cost in (model(1e6, 1.0), CostModel({}, (1.0, 0.0, 0.0, 0.0))):
        assert [c.kernel for c in specialize(graph, calls, HOST, cost=cost)] == [c.kernel for c in fast]
    assert portable <= set(SPECIALIZERS)


def _tiny_graph():
    from tests.support.model_factory import GraphBuilder, per_tensor

    b = GraphBuilder("tiny")
    x = b.tensor("x", (1, 4, 4, 2), "int8", per_tensor(0.1, 0))
    y = b.tensor("y", (1, 2, 2, 2), "int8", per_tensor(0.1, 0))
    b.op("MAX_POOL_2D", (x,), (y,), padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2,
         activation="NONE")
    return b.build((x,), (y,))


# ---- profiled firmware on the emulated board ----------------------------------------------------------------


@pytest.mark.emulator
def test_profiled_firmware_reports_increasing_ticks_that_end_at_the_invoke_total(shared_models, tmp_path) -> None:
    board = load_board("nucleo-f746")
    model = shared_models / "mlperf_ad01_int8.tflite"
    result = build(model, board, tmp_path / "p", profile=True)
    m = result.measurement
    assert m is not None and m.profile_ticks is not None
    assert len(m.profile_ticks) == len(result.compiled.sources.profile_positions) > 1
    assert all(d > 0 for d in per_call(m.profile_ticks))
    assert 0 <= m.ticks - m.profile_ticks[-1] <= 3
    rows = result.report()["profile"]
    assert sum(r["instructions"] for r in rows) == m.profile_ticks[-1] * 40
    plain = build(model, board, tmp_path / "n")
    assert plain.measurement.profile_ticks is None and "profile" not in plain.report()
    with Emulator(tmp_path / "n" / EMULATED_DIR / "firmware.elf") as emu:
        graph = plain.compiled.graph
        emu.link.infer([np.zeros(graph.tensor(t).shape, np.int8) for t in graph.inputs])
        with pytest.raises(DeviceError, match="built without profiling"):
            emu.link.read_profile()


@pytest.mark.emulator
@pytest.mark.parametrize("name", ["mlperf_vww_96_int8", "mlperf_ic_resnet8_int8"])
def test_committed_model_predicts_dsp_builds_within_ten_percent(name, shared_models, tmp_path) -> None:
    board = load_board("nucleo-f746")
    compiled = compile_file(shared_models / f"{name}.tflite", Target(board.core), board.sram.size)
    result = build(shared_models / f"{name}.tflite", board, tmp_path / "b", compiled=compiled)
    predicted = cost_model.load().predict(compiled.graph, compiled.calls, compiled.plan.elided_calls)
    measured = result.measurement.instructions
    assert abs(predicted / measured - 1) < 0.10, (predicted, measured)


def test_portable_target_is_never_specialised() -> None:
    graph = fuse_pads(_tiny_graph())
    calls = lower_graph(graph)
    assert specialize(graph, calls, PORTABLE, cost=CostModel({}, (0.0,) * 4)) == calls
