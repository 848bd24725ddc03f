"""SVDF with int8 input and output, int16 state and time weights, int32 bias: TFLite Micro's integer path.

Per invoke and batch row, with F filters, M memory slots, R = rank and U = F / R units:
  1. the state [F][M] moves one slot left (TFLM shifts the whole batch row by one element; the slot that
     crosses into the previous filter is overwritten in step 2);
  2. state[f][M-1] = clamp16(state_zp + requant1(sum_i weights_feature[f][i] * (input[i] - input_zp)));
  3. output[u] = clamp8(output_zp + requant2(bias[u] + sum_{r<R} sum_m weights_time[uR+r][m] *
     (state[uR+r][m] - state_zp))).
TFLM's integer SVDF applies no fused activation (the output is clamped to int8 only) and ignores the weight
zero points; so does this family. The state is the operator's variable tensor: the call reads it as its second
input and writes it back as its second output (the same tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import ConstArray, KernelCall, KernelParams, Unsupported, cfield
from codegen.kernels.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

HEADER = "svdf_s8.h"


@dataclass(frozen=True)
class SvdfParams(KernelParams):
    C_TYPE = "svdf_s8_params_t"
    batches: int = cfield("int32_t")
    in_features: int = cfield("int32_t")
    filters: int = cfield("int32_t")
    memory: int = cfield("int32_t")
    rank: int = cfield("int32_t")
    input_offset: int = cfield("int32_t")  # -input zero point
    state_zero_point: int = cfield("int32_t")
    output_offset: int = cfield("int32_t")  # output zero point
    feature_multiplier: int = cfield("int32_t")
    feature_shift: int = cfield("int32_t")
    time_multiplier: int = cfield("int32_t")
    time_shift: int = cfield("int32_t")

    @property
    def units(self) -> int:
        return self.filters // self.rank


def _per_tensor_scale(t: Tensor, what: str) -> float:
    if t.quant is None or t.quant.per_channel:
        raise Unsupported(f"SVDF {what} needs a per-tensor quantization")
    return t.scale


def lower_svdf(op: Operator, graph: Graph) -> list[KernelCall]:
    ins = graph.op_inputs(op)
    if len(ins) != 5:
        raise Unsupported(f"SVDF with {len(ins)} inputs (TFLite's has 5)")
    x, wf, wt, bias, state = ins
    (y,) = graph.op_outputs(op)
    if x is None or wf is None or wt is None or state is None:
        raise Unsupported("SVDF without its input, weights or state")
    if x.dtype != "int8" or y.dtype != "int8" or wf.dtype != "int8":
        raise Unsupported(f"SVDF with {x.dtype} input, {wf.dtype} feature weights, {y.dtype} output (int8 only)")
    if wt.dtype != "int16" or state.dtype != "int16":
        raise Unsupported(f"SVDF with {wt.dtype} time weights and {state.dtype} state (int16 only)")
    if bias is not None and (bias.dtype != "int32" or bias.data is None):
        raise Unsupported(f"SVDF with a {bias.dtype} or non-constant bias (constant int32 only)")
    if wf.data is None or wt.data is None:
        raise Unsupported("SVDF with non-constant weights")
    if state.quant is not None and state.quant.zero_point[0] != 0:
        # With a nonzero state zero point the tflite-micro package differs from the current TFLM sources'
        # arithmetic (seen: output 127 where they give -127, as if the int16 state wrapped around); converters
        # write 0 for int16 states, so refuse rather than guess which version to follow.
        raise Unsupported(f"SVDF state zero point {state.quant.zero_point[0]} (only 0)")
    if not state.is_variable:
        raise Unsupported("SVDF whose state tensor is not a variable tensor (TFLite Micro requires one)")
    if state.index in graph.outputs or state.index in graph.inputs:
        raise Unsupported("SVDF whose state tensor is a graph input or output")
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(y.shape) != 2 or len(state.shape) != 2:
        raise Unsupported("SVDF with tensors that are not of rank 2")
    rank = int(op.options.get("rank", 0))
    batches, in_features = x.shape
    filters, memory = wf.shape[0], wt.shape[1]
    if rank < 1 or filters % rank:
        raise Unsupported(f"SVDF of rank {rank} with {filters} filters (the rank must divide them)")
    units = filters // rank
    if wf.shape[1] != in_features or wt.shape[0] != filters or memory < 1:
        raise Unsupported(f"SVDF weights {wf.shape} and {wt.shape} do not match input {x.shape}")
    if tuple(y.shape) != (batches, units) or tuple(state.shape) != (batches, memory * filters):
        raise Unsupported(f"SVDF output {y.shape} or state {state.shape} do not match {batches}x{units}, "
                          f"{batches}x{memory * filters}")
    if bias is not None and tuple(bias.shape) != (units,):
        raise Unsupported(f"SVDF bias of shape {bias.shape} for {units} units")
    s_in = np.float32(_per_tensor_scale(x, "input"))
    s_wf = np.float32(_per_tensor_scale(wf, "feature weights"))
    s_wt = np.float32(_per_tensor_scale(wt, "time weights"))
    s_state = np.float32(_per_tensor_scale(state, "state"))
    s_out = np.float32(_per_tensor_scale(y, "output"))
    # Both scales in double from the float32 scales: the TFLM sources read float32 products, but the TFLM that
    # the tests run (the tflite-micro package) rounds as double arithmetic does, e.g. for scales whose float32
    # quotient is exactly 0.5 and whose double quotient is 0.5 + 8e-9 (a feature sum of -842.5 becomes -843).
    scale_1 = float(s_in) * float(s_wf) / float(s_state)
    state_time = np.float32(s_state * s_wt)
    scale_2 = float(s_state) * float(s_wt) / float(s_out)
    if bias is not None:
        s_bias = _per_tensor_scale(bias, "bias")
        if not abs(float(s_bias) - float(state_time)) < 1e-5:
            raise Unsupported(f"SVDF bias scale {s_bias} is not state scale x time weight scale {state_time} "
                              "(TFLite Micro refuses it)")
    if not (scale_1 > 0 and scale_2 > 0):
        raise Unsupported("SVDF with a zero or negative weight scale")
    m1, sh1 = quantize_multiplier(scale_1)
    m2, sh2 = quantize_multiplier(scale_2)
    params = SvdfParams(batches, in_features, filters, memory, rank, -x.zero_point, state.zero_point,
                        y.zero_point, m1, sh1, m2, sh2)
    bias_data = (bias.data if bias is not None else np.zeros(units, np.int32)).astype(np.int32).reshape(-1)
    consts = (
        ConstArray("weights_feature", np.ascontiguousarray(wf.data, dtype=np.int8).reshape(-1)),
        ConstArray("weights_time", np.ascontiguousarray(wt.data, dtype=np.int16).reshape(-1)),
        ConstArray("bias", bias_data),
    )
    macs = batches * filters * (in_features + memory)
    return [KernelCall("svdf_s8", params, (x.index, state.index), consts, (y.index, state.index), op.index,
                       macs=macs)]


def svdf_s8_ref(p: SvdfParams, x: np.ndarray, state: np.ndarray, wf: np.ndarray, wt: np.ndarray,
                bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One invoke: returns (output, the new state); `state` is not modified."""
    x = np.asarray(x, np.int64).reshape(p.batches, p.in_features)
    flat = np.asarray(state, np.int64).reshape(p.batches * p.memory * p.filters).copy()
    flat[:-1] = flat[1:]  # TFLM's shift of the whole buffer by one element
    new = flat.reshape(p.batches, p.filters, p.memory)
    wf = np.asarray(wf, np.int64).reshape(p.filters, p.in_features)
    dot = (x + p.input_offset) @ wf.T  # [batches][filters]; |dot| < 2^31 for in_features < 2^15
    feat = multiply_by_quantized_multiplier(dot, p.feature_multiplier, p.feature_shift) + p.state_zero_point
    new[:, :, p.memory - 1] = np.clip(feat, -32768, 32767)
    wt = np.asarray(wt, np.int64).reshape(p.filters, p.memory)
    per_filter = _wrap32(np.sum((new - p.state_zero_point) * wt[None], axis=2))
    per_unit = _wrap32(np.asarray(bias, np.int64)[None] + per_filter.reshape(p.batches, p.units, p.rank).sum(axis=2))
    out = multiply_by_quantized_multiplier(per_unit, p.time_multiplier, p.time_shift) + p.output_offset
    y = np.clip(out, -128, 127).astype(np.int8)
    return y, new.reshape(p.batches, p.memory * p.filters).astype(np.int16)


def _wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + 2**31) % 2**32) - 2**31


LOWERINGS = {"SVDF": lower_svdf}
REFERENCES = {"svdf_s8": svdf_s8_ref}
