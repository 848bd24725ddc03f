"""DEPTH_TO_SPACE and SPACE_TO_DEPTH of an int8 NHWC tensor with block size b: both are one 4-D transpose.

DEPTH_TO_SPACE reads the input [N*H, W, b, b*C'] (the channels split into the block row and the rest) and writes
it with the middle axes swapped, [N*H, b, W, b*C'], which is the output [N, H*b, W*b, C'] in memory.
SPACE_TO_DEPTH is the same swap from [N*H', b, W', b*C] to [N*H', W', b, b*C] = [N, H', W', b*b*C]. So both lower
to the transpose family's transpose_s8 kernel with permutation (0, 2, 1, 3).
"""

from __future__ import annotations

from codegen.ir import Graph, Operator
from codegen.kernels.base import KernelCall, Unsupported
from codegen.kernels.movement.reshape import operand
from codegen.kernels.movement.transpose import TransposeParams

HEADER = "transpose_s8.h"


def _check(op: Operator, graph: Graph) -> tuple:
    x = graph.op_inputs(op)[0]
    (y,) = graph.op_outputs(op)
    if x is None:
        raise Unsupported(f"{op.op_type} without an input")
    if x.dtype != "int8" or y.dtype != "int8":
        raise Unsupported(f"{op.op_type} of {x.dtype} to {y.dtype} (only int8)")
    if len(x.shape) != 4:
        raise Unsupported(f"{op.op_type} of a rank-{len(x.shape)} tensor (4)")
    block = int(op.options.get("block_size", 0))
    if block < 1:
        raise Unsupported(f"{op.op_type} with block size {block}")
    return x, y, block


def lower_depth_to_space(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, b = _check(op, graph)
    n, h, w, c = x.shape
    if c % (b * b):
        raise Unsupported(f"DEPTH_TO_SPACE of {c} channels with block size {b}")
    expected = (n, h * b, w * b, c // (b * b))
    if tuple(y.shape) != expected:
        raise Unsupported(f"DEPTH_TO_SPACE output shape {y.shape}, {expected} expected")
    params = TransposeParams(n * h, w, b, c // b, 0, 2, 1, 3)
    inputs, consts = operand(x, "data")
    return [KernelCall("transpose_s8", params, inputs, consts, (y.index,), op.index)]


def lower_space_to_depth(op: Operator, graph: Graph) -> list[KernelCall]:
    x, y, b = _check(op, graph)
    n, h, w, c = x.shape
    if h % b or w % b:
        raise Unsupported(f"SPACE_TO_DEPTH of {h}x{w} with block size {b}")
    expected = (n, h // b, w // b, c * b * b)
    if tuple(y.shape) != expected:
        raise Unsupported(f"SPACE_TO_DEPTH output shape {y.shape}, {expected} expected")
    params = TransposeParams(n * h // b, b, w // b, b * c, 0, 2, 1, 3)
    inputs, consts = operand(x, "data")
    return [KernelCall("transpose_s8", params, inputs, consts, (y.index,), op.index)]


LOWERINGS = {"DEPTH_TO_SPACE": lower_depth_to_space, "SPACE_TO_DEPTH": lower_space_to_depth}
REFERENCES: dict = {}
