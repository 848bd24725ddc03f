"""PAD (constant padding with the zero point) for int8 tensors of rank <= 4."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield

HEADER = "pad_s8.h"


@dataclass(frozen=True)
class PadParams(KernelParams):
    C_TYPE = "pad_s8_params_t"
    in_d0: int = cfield("int32_t")
    in_d1: int = cfield("int32_t")
    in_d2: int = cfield("int32_t")
    in_d3: int = cfield("int32_t")
    before_d0: int = cfield("int32_t")
    before_d1: int = cfield("int32_t")
    before_d2: int = cfield("int32_t")
    before_d3: int = cfield("int32_t")
    out_d0: int = cfield("int32_t")
    out_d1: int = cfield("int32_t")
    out_d2: int = cfield("int32_t")
    out_d3: int = cfield("int32_t")
    pad_value: int = cfield("int32_t")

    @property
    def in_shape(self) -> tuple[int, int, int, int]:
        return (self.in_d0, self.in_d1, self.in_d2, self.in_d3)

    @property
    def before(self) -> tuple[int, int, int, int]:
        return (self.before_d0, self.before_d1, self.before_d2, self.before_d3)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.out_d0, self.out_d1, self.out_d2, self.out_d3)


def lower_pad(op: Operator, graph: Graph) -> list[KernelCall]:
    x, paddings = graph.op_inputs(op)[:2]
    (y,) = graph.op_outputs(op)
    if x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported(f"PAD on {x.dtype} (only int8)")
    if len(x.shape) > 4:
        raise Unsupported(f"PAD of a rank-{len(x.shape)} tensor (at most 4)")
    if paddings is None or paddings.data is None:
        raise Unsupported("PAD with non-constant paddings")
    for t, role in ((x, "input"), (y, "output")):
        if t.quant is None or t.quant.per_channel:
            raise Unsupported(f"PAD whose {role} is not per-tensor quantized")
    if x.quant != y.quant and (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise Unsupported("PAD whose input and output quantization differ")
    pad_value = y.zero_point
    if op.op_type == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = graph.tensor(op.inputs[2])
        if value.data is None:
            raise Unsupported("PADV2 with a non-constant pad value")
        if value.dtype != x.dtype:
            raise Unsupported(f"PADV2 with a {value.dtype} pad value for {x.dtype} data (TFLite requires the same)")
        pad_value = int(value.data.reshape(-1)[0])
    amounts = np.asarray(paddings.data)
    if amounts.shape != (len(x.shape), 2):
        raise Unsupported(f"PAD with paddings of shape {amounts.shape} for a rank-{len(x.shape)} input "
                          f"(needs ({len(x.shape)}, 2))")
    if (amounts < 0).any():
        raise Unsupported(f"PAD with negative paddings {amounts.tolist()}")
    expected = tuple(int(d + a + b) for d, (a, b) in zip(x.shape, amounts.tolist(), strict=True))
    if tuple(y.shape) != expected:
        raise Unsupported(f"PAD whose output shape {tuple(y.shape)} is not the padded shape {expected}")
    lead = 4 - len(x.shape)
    in_shape = (1,) * lead + tuple(x.shape)
    before = (0,) * lead + tuple(int(p) for p in amounts[:, 0])
    out_shape = (1,) * lead + tuple(y.shape)
    params = PadParams(*in_shape, *before, *out_shape, pad_value=pad_value)
    return [KernelCall("pad_s8", params, (x.index,), (), (y.index,), op.index)]


def pad_s8_ref(p: PadParams, x: np.ndarray) -> np.ndarray:
    out = np.full(p.out_shape, p.pad_value, dtype=np.int8)
    region = tuple(slice(b, b + n) for b, n in zip(p.before, p.in_shape, strict=True))
    out[region] = x.reshape(p.in_shape)
    return out


LOWERINGS = {"PAD": lower_pad, "PADV2": lower_pad}
REFERENCES = {"pad_s8": pad_s8_ref}
