"""The strict .tflite reader under abuse: every field that could reach the C emitter out of range is refused
at read time (or, for kernel parameters derived from several fields, when lowered) with one line naming the
tensor or operator, and `codegen plan` exits 2 with that line instead of handing gcc an overflowing literal."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import ModelError
from codegen.frontend.tflite_reader import parse_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels.base import Unsupported
from codegen.passes.lowering import check_params_fit, lower_graph
from codegen.pipeline import compile_graph
from scripts.fuzz_seeds import cnn_graph, elementwise_graph
from scripts.model_mutations import field_sites

REPO = Path(__file__).resolve().parents[3]


def refused(data: bytes, *phrases: str) -> str:
    with pytest.raises(ModelError) as info:
        lower_graph(parse_tflite(data, name="m"))
    lines = info.value.lines()
    assert all("\n" not in line for line in lines), lines
    assert "m: m:" not in " ".join(lines)
    text = " ".join(lines)
    for phrase in phrases:
        assert phrase in text, text
    return text


def with_tensor(graph: Graph, index: int, **changes: object) -> bytes:
    tensors = list(graph.tensors)
    tensors[index] = dataclasses.replace(tensors[index], **changes)
    return write_tflite(dataclasses.replace(graph, tensors=tensors))


def with_op(graph: Graph, index: int, **changes: object) -> bytes:
    ops = list(graph.operators)
    ops[index] = dataclasses.replace(ops[index], **changes)
    return write_tflite(dataclasses.replace(graph, operators=ops))


def with_options(graph: Graph, index: int, **options: object) -> bytes:
    return with_op(graph, index, options={**graph.operators[index].options, **options})


def patched(data: bytes, what: str, raw: bytes) -> bytes:
    """The model with the field the mutation helper calls `what` overwritten by `raw`."""
    sites, _ = field_sites(data)
    site = next(s for s in sites if s.what == what)
    return data[: site.pos] + raw + data[site.pos + len(raw):]


def test_the_seed_models_compile():
    for make in (cnn_graph, elementwise_graph):
        data = write_tflite(make())
        assert compile_graph(parse_tflite(data), data).sources.files


# ---- quantization ---------------------------------------------------------------------------------------


def test_fuzzed_zero_point_of_issue_18_is_refused_naming_the_tensor():
    g = elementwise_graph()  # tensor 2 is the ADD output: ADD's lowering never looked at its zero point
    data = with_tensor(g, 2, quant=Quantization((0.12,), (-14293651161216,)))
    refused(data, "tensor 2 (t2)", "zero point -14293651161216", "int8", "[-128, 127]")


def test_plan_exits_2_with_one_line_for_the_fuzzed_zero_point(tmp_path):
    model = tmp_path / "fuzzed.tflite"
    model.write_bytes(with_tensor(elementwise_graph(), 2, quant=Quantization((0.12,), (-14293651161216,))))
    result = subprocess.run([sys.executable, "-m", "tools.cli", "plan", "--model", str(model)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "zero point -14293651161216" in result.stderr


@pytest.mark.parametrize("dtype,zero_point", [("int8", 128), ("int8", -129), ("uint8", -1), ("uint8", 256),
                                              ("int16", 40000), ("int32", 2**31)])
def test_zero_points_outside_their_dtype_are_refused(dtype, zero_point):
    g = cnn_graph()
    t = g.tensors[0]
    refused(with_tensor(g, 0, dtype=dtype, quant=Quantization(t.quant.scale, (zero_point,))),
            "tensor 0", f"zero point {zero_point}", dtype)


def test_int16_softmax_zero_point_of_tflm_is_read():
    # TFLM's int16 SOFTMAX output has zero point -32768 (keyword_scrambled): the reader must not refuse it.
    g = cnn_graph()
    graph = parse_tflite(with_tensor(g, 0, dtype="int16", quant=Quantization((1 / 65536,), (-32768,))))
    assert graph.tensors[0].quant.zero_point == (-32768,)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_scales_are_refused(scale):
    g = cnn_graph()
    w = g.tensors[3]  # the CONV_2D filter, per channel
    scales = (scale,) + w.quant.scale[1:]
    refused(with_tensor(g, 3, quant=dataclasses.replace(w.quant, scale=scales)), "tensor 3", f"scale {scale}")
    refused(with_tensor(g, 0, quant=Quantization((scale,), (0,))), "tensor 0", "finite")


def test_zero_or_negative_activation_scale_is_refused_but_not_a_filter_scale():
    g = cnn_graph()
    refused(with_tensor(g, 5, quant=Quantization((0.0,), (2,))), "tensor 5", "scale 0.0", "positive")
    refused(with_tensor(g, 0, quant=Quantization((-0.05,), (-3,))), "tensor 0", "positive")
    w = g.tensors[3]
    graph = parse_tflite(with_tensor(g, 3, quant=dataclasses.replace(w.quant, scale=(-0.01, 0.0, 0.02, 0.03))))
    assert graph.tensors[3].quant.scale[:2] == (float(np.float32(-0.01)), 0.0)  # the kernels judge filter signs


def test_per_channel_scales_must_match_the_quantized_dimension():
    g = cnn_graph()
    w = g.tensors[3]  # (4, 3, 3, 3), 4 scales on axis 0
    refused(with_tensor(g, 3, quant=dataclasses.replace(w.quant, axis=4)), "tensor 3", "4 scales along dimension 4")
    refused(with_tensor(g, 3, quant=dataclasses.replace(w.quant, axis=1)), "tensor 3", "dimension 1")
    refused(with_tensor(g, 3, quant=dataclasses.replace(w.quant, axis=-1)), "tensor 3", "quantized dimension -1")


def test_rank_one_per_channel_tensor_keeps_tflms_leniency_on_its_axis():
    g = cnn_graph()
    b = g.tensors[4]  # the (4,) bias: person_detect's biases declare quantized_dimension 3
    q = Quantization((1e-4, 2e-4, 3e-4, 4e-4), (0,) * 4, 3)
    assert parse_tflite(with_tensor(g, 4, quant=q)).tensors[b.index].quant.axis == 3


def test_zero_point_count_must_match_the_scales():
    data = write_tflite(cnn_graph())
    refused(patched(data, "tensor 3 zero point length", struct.pack("<i", 3)), "tensor 3", "4 scales but 3 zero points")


# ---- shapes and buffers ---------------------------------------------------------------------------------


def test_shapes_too_large_for_int32_sizes_are_refused():
    g = cnn_graph()
    refused(with_tensor(g, 5, shape=(1, 65536, 65536, 4)), "tensor 5", "17,179,869,184 bytes")
    refused(with_tensor(g, 5, shape=(1, 1, 1, 1, 1, 1, 8, 4)), "tensor 5", "8 dimensions")
    refused(with_tensor(g, 5, shape=(1, -1, 8, 4)), "tensor 5", "dynamic shape")


def test_shape_product_overflowing_int64_is_refused_not_wrapped():
    data = write_tflite(cnn_graph())
    huge = struct.pack("<i", 2**31 - 1)
    for i in range(4):
        data = patched(data, f"tensor 5 shape[{i}]", huge)
    refused(data, "tensor 5", "bytes (at most 2,147,483,647)")


def test_buffer_size_must_match_shape_and_dtype():
    data = write_tflite(cnn_graph())
    refused(patched(data, "tensor 3 shape[0]", struct.pack("<i", 5)), "tensor 3", "holds 108 bytes", "needs 135")


# ---- operators and dataflow -----------------------------------------------------------------------------


def test_operator_tensor_indices_out_of_range_are_refused():
    data = write_tflite(cnn_graph())
    refused(patched(data, "operator 1 inputs[0]", struct.pack("<i", 5000)), "operator 1 (CONV_2D)", "tensor 5000")
    refused(patched(data, "operator 1 outputs[0]", struct.pack("<i", -1)), "operator 1 (CONV_2D) output", "-1")
    refused(patched(data, "graph outputs[0]", struct.pack("<i", -1)), "graph outputs", "-1")


def test_operator_arity_is_tflites():
    g = cnn_graph()
    refused(with_op(g, 1, inputs=(2,)), "operator 1 (CONV_2D) has 1 inputs", "2 to 3")
    refused(with_op(g, 1, inputs=(-1, 3, 4)), "operator 1 (CONV_2D) omits a required input")
    refused(with_op(g, 1, outputs=()), "operator 1 (CONV_2D) has no outputs")
    refused(with_op(g, 1, outputs=(5, 6)), "operator 1 (CONV_2D) has 2 outputs")


def test_each_tensor_has_one_producer_before_its_readers():
    g = cnn_graph()
    refused(with_op(g, 1, outputs=(2,)), "operator 1 (CONV_2D) writes tensor 2")  # PAD's output again
    refused(with_op(g, 1, outputs=(0,)), "operator 1 (CONV_2D) writes tensor 0")  # the graph input
    refused(with_op(g, 1, outputs=(3,)), "operator 1 (CONV_2D) writes tensor 3")  # its own filter
    refused(write_tflite(dataclasses.replace(g, operators=g.operators[::-1])), "reads tensor")  # out of order
    refused(write_tflite(dataclasses.replace(g, inputs=(0, 0))), "graph inputs [0, 0]")
    refused(write_tflite(dataclasses.replace(g, inputs=(3,))), "graph input tensor 3", "constant")
    refused(write_tflite(dataclasses.replace(g, operators=g.operators[:-1])), "graph output tensor", "never computed")


# ---- builtin options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["stride_h", "stride_w", "dilation_h", "dilation_w"])
def test_zero_strides_and_dilations_are_refused(key):
    refused(with_options(cnn_graph(), 1, **{key: 0}), "operator 1 (CONV_2D)", f"{key} is 0")


def test_pool_window_of_zero_is_refused():
    refused(with_options(cnn_graph(), 3, filter_w=0), "operator 3 (MAX_POOL_2D)", "filter_w is 0")
    refused(with_options(cnn_graph(), 3, stride_h=-3), "operator 3 (MAX_POOL_2D)", "stride_h is -3")


def test_unknown_enum_codes_are_refused():
    refused(with_options(cnn_graph(), 1, activation=17), "operator 1 (CONV_2D)", "fused activation code 17")
    refused(with_options(cnn_graph(), 2, padding=7), "operator 2 (DEPTHWISE_CONV_2D)", "padding code 7")


def test_non_finite_softmax_beta_is_refused():
    refused(with_options(cnn_graph(), 7, beta=float("nan")), "operator 7 (SOFTMAX)", "beta is nan")


def test_huge_dilation_is_refused_when_its_window_overflows_int32_indices():
    # SAME padding with a 3x3 kernel dilated 2^31 - 1: rows 2^32 apart, and a padding of 2^31 - 2 above.
    refused(with_options(cnn_graph(), 2, dilation_h=2**31 - 1), "operator 2 (DEPTHWISE_CONV_2D)",
            "dilations 2147483647x1", "int32")


def test_kernel_parameters_outside_their_c_type_are_refused():
    call = lower_graph(parse_tflite(write_tflite(cnn_graph())))[1]
    assert call.kernel == "conv2d_s8"
    check_params_fit(call)
    with pytest.raises(Unsupported, match="pad_h = 2147483648, outside the range of int32_t"):
        check_params_fit(dataclasses.replace(call, params=dataclasses.replace(call.params, pad_h=2**31)))


def test_pad_amounts_must_give_the_output_shape():
    g = cnn_graph()
    pads = g.tensors[1]
    refused(with_tensor(g, 1, data=np.array([[0, 0], [1, 1], [2, 1], [0, 0]], np.int32)), "operator 0 (PAD)",
            "(1, 10, 10, 3) is not the padded shape (1, 10, 11, 3)")
    refused(with_tensor(g, 1, data=np.array([[0, 0], [-1, 3], [1, 1], [0, 0]], np.int32)), "negative paddings")
    refused(with_tensor(g, 1, shape=(2, 2), data=pads.data[:2]), "paddings of shape (2, 2)")


def test_negative_concatenation_axis_out_of_range_is_refused():
    refused(with_options(elementwise_graph(), 2, axis=-5), "operator 2 (CONCATENATION)", "axis -5")


# ---- real models ----------------------------------------------------------------------------------------


def test_every_real_model_still_reads(shared_models):
    for path in sorted(shared_models.glob("*.tflite")):
        parse_tflite(path.read_bytes(), name=path.stem)  # raises for none of them


def test_names_with_line_breaks_stay_on_one_line():
    g = cnn_graph()
    data = with_tensor(g, 5, name="evil\nname\r", quant=Quantization((0.1,), (500,)))
    text = refused(data, "tensor 5 (evil?name?)")
    assert "\n" not in text and "\r" not in text
    # A kernel's message carries the tensor name as the model spells it: CodegenError.lines() keeps it on one line.
    data = with_tensor(g, 2, name="pad\nded", quant=Quantization((0.05,) * 3, (-3,) * 3, 3))
    text = refused(data, "operator 1 (CONV_2D)", "tensor 2 (pad?ded) quantized per channel")
    assert "\n" not in text
