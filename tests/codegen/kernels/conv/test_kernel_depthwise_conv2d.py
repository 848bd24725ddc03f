"""DEPTHWISE_CONV_2D: lowering + C kernel + NumPy reference, checked against TFLite Micro itself.

Same method as test_kernel_conv2d.py (whose single-op model builder and runners this reuses): random
single-op models run by TFLM are the golden output; the real models are checked layer by layer.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from codegen.frontend.tflite_reader import parse_tflite, read_tflite
from codegen.ir import Graph
from codegen.kernels.base import Unsupported
from codegen.kernels.conv import depthwise_conv2d
from tests.codegen.kernels.conv.test_kernel_conv2d import (
    LOWERINGS,
    REFERENCES,
    build_model,
    check_against_tflm,
    conv_cases,
    fixed_case,
    lower_only_op,
    run_call,
    tflm_layer_check,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(depthwise=True))
@example(fixed_case(True, y_quant=(0.0004, 0)))  # effective multiplier > 1
@example(fixed_case(True, w_scales=(0.02,), bias=None, bias_mode="omitted"))  # per-tensor, no bias
def test_depthwise_conv2d_matches_tflm(host_runtime, case):
    call = check_against_tflm(case, host_runtime)
    p = call.params
    assert p.depth_multiplier * p.in_c == p.out_c
    assert call.macs == p.out_h * p.out_w * p.out_c * p.kernel_h * p.kernel_w
    assert [c.role for c in call.consts] == ["filter", "bias", "mult", "shift"]


@pytest.mark.parametrize("in_c, mult", [(1, 8), (3, 5), (40, 1), (13, 3), (70, 2)])
def test_depthwise_conv2d_channel_blocks(host_runtime, in_c, mult):
    # More than one 32-channel accumulator block, blocks ending inside a multiplier group, M > 1 with C == 1.
    rng = np.random.default_rng(in_c * 10 + mult)
    out_c = in_c * mult
    case = fixed_case(True)
    case = replace(
        case, x=rng.integers(-128, 128, (1, 6, 5, in_c)).astype(np.int8),
        w=rng.integers(-127, 128, (1, 3, 3, out_c)).astype(np.int8),
        w_scales=tuple(float(np.float32(s)) for s in rng.uniform(0.002, 0.02, out_c)),
        bias=rng.integers(-3000, 3000, out_c).astype(np.int32), out_shape=(1, 3, 5, out_c),
        options={**case.options, "depth_multiplier": mult, "stride_h": 2, "activation": "RELU6"},
    )
    check_against_tflm(case, host_runtime)


def test_depthwise_conv2d_multiplier_reads_the_right_input_channel():
    # Channel oc = ic * M + m must read input channel ic: a one-hot input shows it directly.
    case = fixed_case(True)  # 3 input channels, M = 2
    x = np.zeros((1, 6, 5, 3), dtype=np.int8)
    x[0, 2, 2, 1] = 100  # only input channel 1 is non-zero (input zero point is -3)
    w = np.zeros((1, 3, 3, 6), dtype=np.int8)
    w[0, 1, 1, :] = 1
    case = replace(case, x=x, w=w, bias=np.zeros(6, np.int32), w_scales=(0.01,), y_quant=(0.001, 0),
                   x_quant=(0.1, 0))
    call = lower_only_op(parse_tflite(build_model(case)))
    out = run_call(call, x)[0, 2, 2]
    assert (out[[2, 3]] == 100).all() and (out[[0, 1, 4, 5]] == 0).all()


def test_depthwise_conv2d_bias_index_minus_one_means_no_bias():
    # TFLM itself segfaults on this form, so it is compared with the 2-input form TFLM runs.
    omitted = lower_only_op(parse_tflite(build_model(fixed_case(True, bias=None, bias_mode="omitted"))))
    absent = lower_only_op(parse_tflite(build_model(fixed_case(True, bias=None, bias_mode="absent"))))
    assert absent.params == omitted.params
    assert not absent.consts[1].data.any() and absent.consts[1].data.shape == (6,)
    x = fixed_case(True).x
    np.testing.assert_array_equal(run_call(absent, x), run_call(omitted, x))


# --- refusals --------------------------------------------------------------------------------------------


def _refusal(graph: Graph) -> str:
    (op,) = graph.operators
    with pytest.raises(Unsupported) as info:
        LOWERINGS[op.op_type](op, graph)
    return str(info.value)


def _graph(**changes) -> Graph:
    return parse_tflite(build_model(fixed_case(True, **changes)), name="case")


def test_depthwise_conv2d_refuses_inconsistent_depth_multiplier():
    g = _graph()
    g.operators[0].options["depth_multiplier"] = 3
    assert "depth_multiplier 3" in _refusal(g)


def test_depthwise_conv2d_refuses_channels_not_a_multiple():
    g = _graph()
    g.tensors[0].shape = (1, 6, 5, 4)
    assert "not a multiple" in _refusal(g)


def test_depthwise_conv2d_refuses_batch_and_dtype():
    g = _graph()
    g.tensors[0].shape = (3, 6, 5, 3)
    assert "batch 3" in _refusal(g)
    g = _graph()
    g.tensors[-1].dtype = "uint8"
    assert "uint8" in _refusal(g)


def test_depthwise_conv2d_refuses_per_channel_on_the_wrong_axis():
    g = _graph()
    w = g.tensors[1]
    w.quant = replace(w.quant, axis=0)
    assert "axis 0" in _refusal(g)


def test_depthwise_conv2d_refuses_empty_valid_window():
    g = _graph()
    g.operators[0].options["padding"] = "VALID"
    g.tensors[0].shape = (1, 2, 5, 3)
    assert "no output" in _refusal(g)


# --- real models -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, min_layers", [
    ("mlperf_vww_96_int8", 13), ("tflm_person_detect", 13), ("tflm_micro_speech_quantized", 1),
])
def test_depthwise_conv2d_layers_of_real_models_match_tflm(shared_models, host_runtime, name, min_layers):
    # person_detect and micro_speech have depth multiplier 8 layers on a single input channel.
    assert tflm_layer_check(shared_models / f"{name}.tflite", {"DEPTHWISE_CONV_2D"}, host_runtime) >= min_layers


def test_person_detect_real_image_layers_match_tflm(shared_models, host_runtime):
    vec = np.load(shared_models / "vectors" / "tflm_person_detect__tflm_person.npz")
    checked = tflm_layer_check(shared_models / "tflm_person_detect.tflite", {"DEPTHWISE_CONV_2D", "CONV_2D"},
                               host_runtime, x=vec["in0"])
    assert checked == 28


def test_network_tester_model_matches_golden_vector(shared_models, host_runtime):
    # The whole graph is one DEPTHWISE_CONV_2D: our reference on the stored input gives TFLM's output.
    graph = read_tflite(shared_models / "tflm_network_tester_model.tflite")
    vec = np.load(shared_models / "vectors" / "tflm_network_tester_model.npz")
    values = {graph.inputs[0]: vec["in0"].reshape(graph.tensor(graph.inputs[0]).shape)}
    for op in graph.operators:
        for call in LOWERINGS[op.op_type](op, graph):
            args = [values[i] for i in call.inputs] + [c.data for c in call.consts]
            values[call.outputs[0]] = REFERENCES[call.kernel](call.params, *args)
            got = run_call(call, args[0], host_runtime)
            np.testing.assert_array_equal(got, values[call.outputs[0]])
    out = values[graph.outputs[0]]
    np.testing.assert_array_equal(out.reshape(vec["out0"].shape), vec["out0"])
    assert len(np.unique(out)) > 10


def test_depthwise_conv2d_lowers_every_real_int8_depthwise(shared_models):
    for name in ("mlperf_vww_96_int8", "tflm_person_detect", "tflm_micro_speech_quantized",
                 "tflm_network_tester_model", "tinyengine_mcunet_vww"):
        graph = read_tflite(shared_models / f"{name}.tflite")
        ops = [op for op in graph.operators if op.op_type == "DEPTHWISE_CONV_2D"]
        assert ops, name
        for op in ops:
            (call,) = depthwise_conv2d.lower_depthwise_conv2d(op, graph)
            assert call.macs > 0
