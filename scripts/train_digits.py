"""Train a small CNN on scikit-learn's digits (8x8 images upsampled to 32x32) in PyTorch, on the CPU, and save
what `codegen build` and `codegen eval` need:

    OUT/digits_cnn.pt2   the trained network, torch.export'ed with a 1 x 1 x 32 x 32 (NCHW) example input
    OUT/calib.npz        x: 200 training images, N x 32 x 32 x 1 (NHWC, as the firmware takes them) float32
                         in [0, 1]; y: their labels
    OUT/test.npz         x, y: the 360 held-out images (20%, stratified), same layout

    python -m scripts.train_digits OUT [--epochs 15] [--seed 0]

The network: three 3x3 conv + BatchNorm + ReLU + 2x2 max-pool stages (8, 16, 32 channels), flatten, Linear
to 10 logits; about 0.67 M MACs. Fifteen epochs take about 10 s on one core and reach about
98% held-out accuracy. Runs are reproducible for a given seed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = 32
MODEL_FILE = "digits_cnn.pt2"
CALIB_SAMPLES = 200


@dataclass
class TrainResult:
    model: Path
    calib: Path
    test: Path
    float_accuracy: float  # on the held-out set
    seconds: float


def load_digits_32(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images N x 32 x 32 x 1 float32 in [0, 1] (bilinear upsampling)."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    big = torch.nn.functional.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    x = big.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous().numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target.astype(np.int64), test_size=0.2,
                                                        random_state=seed, stratify=digits.target)
    return x_train, y_train, x_test, y_test


def make_net() -> object:
    """The digits CNN, untrained (also usable as `--model scripts/train_digits.py:make_net`)."""
    from torch import nn

    def stage(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*stage(1, 8), *stage(8, 16), *stage(16, 32), nn.Flatten(), nn.Dropout(0.1),
                         nn.Linear(32 * (SIZE // 8) ** 2, 10))


def train(out: Path, epochs: int = 15, seed: int = 0, log: bool = True) -> TrainResult:
    import torch

    started = time.monotonic()
    # One thread: for a network this small, intra-op threads cost more in synchronisation than they save
    # (15x slower with 2 threads on a busy 2-core machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(out, epochs, seed, log, started)
    finally:
        torch.set_num_threads(threads)


def _train(out: Path, epochs: int, seed: int, log: bool, started: float) -> TrainResult:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = load_digits_32(seed)
    net = make_net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=epochs * -(-len(x_train) // 32))
    xt = torch.from_numpy(x_train).permute(0, 3, 1, 2).contiguous()  # the network is NCHW
    yt = torch.from_numpy(y_train)
    for epoch in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(xt)))
        total = 0.0
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if log:
            print(f"epoch {epoch + 1}/{epochs}: loss {total / len(xt):.4f}")
    net.eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(x_test).permute(0, 3, 1, 2))
    accuracy = float((logits.argmax(1).numpy() == y_test).mean())

    out.mkdir(parents=True, exist_ok=True)
    example = (torch.zeros(1, 1, SIZE, SIZE),)
    torch.export.save(torch.export.export(net, example), str(out / MODEL_FILE))
    pick = rng.choice(len(x_train), size=min(CALIB_SAMPLES, len(x_train)), replace=False)
    np.savez(out / "calib.npz", x=x_train[pick], y=y_train[pick])
    np.savez(out / "test.npz", x=x_test, y=y_test)
    result = TrainResult(out / MODEL_FILE, out / "calib.npz", out / "test.npz", accuracy,
                         time.monotonic() - started)
    if log:
        print(f"float accuracy on {len(y_test)} held-out digits: {100 * accuracy:.1f}%; "
              f"trained in {result.seconds:.1f} s; wrote {result.model}, {result.calib}, {result.test}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Train the digits CNN example and save model + calibration + test data")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    train(args.out, args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
