"""model_zoo: MobileNetV2 / MCUNet / ProxylessNAS int8 graphs with random weights.

The written .tflite must run under TFLite Micro bit-exactly like the reference executor (a valid TFLite model,
not just a graph our own tools accept), have the published MAC counts, and be quantized so that activations
spread over the int8 range instead of saturating.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codegen.frontend.model_zoo import make_divisible, mcunet_from_json, mobilenet_v2, mobilenet_v2_config
from codegen.frontend.tflite_reader import parse_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph
from codegen.memory.planner import plan_memory
from codegen.passes.lowering import lower_graph
from codegen.reference_executor import run_reference
from scripts.build_zoo_model import build_model, main

# MACs as mit-han-lab/mcunet's model zoo lists them.
PUBLISHED_MACS = {
    "mbv2-w0.35-r144": 23.5e6,
    "proxyless-w0.3-r176": 38.3e6,
    "mcunet-320kb-1mb": 81.8e6,
}


def config_file(shared_models: Path, name: str) -> Path:
    path = shared_models / "mcunet_configs" / f"{name}_imagenet.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def build(shared_models: Path, name: str) -> Graph:
    if name == "mobilenet_v2-w0.35-r96":
        return mobilenet_v2(0.35, 96)
    if name == "mobilenet_v2-w1.0-r224":
        return mobilenet_v2(1.0, 224)
    return mcunet_from_json(config_file(shared_models, name))


def run_tflm(buf: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(buf, arena_size=8 * 1024 * 1024)
    interp.set_input(x, 0)
    interp.invoke()
    return np.array(interp.get_output(0))


BIT_EXACT = (
    "mobilenet_v2-w0.35-r96",
    "mbv2-w0.35-r144",
    "mcunet-320kb-1mb",
    "proxyless-w0.3-r176",
    "mobilenet_v2-w1.0-r224",  # about 2 s
)


@pytest.mark.parametrize("name", BIT_EXACT)
def test_tflm_bit_exact_with_reference(shared_models, name):
    graph = build(shared_models, name)
    x_t = graph.tensor(graph.inputs[0])
    assert x_t.dtype == "int8" and x_t.shape[0] == 1 and x_t.shape[3] == 3 and x_t.shape[1] == x_t.shape[2]
    x = np.random.default_rng(7).integers(-128, 127, size=x_t.shape, endpoint=True).astype(np.int8)
    expected = run_reference(graph, [x], lower_graph(graph))[0]
    got = run_tflm(write_tflite(graph), x)
    assert expected.shape == (1, 1000)
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    # Logits spread over the int8 range: a mostly saturated or constant output would make the check weak.
    assert np.mean(np.abs(expected.astype(int) + 0.5) > 127) < 0.01
    assert expected.std() > 8 and len(np.unique(expected)) > 50


def test_activations_use_the_int8_range(shared_models):
    graph = build(shared_models, "mcunet-320kb-1mb")
    activations = tuple(t.index for t in graph.tensors if not t.is_const and t.index not in graph.inputs)
    probe = Graph(graph.tensors, graph.operators, graph.inputs, activations, graph.name)
    x = np.random.default_rng(3).integers(-128, 127, size=graph.tensor(graph.inputs[0]).shape, endpoint=True)
    for index, value in zip(activations, run_reference(probe, [x.astype(np.int8)]), strict=True):
        t = graph.tensor(index)
        v = value.astype(int)
        where = f"{t.name}: zero point {t.zero_point}, std {v.std():.1f}"
        assert np.mean(v == 127) < 0.01, where  # rarely saturated high
        if t.zero_point > -128:  # not a ReLU output: the bottom of the range is a saturation too
            assert np.mean(v == -128) < 0.01, where
        if t.shape[1:3] != (1, 1) and len(t.shape) == 4:  # feature maps: a real spread, tens of steps
            assert v.std() > 10, where


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_published_mac_counts(shared_models, name):
    macs = sum(c.macs for c in lower_graph(build(shared_models, name)))
    assert abs(macs - PUBLISHED_MACS[name]) < 0.005 * PUBLISHED_MACS[name], macs


def test_mobilenet_v2_224_macs_and_peak_memory():
    graph = mobilenet_v2(1.0, 224)
    calls = lower_graph(graph)
    macs = sum(c.macs for c in calls)
    assert abs(macs - 300e6) < 0.05 * 300e6, macs
    kinds = [op.op_type for op in graph.operators]
    assert kinds.count("ADD") == 10 and kinds.count("DEPTHWISE_CONV_2D") == 17
    assert kinds.count("CONV_2D") == 35
    # Per-layer peak: at least block 1's expand conv in + out (112x112x(16+96), MCUNetV2's 1372 kB), at most
    # that block's depthwise in + out (112x112x96 + 56x56x96) when the depthwise conv is not done in place.
    arena = plan_memory(graph, calls).arena_bytes
    assert 112 * 112 * (16 + 96) <= arena <= 112 * 112 * 96 + 56 * 56 * 96


def test_mobilenet_v3_small_224_layout_and_macs():
    """Keras's MobileNetV3Small: 56M multiply-adds in the paper (Howard et al. 2019, table 3); 11 blocks, 9 with
    an SE, one right after the stem; hard swish as an operator of its own after the stem and blocks 3-10."""
    graph = build_model("mbv3s-a1.0-r224")
    assert graph.name == "mobilenet_v3_small_a1.0_r224" and graph.tensor(0).shape == (1, 224, 224, 3)
    macs = sum(c.macs for c in lower_graph(graph))
    assert abs(macs - 56e6) < 0.05 * 56e6, macs
    kinds = [op.op_type for op in graph.operators]
    assert kinds.count("MEAN") == 9 and kinds.count("DEPTHWISE_CONV_2D") == 11
    # Stem, then 8 blocks x (expand, depthwise), then the last 1x1 conv.
    assert kinds.count("HARD_SWISH") == 1 + 8 * 2 + 1 and kinds[:3] == ["CONV_2D", "HARD_SWISH", "DEPTHWISE_CONV_2D"]
    assert kinds[3] == "MEAN"  # block 0's SE, on the depthwise output


def test_mobilenet_v2_layout_matches_mcunet_file(shared_models):
    """mcunet's mbv2-w0.35 file has torchvision's block layout; only its last conv scales with width."""
    ours = mobilenet_v2_config(0.35)
    theirs = json.loads(config_file(shared_models, "mbv2-w0.35-r144").read_text())
    assert ours["first_conv"]["out_channels"] == theirs["first_conv"]["out_channels"] == 16
    keys = ("in_channels", "out_channels", "kernel_size", "stride", "expand_ratio")
    assert len(ours["blocks"]) == len(theirs["blocks"]) == 17
    for a, b in zip(ours["blocks"], theirs["blocks"], strict=True):
        assert [a["mobile_inverted_conv"][k] for k in keys] == [b["mobile_inverted_conv"][k] for k in keys]
        assert (a["shortcut"] is None) == (b["shortcut"] is None)
    assert ours["feature_mix_layer"]["out_channels"] == 1280
    assert theirs["feature_mix_layer"]["out_channels"] == 448


@pytest.mark.parametrize(
    ("value", "expected"),
    [(32 * 0.35, 16), (16 * 0.35, 8), (96 * 0.35, 32), (32, 32), (1280 * 1.4, 1792), (20, 24)],
)
def test_make_divisible(value, expected):
    assert make_divisible(value) == expected


def test_zero_blocks_are_skipped(shared_models):
    path = config_file(shared_models, "proxyless-w0.3-r176")
    config = json.loads(path.read_text())
    zero = [i for i, b in enumerate(config["blocks"]) if b["mobile_inverted_conv"]["name"] == "ZeroLayer"]
    assert zero == [3, 4]
    graph = mcunet_from_json(path)
    names = {t.name.split("/")[0] for t in graph.tensors}
    assert "block2" in names and "block5" in names
    assert not {f"block{i}" for i in zero} & names


def test_structure_and_quantization(shared_models):
    graph = build(shared_models, "mcunet-320kb-1mb")
    for op in graph.operators:
        ins = graph.op_inputs(op)
        if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w, b = ins
            assert op.options["padding"] == "SAME"
            assert w.quant.per_channel and set(w.quant.zero_point) == {0}
            assert w.quant.axis == (3 if op.op_type == "DEPTHWISE_CONV_2D" else 0)
            # Max-abs per channel: every channel reaches +-127.
            other = tuple(a for a in range(4) if a != w.quant.axis)
            assert np.all(np.abs(w.data.astype(int)).max(axis=other) == 127)
            assert b.dtype == "int32"
            expected = [np.float32(x.scale * s) for s in w.quant.scale]
            np.testing.assert_array_equal(np.float32(b.quant.scale), expected)
    kinds = [op.op_type for op in graph.operators]
    assert kinds[-3:] == ["AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert graph.tensor(graph.inputs[0]).shape == (1, 176, 176, 3)
    # The IR survives the flatbuffer round trip unchanged.
    again = parse_tflite(write_tflite(graph), graph.name)
    assert again.operators == graph.operators
    for a, b in zip(graph.tensors, again.tensors, strict=True):
        assert (a.name, a.shape, a.dtype, a.quant) == (b.name, b.shape, b.dtype, b.quant)


def test_seed_and_resolution(shared_models, tmp_path):
    path = config_file(shared_models, "mcunet-10fps")
    a, b, c = mcunet_from_json(path), mcunet_from_json(path), mcunet_from_json(path, seed=1)
    weights = [[t.data for t in g.tensors if t.is_const] for g in (a, b, c)]
    assert all(np.array_equal(p, q) for p, q in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(p, q) for p, q in zip(weights[0], weights[2], strict=True))
    assert a.tensor(a.inputs[0]).shape == (1, 48, 48, 3)
    assert mcunet_from_json(path, resolution=64).tensor(0).shape == (1, 64, 64, 3)
    # Without "resolution" in the file, the name's rNNN gives it.
    config = json.loads(path.read_text())
    del config["resolution"]
    named = tmp_path / "tiny-r40.json"
    named.write_text(json.dumps(config))
    graph = mcunet_from_json(named)
    assert graph.tensor(graph.inputs[0]).shape == (1, 40, 40, 3)
    assert graph.tensor(graph.outputs[0]).shape == (1, 1000)
    unnamed = tmp_path / "tiny.json"
    unnamed.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="resolution"):
        mcunet_from_json(unnamed)


def test_unsupported_layers_are_refused(shared_models, tmp_path):
    config = json.loads(config_file(shared_models, "mcunet-10fps").read_text())
    config["blocks"][2]["mobile_inverted_conv"]["act_func"] = "gelu"  # h_swish is supported (HARD_SWISH)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="gelu"):
        mcunet_from_json(path)
    config["blocks"][2]["mobile_inverted_conv"] = {"name": "ZeroLayer", "stride": 1}
    config["blocks"][2]["shortcut"] = None
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="zero layer"):
        mcunet_from_json(path)


def test_cli(shared_models, tmp_path, capsys):
    config_dir = shared_models / "mcunet_configs"
    out = tmp_path / "m.tflite"
    assert main(["mcunet-5fps", "-o", str(out), "--config-dir", str(config_dir), "--summary"]) == 0
    graph = parse_tflite(out.read_bytes())
    assert graph.tensor(graph.inputs[0]).shape == (1, 96, 96, 3)
    assert "MACs" in capsys.readouterr().out
    # A name with a config file is built from the file; other mbv2 names are the generic MobileNetV2.
    assert build_model("mbv2-w0.35-r144", config_dir=config_dir).tensor(0).shape == (1, 144, 144, 3)
    generic = build_model("mbv2-w0.5-r64", config_dir=config_dir)
    assert generic.name == "mobilenet_v2_w0.5_r64" and generic.tensor(0).shape == (1, 64, 64, 3)
    assert main(["no-such-net", "--config-dir", str(config_dir)]) == 2
