"""STRIDED_SLICE and CONCATENATION of int32 and int16 tensors (the audio front end's zero padding of the
energy spectrum): reference, C kernels and TFLite Micro agree."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.support.model_factory import GraphBuilder
from tests.support.stateful_ops import assert_same, run_c, run_ref, run_tflm


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    from tools.host_runtime import build_host_library

    return ctypes.CDLL(str(build_host_library()))


@pytest.mark.parametrize("dtype", ["int32", "int16"])
@pytest.mark.parametrize("begin, end, stride", [(5, 241, 1), (0, 257, 3), (250, 3, -7)])
def test_slice_then_pad_with_zeros(lib, dtype, begin, end, stride):
    b = GraphBuilder("slice_concat")
    x = b.tensor("x", (257,), dtype)
    starts, ends, strides = b.const_i32("b", [begin]), b.const_i32("e", [end]), b.const_i32("s", [stride])
    n = len(range(begin, end, stride))
    part = b.tensor("part", (n,), dtype)
    b.op("STRIDED_SLICE", (x, starts, ends, strides), (part,), begin_mask=0, end_mask=0, ellipsis_mask=0,
         new_axis_mask=0, shrink_axis_mask=0, offset=False)
    head = b.tensor("head", (5,), dtype, data=np.zeros(5))
    tail = b.tensor("tail", (3,), dtype, data=np.arange(3) - 1)
    y = b.tensor("y", (n + 8,), dtype)
    b.op("CONCATENATION", (head, part, tail), (y,), axis=0, activation="NONE")
    graph = b.build((x,), (y,))
    info = np.iinfo(np.dtype(dtype))
    rng = np.random.default_rng(begin + end)
    invokes = [[rng.integers(info.min, int(info.max) + 1, 257, dtype=np.int64).astype(dtype)]]
    want = run_tflm(graph, invokes)
    assert_same(run_ref(graph, invokes), want, "STRIDED_SLICE + CONCATENATION")
    assert_same(run_c(lib, graph, invokes), want, "STRIDED_SLICE + CONCATENATION")
