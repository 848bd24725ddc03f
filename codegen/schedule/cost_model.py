"""Predict the instructions a kernel call executes, from coefficients fitted to emulator per-call counts.

instructions = sum over features of coef[key][feature] * feature, with the features MACs, output bytes,
input bytes and 1 (per-call overhead). The key is the C function, except that the depthwise DSP kernels'
flag suffixes (_nf, _cl) share their base's coefficients: they add a few instructions per output, and a
separate fit each would have too few calls. Kernels never measured fall back to a generic fit over every call.
scripts/fit_cost_model.py fits codegen/schedule/cost_model.json on one board's emulated twin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codegen.ir import Graph
from codegen.kernels.base import KernelCall

FEATURES = ("macs", "output_bytes", "input_bytes", "call")
DEFAULT_PATH = Path(__file__).with_name("cost_model.json")
_FLAG_SUFFIXES = ("_cl", "_nf")


def kernel_key(kernel: str) -> str:
    """The coefficient group of a C function: depthwise DSP variants without their compile-time flags."""
    if kernel.startswith("depthwise_conv2d_s8_dsp"):
        for suffix in _FLAG_SUFFIXES:
            kernel = kernel.removesuffix(suffix)
    return kernel


def features(graph: Graph, call: KernelCall, nbytes: dict[int, int] | None = None) -> tuple[float, ...]:
    """(MACs, output bytes, input bytes, 1); `nbytes` caches tensor sizes across the calls of one graph (the
    schedule search predicts hundreds of calls per candidate)."""
    sizes = {} if nbytes is None else nbytes

    def size(t: int) -> int:
        if t not in sizes:
            sizes[t] = graph.tensor(t).nbytes
        return sizes[t]

    return (float(call.macs), float(sum(map(size, call.outputs))), float(sum(map(size, call.inputs))), 1.0)


@dataclass(frozen=True)
class Sample:
    """One measured call: its kernel key, features and the instructions it took."""

    key: str
    features: tuple[float, ...]
    instructions: float


@dataclass(frozen=True)
class CostModel:
    coefficients: dict[str, tuple[float, ...]]  # kernel key -> one coefficient per FEATURES entry
    fallback: tuple[float, ...]  # for kernels without coefficients of their own
    board: str = ""
    core: str = ""
    samples: dict[str, int] = field(default_factory=dict)  # kernel key -> calls it was fitted on

    def knows(self, kernel: str) -> bool:
        return kernel_key(kernel) in self.coefficients

    def predict_call(self, graph: Graph, call: KernelCall, nbytes: dict[int, int] | None = None) -> float:
        coef = self.coefficients.get(kernel_key(call.kernel), self.fallback)
        return sum(c * f for c, f in zip(coef, features(graph, call, nbytes), strict=True))

    def predict(self, graph: Graph, calls: Sequence[KernelCall], elided: Iterable[int] = ()) -> int:
        """Instructions of a whole invoke; elided calls (aliased in place) run no code. The sum of predict_call
        over the calls, in the same order and float operations, with each kernel's coefficients looked up once
        (the search predicts thousands of calls per candidate)."""
        skip, nbytes = set(elided), {}
        tensors = graph.tensors
        coefs: dict[str, tuple[float, ...]] = {}

        def size(t: int) -> int:
            n = nbytes.get(t)
            if n is None:
                n = nbytes[t] = tensors[t].nbytes
            return n

        total = 0
        for pos, c in enumerate(calls):
            if pos in skip:
                continue
            coef = coefs.get(c.kernel)
            if coef is None:
                coef = coefs[c.kernel] = self.coefficients.get(kernel_key(c.kernel), self.fallback)
            m, o, i, k = coef  # as predict_call: sum() of the products, from 0, in FEATURES order
            total += (((0 + m * float(c.macs)) + o * float(sum(map(size, c.outputs)))
                       + i * float(sum(map(size, c.inputs)))) + k * 1.0)
        return round(total)

    def to_json(self) -> dict:
        return {"board": self.board, "core": self.core, "unit": "instructions", "features": list(FEATURES),
                "fallback": list(self.fallback),
                "kernels": {k: {"coefficients": list(v), "samples": self.samples.get(k, 0)}
                            for k, v in sorted(self.coefficients.items())}}

    @classmethod
    def from_json(cls, data: dict) -> CostModel:
        if data.get("features") != list(FEATURES):
            raise ValueError(f"cost model features {data.get('features')} are not {list(FEATURES)}")
        kernels = data["kernels"]
        return cls({k: tuple(v["coefficients"]) for k, v in kernels.items()}, tuple(data["fallback"]),
                   data.get("board", ""), data.get("core", ""), {k: v.get("samples", 0) for k, v in kernels.items()})

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")


def load(path: Path = DEFAULT_PATH) -> CostModel:
    return CostModel.from_json(json.loads(path.read_text()))


def load_default() -> CostModel | None:
    """The committed model, or None when it has not been fitted (then callers rank as they did before)."""
    return load() if DEFAULT_PATH.is_file() else None


def fit(samples: Sequence[Sample], board: str = "", core: str = "") -> CostModel:
    """Non-negative least squares per kernel key, plus a generic fallback fitted on every sample. Rows are
    weighted by 1/sqrt(instructions): between absolute error (small calls ignored, yet a patched schedule is
    many small calls) and relative error (big calls underpredicted, yet they dominate a model's total)."""
    by_key: dict[str, list[Sample]] = {}
    for s in samples:
        by_key.setdefault(s.key, []).append(s)
    coefficients = {key: _nnls(group) for key, group in by_key.items()}
    return CostModel(coefficients, _nnls(samples), board, core, {k: len(g) for k, g in by_key.items()})


def _nnls(samples: Sequence[Sample]) -> tuple[float, ...]:
    from scipy.optimize import nnls

    a = np.array([s.features for s in samples], dtype=np.float64)
    b = np.array([s.instructions for s in samples], dtype=np.float64)
    weight = 1.0 / np.sqrt(np.maximum(b, 1.0))
    # Scale columns to unit norm so MACs (millions) and the constant (1) are solved on equal footing.
    norms = np.linalg.norm(a * weight[:, None], axis=0)
    norms[norms == 0] = 1.0
    x, _ = nnls(a * weight[:, None] / norms, b * weight)
    return tuple(float(v) for v in x / norms)
