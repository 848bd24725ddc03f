"""The PyTorch frontend: every supported layer type converts to a float graph that computes what PyTorch
computes (NCHW -> NHWC), the quantized model builds and runs in the emulator bit-exact with tflite-runtime on
its quantized .tflite, TorchScript and module:function inputs work, unsupported layers are named, and the
MobileNetV2 / MCUNet builders give model_zoo's architectures op for op."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.errors import ModelError
from codegen.ir import Graph
from codegen.quantize.float_executor import run_float
from tests.codegen.quantize.test_quantizer import build_float_model, emulate_and_compare, quantize_for_test
from tools.cli import main

torch = pytest.importorskip("torch")
nn = torch.nn

from codegen.frontend import load_float_model  # noqa: E402
from codegen.frontend.torch_frontend import graph_from_module  # noqa: E402


class AllLayers(nn.Module):
    """Every layer type the frontend supports, in one network."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()
        self.dw = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)  # depthwise, multiplier 2; explicit PAD
        self.bn_dw = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 8, 1)
        self.same = nn.Conv2d(8, 8, 5, padding="same", dilation=1)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2, stride=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16 * 7 * 7, 12)  # reads a C x H x W flatten
        self.bn1d = nn.BatchNorm1d(12)
        self.head = nn.Linear(12 + 16, 5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):  # noqa: ANN001, ANN201
        y = self.act(self.bn(self.stem(x)))  # 16x16x8
        z = self.pw(torch.relu(self.bn_dw(self.dw(y))))  # 8x8x8
        z = z + self.pool(y)
        z = torch.clamp(self.same(z), 0.0, 6.0) - 0.5
        z = torch.cat([z, torch.sigmoid(z) * 2.0], dim=1)  # 8x8x16
        z = nn.functional.pad(z.transpose(2, 3), (1, 0, 0, 1))  # 9x9x16
        a = self.avg(z)  # 8x8x16
        b = self.gap(a).flatten(1).unsqueeze(-1).squeeze(-1)  # 16
        m = (a.mean(dim=(2, 3)) - 0.1) / 2.0  # 16
        f = nn.functional.max_pool2d(a, 2, stride=1)  # 7x7x16
        h = self.bn1d(self.fc(self.drop(f.flatten(1))))
        h = torch.relu(h)
        logits = self.head(torch.cat([h, b + m], dim=1))
        return torch.log_softmax(logits, dim=1), torch.softmax(logits / 2.0, dim=-1)


def _randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return net.eval()


def _torch_outputs(net: nn.Module, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        out = net(torch.from_numpy(x).permute(0, 3, 1, 2))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _float_outputs(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    values = run_float(graph, [x])
    return [values[i] for i in graph.outputs]


@pytest.fixture(scope="module")
def all_layers() -> nn.Module:
    torch.manual_seed(0)
    return _randomize(AllLayers())


def test_every_layer_converts_and_matches_pytorch(all_layers):
    graph = graph_from_module(all_layers, (16, 16, 3), "all_layers")
    ops = {op.op_type for op in graph.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "MAX_POOL_2D", "AVERAGE_POOL_2D",
            "MEAN", "PAD", "RESHAPE", "CONCATENATION", "SOFTMAX", "LOG_SOFTMAX", "LOGISTIC", "TRANSPOSE"} <= ops
    # The C x H x W flatten feeds the Linear through permuted weights: the only TRANSPOSE is the explicit one.
    assert [op.op_type for op in graph.operators].count("TRANSPOSE") == 1
    # BatchNorms folded, ReLU/ReLU6 fused: no standalone activation is left.
    assert not ops & {"RELU", "RELU6"}
    convs = [op for op in graph.operators if op.op_type == "CONV_2D"]
    assert convs[0].options["activation"] == "RELU6" and convs[0].options["padding"] == "SAME"
    x = np.random.default_rng(0).standard_normal((6, 16, 16, 3)).astype(np.float32)
    for got, want in zip(_float_outputs(graph, x), _torch_outputs(all_layers, x), strict=True):
        np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-5)


def test_quantized_model_tracks_the_float_model(all_layers):
    graph = graph_from_module(all_layers, (16, 16, 3), "all_layers")
    rng = np.random.default_rng(1)
    qgraph, buf = quantize_for_test(graph, rng.standard_normal((64, 16, 16, 3)).astype(np.float32))
    from codegen.reference_executor import run_reference

    x = rng.standard_normal((8, 16, 16, 3)).astype(np.float32)
    want = _torch_outputs(all_layers, x)[1]
    got = np.concatenate([run_reference(qgraph, [x[i:i + 1]])[1] for i in range(len(x))])
    assert np.abs(got - want).max() < 0.03  # softmax probabilities, output step 1/256
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.75


@pytest.mark.emulator
def test_pt2_builds_and_runs_bit_exact_in_the_emulator(all_layers, tmp_path):
    example = (torch.zeros(1, 3, 16, 16),)
    torch.export.save(torch.export.export(all_layers, example), str(tmp_path / "all_layers.pt2"))
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((48, 16, 16, 3)).astype(np.float32))
    build_float_model(tmp_path / "all_layers.pt2", tmp_path / "calib.npz", tmp_path / "build")
    assert (tmp_path / "build" / "quantization.json").is_file()
    emulate_and_compare(tmp_path / "build", rng.standard_normal((3, 16, 16, 3)).astype(np.float32))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated, but TorchScript files exist
def test_torchscript_and_factory_inputs(tmp_path):
    torch.manual_seed(3)
    net = _randomize(nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                   nn.Linear(4 * 6 * 6, 3)))
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 2)).astype(np.float32)
    want = _torch_outputs(net, x)[0]
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 2, 8, 8)), str(tmp_path / "net.pt"))
    scripted = load_float_model(tmp_path / "net.pt", (8, 8, 2))
    np.testing.assert_allclose(_float_outputs(scripted, x)[0], want, rtol=1e-4, atol=1e-5)
    torch.save(net.state_dict(), tmp_path / "weights.pth")
    (tmp_path / "netdef.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def make():\n"
        "    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3))\n"
        f"    net.load_state_dict(torch.load({str(tmp_path / 'weights.pth')!r}))\n"
        "    return net\n")
    made = load_float_model(f"{tmp_path / 'netdef.py'}:make", (8, 8, 2))
    np.testing.assert_allclose(_float_outputs(made, x)[0], want, rtol=1e-4, atol=1e-5)
    assert [op.op_type for op in made.operators] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]


def test_unsupported_layers_are_named_with_their_place(tmp_path, capsys):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Conv2d(4, 4, 3, groups=2), nn.Flatten())
    with pytest.raises(ModelError) as info:
        graph_from_module(net, (8, 8, 3), "net")
    assert "node 1 '1' (GELU" in "\n".join(info.value.lines())
    grouped = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ModelError, match=r"node 1 '1' \(Conv2d.*grouped convolution \(2 groups over 4 channels"):
        graph_from_module(grouped, (8, 8, 3), "grouped")
    torch.export.save(torch.export.export(net.eval(), (torch.zeros(1, 3, 8, 8),)), str(tmp_path / "gelu.pt2"))
    np.savez(tmp_path / "c.npz", x=np.zeros((2, 8, 8, 3), np.float32))
    status = main(["build", "--board", "nucleo-f746", "--model", str(tmp_path / "gelu.pt2"), "--calib",
                   str(tmp_path / "c.npz"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and "GELU" in err and "node 1" in err


def test_padding_pytorch_style_vs_tflite_same():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.MaxPool2d(3, stride=1, padding=1)).eval()
    graph = graph_from_module(net, (8, 8, 3), "pads")
    # Symmetric padding 1 with stride 2 on an even size is not SAME (which pads 0 before, 1 after): PAD + VALID.
    assert [op.op_type for op in graph.operators] == ["PAD", "CONV_2D", "MAX_POOL_2D"]
    assert graph.operators[1].options["padding"] == "VALID" and graph.operators[2].options["padding"] == "SAME"
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    want = _torch_outputs(net, x)[0].transpose(0, 2, 3, 1)  # a 4-D output comes out NHWC
    np.testing.assert_allclose(_float_outputs(graph, x)[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("which", ["mobilenet_v2", "mcunet-320kb-1mb_imagenet"])
def test_model_builders_match_model_zoo_architectures(which, shared_models):
    from codegen.frontend import model_zoo
    from codegen.frontend.torch_models import torch_mobilenet_v2, torch_model_from_json

    resolution = 48
    if which == "mobilenet_v2":
        net, zoo = torch_mobilenet_v2(0.35), model_zoo.mobilenet_v2(0.35, resolution)
    else:
        path = shared_models / "mcunet_configs" / f"{which}.json"
        net, zoo = torch_model_from_json(path), model_zoo.mcunet_from_json(path, resolution)
    graph = graph_from_module(net, (resolution, resolution, 3), which)

    def signature(g: Graph) -> list[tuple]:
        rows = []
        for op in g.operators:
            options = dict(op.options)
            w = g.tensor(op.inputs[1]).shape if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D") else None
            if w is not None and w[1] == w[2] == 1:
                options.pop("padding")  # SAME and VALID are the same for 1x1
            rows.append((op.op_type, g.tensor(op.outputs[0]).shape, w, sorted(options.items())))
        return rows

    assert signature(graph) == signature(zoo)
    x = np.random.default_rng(5).uniform(-1, 1, (1, resolution, resolution, 3)).astype(np.float32)
    np.testing.assert_allclose(_float_outputs(graph, x)[0], _torch_outputs(net, x)[0], rtol=1e-3, atol=1e-3)
