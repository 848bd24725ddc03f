"""PAD and PADV2 of int16 tensors (rank <= 4): the int16 variant of pad.py, same parameters and C struct.

TFLite Micro pads with the output zero point (PAD) or the constant value operand (PADV2). Negative paddings
are refused, as TFLM does.
"""

from __future__ import annotations

import numpy as np

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.movement.pad import PadParams

HEADER = "pad_s16.h"


def lower_pad_s16(op: Operator, graph: Graph) -> list[KernelCall]:
    name = op.op_type
    ins = graph.op_inputs(op)
    if len(ins) < 2 or ins[0] is None or len(op.outputs) != 1:
        raise Unsupported(f"{name} needs an input, paddings and one output")
    x, paddings = ins[0], ins[1]
    (y,) = graph.op_outputs(op)
    if x.dtype != "int16" or y.dtype != "int16":
        raise Unsupported(f"{name} of {x.dtype} -> {y.dtype} (this variant: int16)")
    if len(x.shape) > 4:
        raise Unsupported(f"{name} of a rank-{len(x.shape)} tensor (at most 4)")
    if paddings is None or paddings.data is None:
        raise Unsupported(f"{name} with non-constant paddings")
    pads = np.asarray(paddings.data, dtype=np.int64).reshape(-1, 2)
    if pads.shape[0] != len(x.shape) or (pads < 0).any():
        raise Unsupported(f"{name} with paddings {pads.tolist()} for a rank-{len(x.shape)} input")
    if tuple(int(d) for d in np.asarray(x.shape) + pads.sum(axis=1)) != tuple(y.shape):
        raise Unsupported(f"{name} whose output shape {y.shape} does not match the paddings")
    if x.quant is None or y.quant is None or (x.scale, x.zero_point) != (y.scale, y.zero_point):
        raise Unsupported(f"{name} whose input and output quantization differ")
    pad_value = y.zero_point
    if name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = graph.tensor(op.inputs[2])
        if value.data is None:
            raise Unsupported("PADV2 with a non-constant pad value")
        pad_value = int(value.data.reshape(-1)[0])
    lead = 4 - len(x.shape)
    in_shape = (1,) * lead + tuple(x.shape)
    before = (0,) * lead + tuple(int(p) for p in pads[:, 0])
    out_shape = (1,) * lead + tuple(y.shape)
    params = PadParams(*in_shape, *before, *out_shape, pad_value=pad_value)
    return [KernelCall("pad_s16", params, (x.index,), (), (y.index,), op.index)]


def pad_s16_ref(p: PadParams, x: np.ndarray) -> np.ndarray:
    out = np.full(p.out_shape, p.pad_value, dtype=np.int16)
    region = tuple(slice(b, b + n) for b, n in zip(p.before, p.in_shape, strict=True))
    out[region] = np.asarray(x).reshape(p.in_shape)
    return out


def _int16_input(op: Operator, graph: Graph) -> bool:
    return bool(op.inputs) and op.inputs[0] >= 0 and graph.tensor(op.inputs[0]).dtype == "int16"


LOWERINGS: dict = {}
VARIANTS = {"PAD": (_int16_input, lower_pad_s16), "PADV2": (_int16_input, lower_pad_s16)}
REFERENCES = {"pad_s16": pad_s16_ref}
