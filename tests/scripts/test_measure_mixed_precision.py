"""scripts/measure_mixed_precision.py's measurement on a toy chain: figures that follow from the choices."""

from __future__ import annotations

import numpy as np

from codegen.quantize import mixed_precision as mp
from scripts.measure_mixed_precision import measure
from tests.support.model_factory import conv_chain


def _samples(seed: int, n: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, (1, 8, 8, 1)).astype(np.int8)] for _ in range(n)]


def test_measure_toy_chain(capsys):
    graph = conv_chain(8, (3, 3, 1), scale=4.0)
    calib, test = _samples(0, 6), _samples(1, 5)
    # lambda 1: entropy alone, every map keeps 8 bits: no saving, and the mixed result is the int8 one
    kept = measure("toy", graph, calib, test, 1 << 20, mp.MixedPrecisionOptions(lam=1.0))
    assert kept["ratio"] == 1.0 and kept["agreement"] == 1.0
    # lambda 0: bit operations alone, 2 bits: fewer bit operations on the low-bit patches
    low = measure("toy", graph, calib, test, 1 << 20, mp.MixedPrecisionOptions(lam=0.0))
    assert set(low["bits"].values()) == {2} and low["ratio"] > 1.0
    assert "top-1 agreement with int8" in capsys.readouterr().out

