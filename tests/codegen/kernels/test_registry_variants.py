"""The registry's VARIANTS: an op type keeps one LOWERINGS entry, which hands int16 operators to the 16x8
families and everything else to the op type's own family, whose refusals still name the reason."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels import FAMILIES, LOWERINGS
from codegen.kernels.base import Unsupported

Q = Quantization((0.01,), (0,))


def _binary(op_type: str, dtype: str) -> Graph:
    tensors = [Tensor(i, n, (2, 3), dtype, Q if dtype != "float32" else None) for i, n in enumerate("aby")]
    return Graph(tensors, [Operator(0, op_type, (0, 1), (2,), {"activation": "NONE"})], (0, 1), (2,))


def _lower(graph: Graph):
    (op,) = graph.operators
    return LOWERINGS[op.op_type](op, graph)


@pytest.mark.parametrize(("dtype", "kernel"), [("int8", "add_s8"), ("int16", "add_s16"), ("float32", "binary_f32")])
def test_add_goes_to_the_family_of_its_element_type(dtype, kernel):
    (call,) = _lower(_binary("ADD", dtype))
    assert call.kernel == kernel


def test_an_element_type_no_family_takes_keeps_the_base_refusal():
    # (float32 and int32 ADD have a family now: binary_wide)
    with pytest.raises(Unsupported, match="uint8"):
        _lower(_binary("ADD", "uint8"))


def test_the_int16_conv_variant_refuses_with_its_own_reason():
    w = np.ones((1, 1, 1, 1), dtype=np.int8)
    tensors = [Tensor(0, "x", (1, 2, 2, 1), "int16", Q), Tensor(1, "w", w.shape, "int8", Q, w),
               Tensor(2, "y", (1, 2, 2, 1), "int8", Q)]
    op = Operator(0, "CONV_2D", (0, 1), (2,), {"padding": "VALID", "stride_h": 1, "stride_w": 1})
    with pytest.raises(Unsupported, match="int16 input, int8 filter and int8 output"):
        LOWERINGS["CONV_2D"](op, Graph(tensors, [op], (0,), (2,)))


def test_every_variant_is_reachable_through_lowerings():
    """Each declared variant is (accepts, lowering) and its op type has a LOWERINGS entry that dispatches."""
    for family in FAMILIES:
        for op_type, (accepts, lowering) in getattr(family, "VARIANTS", {}).items():
            assert callable(accepts) and callable(lowering)
            assert op_type in LOWERINGS, (family.__name__, op_type)
