"""RESHAPE: the bytes do not change, so the kernel is a plain copy the memory planner can alias away."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield

HEADER = "copy_s8.h"

# Element types the C emitter has a type for (bool and int64 tensors have none).
_DTYPES = ("int8", "uint8", "int16", "int32", "float32")


@dataclass(frozen=True)
class CopyBytesParams(KernelParams):
    C_TYPE = "copy_bytes_params_t"
    num_bytes: int = cfield("int32_t")


def operand(t: Tensor, role: str) -> tuple[tuple[int, ...], tuple[ConstArray, ...]]:
    """An operand as KernelCall inputs or consts: activations by index, constants as a flash array."""
    if t.is_const:
        assert t.data is not None
        return (), (ConstArray(role, np.ascontiguousarray(t.data)),)
    return (t.index,), ()


def lower_reshape(op: Operator, graph: Graph) -> list[KernelCall]:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported("RESHAPE without an input tensor")
    if x.dtype != y.dtype:
        raise Unsupported(f"RESHAPE from {x.dtype} to {y.dtype}")
    if x.dtype not in _DTYPES:
        raise Unsupported(f"RESHAPE of {x.dtype} (supported: {', '.join(_DTYPES)})")
    if x.size != y.size:
        raise Unsupported(f"RESHAPE of {x.size} elements {x.shape} into {y.size} elements {y.shape}")
    inputs, consts = operand(x, "data")
    # The output shape is the output tensor's (static); the optional shape operand adds nothing.
    params = CopyBytesParams(num_bytes=x.nbytes)
    return [KernelCall("copy_bytes", params, inputs, consts, (y.index,), op.index, in_place=bool(inputs),
                       alias_offset=0 if inputs else None)]


def copy_bytes_ref(p: CopyBytesParams, x: np.ndarray) -> np.ndarray:
    if x.nbytes != p.num_bytes:
        raise ValueError(f"copy_bytes of {p.num_bytes} bytes given {x.nbytes}")
    return np.array(x, copy=True).reshape(-1)


LOWERINGS = {"RESHAPE": lower_reshape}
REFERENCES = {"copy_bytes": copy_bytes_ref}
