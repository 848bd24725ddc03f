"""BATCH_MATMUL of two int8 tensors (rank 2..5), adj_x / adj_y, NumPy broadcasting of the batch dims, either
operand constant or computed at run time.

TFLite Micro (batch_matmul.cc, reference_ops::BatchMatMul): out[b, m, n] = sum_k (lhs[b, m, k] - lhs_zp) *
(rhs[b, k, n] - rhs_zp) in int32, times QuantizeMultiplier(s_lhs * s_rhs / s_out), plus out_zp, saturated
to int8 (no fused activation). TFLM transposes an operand into a buffer when adj_x is set or adj_y is not;
the sum does not depend on the layout, so the kernel instead reads both operands in place through strides
(no scratch memory): (m, k) of lhs at m * lhs_sm + k * lhs_sk, (k, n) of rhs at k * rhs_sk + n * rhs_sn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.conv.fully_connected import effective_multiplier
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "batch_matmul_s8.h"

MAX_RANK = 5  # TFLM's limit; up to three batch dims
# (255 * 255) * depth must fit the int32 accumulator.
MAX_DEPTH = (2**31 - 1) // (255 * 255)


@dataclass(frozen=True)
class BatchMatMulParams(KernelParams):
    C_TYPE = "batch_matmul_s8_params_t"
    batch0: int = cfield("int32_t")  # output batch dims, padded in front with 1s
    batch1: int = cfield("int32_t")
    batch2: int = cfield("int32_t")
    lhs_bs0: int = cfield("int32_t")  # lhs element stride per output batch index (0: broadcast)
    lhs_bs1: int = cfield("int32_t")
    lhs_bs2: int = cfield("int32_t")
    rhs_bs0: int = cfield("int32_t")
    rhs_bs1: int = cfield("int32_t")
    rhs_bs2: int = cfield("int32_t")
    rows: int = cfield("int32_t")  # M
    cols: int = cfield("int32_t")  # N
    depth: int = cfield("int32_t")  # K
    lhs_sm: int = cfield("int32_t")
    lhs_sk: int = cfield("int32_t")
    rhs_sk: int = cfield("int32_t")
    rhs_sn: int = cfield("int32_t")
    lhs_offset: int = cfield("int32_t")  # -lhs zero point
    rhs_offset: int = cfield("int32_t")  # -rhs zero point
    output_offset: int = cfield("int32_t")
    output_multiplier: int = cfield("int32_t")
    output_shift: int = cfield("int32_t")
    swapped: int = cfield("int32_t")  # 1: the C arguments arrive as (rhs, lhs) (only lhs is constant)


def _check(t: Tensor, role: str) -> None:
    if t.dtype != "int8":
        raise Unsupported(f"with a {t.dtype} {role} (only int8)")
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"whose {role} is not per-tensor quantized")


def _batch_strides(batch: tuple[int, ...], out_batch: tuple[int, ...], matrix: int) -> list[int]:
    """Element strides of an operand's (padded) batch dims over the output's; 0 where it broadcasts."""
    strides = []
    step = matrix
    for d, o in zip(reversed(batch), reversed(out_batch), strict=True):
        strides.append(0 if d == 1 and o != 1 else step)
        step *= d
    return list(reversed(strides))


def lower_batch_matmul(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise Unsupported(f"with {len(ins)} inputs (needs two)")
    lhs, rhs = ins
    (y,) = graph.op_outputs(op)
    for t, role in ((lhs, "lhs"), (rhs, "rhs"), (y, "output")):
        _check(t, role)
    if op.options.get("asymmetric_quantize_inputs"):
        raise Unsupported("with asymmetric_quantize_inputs (hybrid)")
    rank = max(len(lhs.shape), len(rhs.shape))
    if min(len(lhs.shape), len(rhs.shape)) < 2 or rank > MAX_RANK:
        raise Unsupported(f"of ranks {len(lhs.shape)} and {len(rhs.shape)} (2 to {MAX_RANK})")
    a = (1,) * (rank - len(lhs.shape)) + tuple(lhs.shape)
    b = (1,) * (rank - len(rhs.shape)) + tuple(rhs.shape)
    adj_x, adj_y = bool(op.options.get("adj_x")), bool(op.options.get("adj_y"))
    m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    k_b, n = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    if k != k_b:
        raise Unsupported(f"of shapes {lhs.shape} and {rhs.shape}: depths {k} and {k_b} differ")
    try:
        out_batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError:
        raise Unsupported(f"of shapes {lhs.shape} and {rhs.shape} whose batch dims do not broadcast") from None
    if tuple(y.shape) != out_batch + (m, n):
        raise Unsupported(f"output shape {tuple(y.shape)} is not {out_batch + (m, n)}")
    if k > MAX_DEPTH:
        raise Unsupported(f"of depth {k} (at most {MAX_DEPTH}: the int32 accumulator)")
    pad = (1,) * (3 - len(out_batch))
    lhs_bs = [0] * len(pad) + _batch_strides(a[:-2], out_batch, m * k)
    rhs_bs = [0] * len(pad) + _batch_strides(b[:-2], out_batch, k * n)
    mult, shift = quantize_multiplier(effective_multiplier(lhs.scale, rhs.scale, y.scale))
    swapped = lhs.is_const and not rhs.is_const
    params = BatchMatMulParams(
        *(pad + out_batch), *lhs_bs, *rhs_bs, rows=m, cols=n, depth=k,
        lhs_sm=1 if adj_x else k, lhs_sk=m if adj_x else 1, rhs_sk=1 if adj_y else n, rhs_sn=k if adj_y else 1,
        lhs_offset=-lhs.zero_point, rhs_offset=-rhs.zero_point, output_offset=y.zero_point,
        output_multiplier=mult, output_shift=shift, swapped=int(swapped),
    )
    inputs = tuple(t.index for t in (lhs, rhs) if not t.is_const)
    consts = tuple(ConstArray(role, np.ascontiguousarray(t.data, dtype=np.int8))
                   for t, role in ((lhs, "lhs"), (rhs, "rhs")) if t.is_const)
    macs = int(np.prod(out_batch, dtype=np.int64)) * m * n * k
    return [KernelCall("batch_matmul_s8", params, inputs, consts, (y.index,), op.index, macs=macs)]


def batch_matmul_s8_ref(p: BatchMatMulParams, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    lhs, rhs = (second, first) if p.swapped else (first, second)
    lhs_flat = np.asarray(lhs, dtype=np.int64).reshape(-1) + p.lhs_offset
    rhs_flat = np.asarray(rhs, dtype=np.int64).reshape(-1) + p.rhs_offset
    out = np.empty((p.batch0, p.batch1, p.batch2, p.rows, p.cols), dtype=np.int64)
    mi, ki = np.arange(p.rows)[:, None], np.arange(p.depth)[None, :]
    kj, nj = np.arange(p.depth)[:, None], np.arange(p.cols)[None, :]
    for b0 in range(p.batch0):
        for b1 in range(p.batch1):
            for b2 in range(p.batch2):
                la = b0 * p.lhs_bs0 + b1 * p.lhs_bs1 + b2 * p.lhs_bs2
                rb = b0 * p.rhs_bs0 + b1 * p.rhs_bs1 + b2 * p.rhs_bs2
                a = lhs_flat[la + mi * p.lhs_sm + ki * p.lhs_sk]  # (rows, depth)
                b = rhs_flat[rb + kj * p.rhs_sk + nj * p.rhs_sn]  # (depth, cols)
                out[b0, b1, b2] = a @ b
    scaled = multiply_by_quantized_multiplier(out, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(scaled, -128, 127).astype(np.int8).reshape(-1)


LOWERINGS = {"BATCH_MATMUL": lower_batch_matmul}
REFERENCES = {"batch_matmul_s8": batch_matmul_s8_ref}
