"""Calibration: read the --calib data, run the float graph on it, and choose each activation's real range.

The data is an .npz whose array `x` (or `x0`, `x1`, ... for several inputs) holds N samples in the layout
the firmware takes (NHWC for images), float. An optional `y` holds labels, used by the report only.

Range methods (per tensor, over every value the calibration set produces):
- minmax: the smallest and largest value, as the TFLite converter's calibrator takes them;
- percentile: the (100 - p)th and p-th percentiles (p = 99.99 by default), which ignores rare outliers;
- mse: the clipping range [a * min, a * max] whose int8 quantization has the smallest mean squared error
  (rounding noise inside, clipping error outside), searched over a histogram.
Percentile and MSE need a second pass over the data, with a 2048-bin histogram per tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.errors import CodegenError
from codegen.ir import Graph
from codegen.quantize.float_executor import batches, check_batchable, run_float

METHODS = ("minmax", "percentile", "mse")
_BINS = 2048


@dataclass(frozen=True)
class CalibrationConfig:
    method: str = "minmax"
    percentile: float = 99.99
    batch: int = 32  # samples per float-executor run: bounds memory, not results


@dataclass
class CalibrationData:
    inputs: list[np.ndarray]  # one array per graph input: (N, *input shape without its batch of 1), float32
    labels: np.ndarray | None
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.inputs[0])

    def subset(self, limit: int | None) -> CalibrationData:
        if limit is None or limit >= len(self):
            return self
        labels = self.labels[:limit] if self.labels is not None else None
        return CalibrationData([x[:limit] for x in self.inputs], labels, self.path)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except FileNotFoundError:
        raise CodegenError(f"calibration data {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise CodegenError(f"cannot read calibration data {path}: {exc} (expected an .npz with an array x)") from None


def input_arrays(arrays: dict[str, np.ndarray], n_inputs: int, path: Path) -> list[np.ndarray]:
    """x for one input, x0, x1, ... for several (x0 is accepted for one input too)."""
    if n_inputs == 1 and "x" in arrays:
        return [arrays["x"]]
    names = [f"x{i}" for i in range(n_inputs)]
    missing = [k for k in names if k not in arrays]
    if missing:
        want = "x" if n_inputs == 1 else ", ".join(names)
        held = ", ".join(sorted(arrays)) or "nothing"
        raise CodegenError(f"calibration data {path} has no array {want} (it holds: {held}); the model takes "
                           f"{n_inputs} input(s)")
    return [arrays[k] for k in names]


def check_samples(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Samples of one input as float32 (N, *shape[1:]); refuses anything that does not fit the model."""
    if x.dtype.kind not in "f":
        raise CodegenError(f"{what} is {x.dtype}; the float model takes float32 inputs: scale the data as the "
                           "network was trained (e.g. x.astype(np.float32) / 255)")
    sample = tuple(shape[1:]) if shape and shape[0] == 1 else tuple(shape)
    if x.ndim == len(sample) + 2 and x.shape[1] == 1 and tuple(x.shape[2:]) == sample:
        x = x.reshape(len(x), *sample)  # samples stored with their batch of 1
    if tuple(x.shape[1:]) != sample:
        hint = ""
        if len(sample) == 3 and x.ndim == 4 and (x.shape[2], x.shape[3], x.shape[1]) == sample:
            hint = " (it looks NCHW: the firmware takes NHWC, use x.transpose(0, 2, 3, 1))"
        raise CodegenError(f"{what} has shape {x.shape}: expected (N, {', '.join(map(str, sample))}), N samples "
                           f"of the model's input {shape}{hint}")
    if len(x) == 0:
        raise CodegenError(f"{what} holds no samples")
    if not np.all(np.isfinite(x)):
        raise CodegenError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(x, dtype=np.float32)


def load_calibration(path: Path, graph: Graph) -> CalibrationData:
    arrays = read_npz(path)
    raw = input_arrays(arrays, len(graph.inputs), path)
    names = ["x"] if len(raw) == 1 and "x" in arrays else [f"x{i}" for i in range(len(raw))]
    inputs = [check_samples(x, graph.tensor(i).shape, f"calibration array {name} in {path}")
              for x, i, name in zip(raw, graph.inputs, names, strict=True)]
    if len({len(x) for x in inputs}) != 1:
        raise CodegenError(f"calibration arrays in {path} hold different numbers of samples: "
                           f"{[len(x) for x in inputs]}")
    labels = arrays.get("y")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 2:  # one-hot rows
            labels = labels.argmax(axis=1)
        if labels.ndim != 1 or len(labels) != len(inputs[0]) or labels.dtype.kind not in "iu":
            raise CodegenError(f"calibration labels y in {path} must be {len(inputs[0])} integer class labels "
                               f"(got {labels.dtype} {labels.shape})")
    return CalibrationData(inputs, labels, path)


def activation_tensors(graph: Graph) -> list[int]:
    """Every run-time float tensor: the graph inputs and every operator output."""
    out = list(graph.inputs)
    for op in graph.operators:
        out.extend(o for o in op.outputs if o not in out)
    return out


def collect_ranges(graph: Graph, data: CalibrationData, config: CalibrationConfig) -> dict[int, tuple[float, float]]:
    """tensor index -> (lo, hi), the real range each activation tensor is quantized to cover."""
    if config.method not in METHODS:
        raise CodegenError(f"unknown calibration method {config.method!r} (choose from {', '.join(METHODS)})")
    if not 50.0 < config.percentile <= 100.0:
        raise CodegenError(f"--percentile must be in (50, 100], not {config.percentile:g}")
    check_batchable(graph)
    tensors = activation_tensors(graph)
    keep = set(tensors)
    lo = {i: math.inf for i in tensors}
    hi = {i: -math.inf for i in tensors}
    for batch in batches(data.inputs, config.batch):
        values = run_float(graph, batch, keep=keep.__contains__)
        values.update(zip(graph.inputs, batch, strict=True))
        for i in tensors:
            v = values[i]
            lo[i] = min(lo[i], float(v.min()))
            hi[i] = max(hi[i], float(v.max()))
    ranges = {i: (lo[i], hi[i]) for i in tensors}
    if config.method == "minmax":
        return ranges
    hists = {i: np.zeros(_BINS, np.int64) for i in tensors}
    for batch in batches(data.inputs, config.batch):
        values = run_float(graph, batch, keep=keep.__contains__)
        values.update(zip(graph.inputs, batch, strict=True))
        for i in tensors:
            if hi[i] > lo[i]:
                hists[i] += np.histogram(values[i], bins=_BINS, range=(lo[i], hi[i]))[0]
    out = {}
    for i in tensors:
        if hi[i] <= lo[i]:
            out[i] = ranges[i]
        elif config.method == "percentile":
            out[i] = percentile_range(hists[i], lo[i], hi[i], config.percentile)
        else:
            out[i] = mse_range(hists[i], lo[i], hi[i])
    return out


def percentile_range(hist: np.ndarray, lo: float, hi: float, p: float) -> tuple[float, float]:
    """The (100 - p)th and p-th percentiles, read off the histogram at bin edges (rounded outward)."""
    edges = np.linspace(lo, hi, len(hist) + 1)
    cdf = np.cumsum(hist) / hist.sum()
    tail = (100.0 - p) / 100.0
    first = int(np.searchsorted(cdf, tail, side="right"))
    last = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    return float(edges[min(first, len(hist) - 1)]), float(edges[min(last + 1, len(hist))])


def mse_range(hist: np.ndarray, lo: float, hi: float, steps: int = 64) -> tuple[float, float]:
    """The clipping range [a, b] (a from lo towards 0, b from hi towards 0, searched independently) whose int8
    quantization (256 levels over [a, b], which always includes 0) has the least expected squared error over
    the histogram: clipping error outside, uniform rounding noise (step^2 / 12) inside."""
    edges = np.linspace(lo, hi, len(hist) + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    h = hist.astype(np.float64)
    fractions = np.linspace(1.0, 1.0 / steps, steps)
    los = min(lo, 0.0) * fractions  # (L,)
    his = max(hi, 0.0) * fractions  # (H,)
    below = np.where(centres[None, :] < los[:, None], h * (centres[None, :] - los[:, None]) ** 2, 0.0).sum(axis=1)
    above = np.where(centres[None, :] > his[:, None], h * (centres[None, :] - his[:, None]) ** 2, 0.0).sum(axis=1)
    n_below = np.where(centres[None, :] < los[:, None], h, 0.0).sum(axis=1)
    n_above = np.where(centres[None, :] > his[:, None], h, 0.0).sum(axis=1)
    inside = h.sum() - n_below[:, None] - n_above[None, :]
    step = (his[None, :] - los[:, None]) / 255.0
    err = below[:, None] + above[None, :] + inside * step * step / 12.0
    i, j = np.unravel_index(int(np.argmin(err)), err.shape)
    return (float(los[i]) if lo < 0 else lo), (float(his[j]) if hi > 0 else hi)
