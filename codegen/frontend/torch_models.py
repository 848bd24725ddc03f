"""PyTorch MobileNetV2 / ProxylessNAS / MCUNet networks from the architecture descriptions in
../shared/models/mcunet_configs (mit-han-lab/mcunet's ProxylessNASNets JSON), random or trained weights.

They are the float twins of codegen/frontend/model_zoo.py's int8 graphs: the same blocks (1x1 expand + BN + act,
k x k depthwise + BN + act, 1x1 project + BN, identity ADD), first conv, feature-mix conv, global average
pool and Linear classifier. With padding="tflite" (the default) each convolution pads like TFLite's SAME
(extra row/column after, computed from the input size), so the frontend produces the very architecture
model_zoo builds, op for op. With padding="torch", convolutions pad k // 2 on both sides as mcunet's own
PyTorch code does: use it with trained mcunet checkpoints (the module names mirror theirs:
first_conv.conv, blocks.N.mobile_inverted_conv.depth_conv.bn, classifier.linear, ...).

    net = torch_model_from_json("mcunet-320kb-1mb_imagenet.json")         # random weights
    net = torch_model_from_json(path, weights="ckpt.pth", padding="torch")  # trained
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codegen.frontend.model_zoo import mobilenet_v2_config
from codegen.frontend.torch_frontend import import_torch

PADDINGS = ("tflite", "torch")

torch = import_torch()
nn = torch.nn
F = torch.nn.functional


class SamePad(nn.Module):
    """Zero padding that makes the following k x k, stride s convolution compute TFLite's SAME windows."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Any) -> Any:
        pads = []
        for size in (x.shape[3], x.shape[2]):  # F.pad lists the last dim first
            out = -(-size // self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads) if any(pads) else x


def _activation(name: str | None) -> Any:
    if name in (None, "relu6"):
        return nn.ReLU6(inplace=False)
    if name == "relu":
        return nn.ReLU(inplace=False)
    raise ValueError(f"unsupported activation {name!r}")


class ConvBnAct(nn.Module):
    """conv (no bias) -> BatchNorm -> activation (None: no activation), mcunet's "weight_bn_act"."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int, act: str | None,
                 padding: str, use_act: bool = True):
        super().__init__()
        symmetric = padding == "torch" or stride == 1
        self.pad = nn.Identity() if symmetric else SamePad(kernel, stride)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2 if symmetric else 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = _activation(act) if use_act else nn.Identity()

    def forward(self, x: Any) -> Any:
        return self.act(self.bn(self.conv(self.pad(x))))


class MBInvertedConv(nn.Module):
    def __init__(self, conv: dict[str, Any], padding: str):
        super().__init__()
        cin, cout = int(conv["in_channels"]), int(conv["out_channels"])
        kernel, stride = int(conv["kernel_size"]), int(conv["stride"])
        expand = conv.get("expand_ratio", 1)
        mid = conv.get("mid_channels")
        mid = int(mid) if mid is not None else round(cin * expand)
        act = conv.get("act_func")
        if conv.get("use_se"):
            raise ValueError("squeeze-and-excitation is not supported")
        if expand != 1:
            self.inverted_bottleneck = ConvBnAct(cin, mid, 1, 1, 1, act, padding)
        else:
            self.inverted_bottleneck, mid = None, cin
        self.depth_conv = ConvBnAct(mid, mid, kernel, stride, mid, act, padding)
        self.point_linear = ConvBnAct(mid, cout, 1, 1, 1, act, padding, use_act=False)

    def forward(self, x: Any) -> Any:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class MobileInvertedResidualBlock(nn.Module):
    def __init__(self, block: dict[str, Any], padding: str, index: int):
        super().__init__()
        conv, shortcut = block.get("mobile_inverted_conv"), block.get("shortcut")
        identity = shortcut is not None and shortcut.get("name") == "IdentityLayer"
        zero = conv is None or conv.get("name") == "ZeroLayer"
        if zero and not identity:
            raise ValueError(f"block {index}: zero layer without identity shortcut")
        if not zero and conv.get("name") != "MBInvertedConvLayer":
            raise ValueError(f"block {index}: unsupported layer {conv.get('name')!r}")
        if identity and not zero and (int(conv["stride"]) != 1 or conv["in_channels"] != conv["out_channels"]):
            raise ValueError(f"block {index}: identity shortcut around a stride or channel change")
        self.mobile_inverted_conv = None if zero else MBInvertedConv(conv, padding)
        self.identity = identity

    def forward(self, x: Any) -> Any:
        if self.mobile_inverted_conv is None:
            return x
        y = self.mobile_inverted_conv(x)
        return y + x if self.identity else y


class LinearLayer(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(cin, cout)

    def forward(self, x: Any) -> Any:
        return self.linear(self.dropout(x))


class ProxylessNASNet(nn.Module):
    """first_conv -> blocks -> [feature_mix_layer] -> global average pool -> flatten -> classifier."""

    def __init__(self, config: dict[str, Any], padding: str = "tflite"):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r} is not one of {PADDINGS}")
        first = config["first_conv"]
        if int(first.get("groups", 1)) != 1 or int(first.get("dilation", 1)) != 1:
            raise ValueError("first_conv: only plain convolutions")
        self.first_conv = ConvBnAct(int(first.get("in_channels", 3)), int(first["out_channels"]),
                                    int(first["kernel_size"]), int(first["stride"]), 1, first.get("act_func"),
                                    padding)
        self.blocks = nn.ModuleList(MobileInvertedResidualBlock(b, padding, i) for i, b in
                                    enumerate(config["blocks"]))
        mix = config.get("feature_mix_layer")
        self.feature_mix_layer = (ConvBnAct(int(mix["in_channels"]), int(mix["out_channels"]),
                                            int(mix["kernel_size"]), int(mix["stride"]), 1, mix.get("act_func"),
                                            padding) if mix else None)
        cls = config["classifier"]
        self.global_avg_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = LinearLayer(int(cls["in_features"]), int(cls["out_features"]),
                                      float(cls.get("dropout_rate", 0) or 0))

    def forward(self, x: Any) -> Any:
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        if self.feature_mix_layer is not None:
            x = self.feature_mix_layer(x)
        return self.classifier(torch.flatten(self.global_avg_pool(x), 1))


def randomize_batchnorm(net: Any, seed: int = 0) -> Any:
    """Give every BatchNorm non-trivial statistics (fresh ones are the identity), as trained nets have."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
    return net


def torch_model(config: dict[str, Any], weights: str | Path | None = None, padding: str = "tflite",
                seed: int = 0) -> Any:
    """The network of a ProxylessNASNets description in eval mode: trained weights from a state_dict file
    (torch.save(net.state_dict())), or random ones drawn from `seed`."""
    torch.manual_seed(seed)
    net = ProxylessNASNet(config, padding)
    if weights is not None:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        net.load_state_dict(state)
    else:
        randomize_batchnorm(net, seed)
    return net.eval()


def torch_model_from_json(path: str | Path, weights: str | Path | None = None, padding: str = "tflite",
                          seed: int = 0) -> Any:
    """An mcunet_configs JSON file (MCUNet, ProxylessNAS, MobileNetV2) as a PyTorch network."""
    return torch_model(json.loads(Path(path).read_text()), weights, padding, seed)


def torch_mobilenet_v2(width: float, num_classes: int = 1000, weights: str | Path | None = None,
                       padding: str = "tflite", seed: int = 0) -> Any:
    """Standard MobileNetV2 with width multiplier `width` (the layout of model_zoo.mobilenet_v2)."""
    return torch_model(mobilenet_v2_config(width, num_classes), weights, padding, seed)
