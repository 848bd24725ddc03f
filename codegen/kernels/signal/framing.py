"""TFLM's stateful framing operators: SignalFramer, SignalStacker, SignalDelay, SignalOverlapAdd.

TFLM keeps their state in persistent buffers (circular buffers) reset by its Reset; here each state is a
variable tensor the lowering adds to the graph (named after the operator, so lowering twice adds it once):
it lives in model_state, starts at zero and model_reset() zeroes it, so every encoding below has the
all-zero state as TFLM's freshly reset one. Each call reads the state as inputs and writes it back as outputs.

Framer (int16, per row of the input's innermost dimension, frame_step samples per frame pushed):
  TFLM's ring holds up to C = ceil(frame_size / frame_step) * frame_step samples, prefilled with
  frame_size - frame_step zeros when `prefill`; a frame is output (the OLDEST frame_size samples held) once
  frame_size are held, then frame_step are dropped. So once outputs start, the ring holds a fixed L samples
  at each output (frame_size with prefill, C without), and the state is the last L samples of the row's
  stream (zeros before any, which are the prefill's zeros) plus a count of the frames pushed (saturating).
  output_valid is false when any frame of the invoke was not output; such frames are written as zeros here
  (TFLM leaves them as they were).
Stacker (int16, 1-D frames of num_channels): the first frame is repeated left_context extra times; an output
  (the last (left + right + 1) frames) is given when that many are held, then `stacker_step` are dropped.
  State: the last (left + right + 1) frames and a count (0 = no frame yet, else frames held + 1).
Delay (int16): each row's output is its input delayed by delay_length samples (zeros first). State: the last
  delay_length samples of each row.
OverlapAdd (int16 saturating, or float32): per row and frame, buffer += frame (int16: saturated), the first
  frame_step values are output, the buffer moves left by frame_step and zeros enter. State: the buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.ir import Graph, Operator, Tensor
from codegen.kernels.base import KernelCall, KernelParams, Unsupported, cfield

HEADER = "signal_framing.h"


def state_tensor(graph: Graph, op: Operator, role: str, shape: tuple[int, ...], dtype: str) -> int:
    """The operator's persistent state as a variable tensor of the graph, added on first use."""
    name = f"{op.op_type.removeprefix('CUSTOM:')}_{op.index}_{role}"
    for t in graph.tensors:
        if t.is_variable and t.name == name:
            if t.shape != shape or t.dtype != dtype:
                raise Unsupported(f"{op.op_type} state tensor {name} exists with another shape or type")
            return t.index
    index = len(graph.tensors)
    graph.tensors.append(Tensor(index, name, shape, dtype, is_variable=True))
    return index


def _one_in(op: Operator, graph: Graph, name: str, outputs: int) -> Tensor:
    ins = graph.op_inputs(op)
    if len(ins) != 1 or ins[0] is None or len(op.outputs) != outputs:
        raise Unsupported(f"{name} takes one input and has {outputs} output{'s' if outputs > 1 else ''}")
    return ins[0]


def _shift_in(history: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The last len(history) samples of history followed by values."""
    joined = np.concatenate([history, values])
    return joined[len(joined) - len(history):]


# ---- Framer ----

@dataclass(frozen=True)
class FramerParams(KernelParams):
    C_TYPE = "signal_framer_params_t"
    outer: int = cfield("int32_t")
    n_frames: int = cfield("int32_t")  # frames per row and invoke
    frame_size: int = cfield("int32_t")
    frame_step: int = cfield("int32_t")
    history: int = cfield("int32_t")  # L: samples kept per row
    first_valid: int = cfield("int32_t")  # pushes after which frames are output (1-based count)


def lower_framer(op: Operator, graph: Graph) -> list[KernelCall]:
    x = _one_in(op, graph, "SignalFramer", 2)
    y, valid = graph.op_outputs(op)
    if (x.dtype, y.dtype, valid.dtype) != ("int16", "int16", "bool"):
        raise Unsupported(f"SignalFramer of {x.dtype} into {y.dtype}, {valid.dtype} (int16, int16, bool)")
    size, step = int(op.options.get("frame_size", 0)), int(op.options.get("frame_step", 0))
    prefill = bool(op.options.get("prefill", False))
    if len(x.shape) < 1 or len(y.shape) != len(x.shape) + 1 or valid.size != 1:
        raise Unsupported(f"SignalFramer of shape {x.shape} into {y.shape} (one more dimension) and {valid.shape}")
    inner = x.shape[-1]
    if size < 1 or step < 1 or inner < step or inner % step:
        raise Unsupported(f"SignalFramer frame_size {size}, frame_step {step} for rows of {inner} samples "
                          "(a whole number of steps)")
    if prefill and size < step:
        raise Unsupported(f"SignalFramer with prefill and frame_size {size} < frame_step {step}")
    outer, n_frames = x.size // inner, inner // step
    if y.size != outer * n_frames * size:
        raise Unsupported(f"SignalFramer output {y.shape} is not {outer}x{n_frames}x{size}")
    capacity = -(-size // step) * step
    history = size if prefill else capacity
    init = size - step if prefill else 0
    first_valid = -(-(size - init) // step)  # pushes until `size` samples are held
    hist = state_tensor(graph, op, "history", (outer, history), "int16")
    count = state_tensor(graph, op, "count", (1,), "int32")
    params = FramerParams(outer, n_frames, size, step, history, first_valid)
    return [KernelCall("signal_framer_s16", params, (x.index, hist, count), (), (y.index, valid.index, hist, count),
                       op.index)]


def signal_framer_s16_ref(p: FramerParams, x: np.ndarray, hist: np.ndarray, count: np.ndarray,
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows = np.asarray(x, np.int16).reshape(p.outer, p.n_frames * p.frame_step)
    hist = np.asarray(hist, np.int16).reshape(p.outer, p.history).copy()
    y = np.zeros((p.outer, p.n_frames, p.frame_size), np.int16)
    pushed = int(np.asarray(count).reshape(-1)[0])
    valid = True
    for f in range(p.n_frames):
        pushed = min(pushed + 1, p.first_valid)
        for r in range(p.outer):
            hist[r] = _shift_in(hist[r], rows[r, f * p.frame_step : (f + 1) * p.frame_step])
            if pushed >= p.first_valid:
                y[r, f] = hist[r, : p.frame_size]
        valid = valid and pushed >= p.first_valid
    return y.reshape(-1), np.asarray(valid, np.bool_), hist, np.asarray([pushed], np.int32)


# ---- Stacker ----

@dataclass(frozen=True)
class StackerParams(KernelParams):
    C_TYPE = "signal_stacker_params_t"
    channels: int = cfield("int32_t")
    left: int = cfield("int32_t")
    frames: int = cfield("int32_t")  # left + right + 1
    step: int = cfield("int32_t")


def lower_stacker(op: Operator, graph: Graph) -> list[KernelCall]:
    x = _one_in(op, graph, "SignalStacker", 2)
    y, valid = graph.op_outputs(op)
    if (x.dtype, y.dtype, valid.dtype) != ("int16", "int16", "bool"):
        raise Unsupported(f"SignalStacker of {x.dtype} into {y.dtype}, {valid.dtype} (int16, int16, bool)")
    channels = int(op.options.get("num_channels", 0))
    left, right = int(op.options.get("stacker_left_context", 0)), int(op.options.get("stacker_right_context", 0))
    step = int(op.options.get("stacker_step", 0))
    frames = left + right + 1
    if len(x.shape) != 1 or len(y.shape) != 1 or valid.size != 1:
        raise Unsupported(f"SignalStacker of shape {x.shape} into {y.shape} (1-D, as TFLM)")
    if channels < 1 or x.size != channels or left < 0 or right < 0 or not 1 <= step <= frames:
        raise Unsupported(f"SignalStacker of {x.size} values with num_channels {channels}, contexts {left}, {right}"
                          f", step {step} (the input is one frame; 1 <= step <= left + right + 1)")
    if y.size != channels * frames:
        raise Unsupported(f"SignalStacker output of {y.size} values for {frames} frames of {channels}")
    hist = state_tensor(graph, op, "history", (frames * channels,), "int16")
    count = state_tensor(graph, op, "count", (1,), "int32")
    params = StackerParams(channels, left, frames, step)
    return [KernelCall("signal_stacker_s16", params, (x.index, hist, count), (), (y.index, valid.index, hist, count),
                       op.index)]


def signal_stacker_s16_ref(p: StackerParams, x: np.ndarray, hist: np.ndarray, count: np.ndarray,
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    frame = np.asarray(x, np.int16).reshape(-1)
    hist = np.asarray(hist, np.int16).reshape(-1).copy()
    held = int(np.asarray(count).reshape(-1)[0])  # 0: no frame yet, else frames held + 1
    copies = 1 + p.left if held == 0 else 1
    held = max(held, 1)
    for _ in range(copies):
        hist = _shift_in(hist, frame)
    held += copies
    y = np.zeros(p.frames * p.channels, np.int16)
    valid = held - 1 >= p.frames
    if valid:
        y[:] = hist
        held -= p.step
    return y, np.asarray(valid, np.bool_), hist, np.asarray([held], np.int32)


# ---- Delay ----

@dataclass(frozen=True)
class DelayParams(KernelParams):
    C_TYPE = "signal_delay_params_t"
    outer: int = cfield("int32_t")
    frame_size: int = cfield("int32_t")
    delay: int = cfield("int32_t")


def lower_delay(op: Operator, graph: Graph) -> list[KernelCall]:
    x = _one_in(op, graph, "SignalDelay", 1)
    (y,) = graph.op_outputs(op)
    if x.dtype != "int16" or y.dtype != "int16":
        raise Unsupported(f"SignalDelay of {x.dtype} into {y.dtype} (int16 only)")
    delay = int(op.options.get("delay_length", 0))
    if len(x.shape) < 1 or x.shape[-1] < 1 or y.size != x.size or delay < 0:
        raise Unsupported(f"SignalDelay of shape {x.shape} into {y.shape}, delay_length {delay}")
    frame = x.shape[-1]
    params = DelayParams(x.size // frame, frame, delay)
    if delay == 0:  # nothing to keep: the output is the input
        return [KernelCall("signal_delay_s16_stateless", params, (x.index,), (), (y.index,), op.index,
                           in_place=True, alias_offset=0)]
    hist = state_tensor(graph, op, "history", (x.size // frame, delay), "int16")
    return [KernelCall("signal_delay_s16", params, (x.index, hist), (), (y.index, hist), op.index)]


def signal_delay_s16_stateless_ref(p: DelayParams, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.int16).reshape(-1).copy()


def signal_delay_s16_ref(p: DelayParams, x: np.ndarray, hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(x, np.int16).reshape(p.outer, p.frame_size)
    joined = np.concatenate([np.asarray(hist, np.int16).reshape(p.outer, p.delay), rows], axis=1)
    return joined[:, : p.frame_size].reshape(-1).copy(), joined[:, p.frame_size :].copy()


# ---- OverlapAdd ----

@dataclass(frozen=True)
class OverlapAddParams(KernelParams):
    C_TYPE = "signal_overlap_add_params_t"
    outer: int = cfield("int32_t")
    n_frames: int = cfield("int32_t")
    frame_size: int = cfield("int32_t")
    frame_step: int = cfield("int32_t")


def lower_overlap_add(op: Operator, graph: Graph) -> list[KernelCall]:
    x = _one_in(op, graph, "SignalOverlapAdd", 1)
    (y,) = graph.op_outputs(op)
    if x.dtype != y.dtype or x.dtype not in ("int16", "float32"):
        raise Unsupported(f"SignalOverlapAdd of {x.dtype} into {y.dtype} (int16 or float32)")
    step = int(op.options.get("frame_step", 0))
    if len(x.shape) < 2 or len(x.shape) != len(y.shape) + 1:
        raise Unsupported(f"SignalOverlapAdd of shape {x.shape} into {y.shape} (frames: one dimension more)")
    n_frames, size = x.shape[-2], x.shape[-1]
    outer = x.size // (n_frames * size) if n_frames * size else 0
    if not 1 <= step <= size or y.size != outer * n_frames * step:
        raise Unsupported(f"SignalOverlapAdd frame_step {step} for frames of {size} into {y.shape}")
    buf = state_tensor(graph, op, "buffer", (outer, size), x.dtype)
    kernel = "signal_overlap_add_s16" if x.dtype == "int16" else "signal_overlap_add_f32"
    params = OverlapAddParams(outer, n_frames, size, step)
    return [KernelCall(kernel, params, (x.index, buf), (), (y.index, buf), op.index, macs=x.size)]


def _overlap_add(p: OverlapAddParams, x: np.ndarray, buf: np.ndarray, dtype: type,
                 ) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(x, dtype).reshape(p.outer, p.n_frames, p.frame_size)
    buf = np.asarray(buf, dtype).reshape(p.outer, p.frame_size).copy()
    y = np.zeros((p.outer, p.n_frames, p.frame_step), dtype)
    for r in range(p.outer):
        for f in range(p.n_frames):
            if dtype is np.int16:
                buf[r] = np.clip(buf[r].astype(np.int32) + frames[r, f], -32768, 32767)
            else:
                buf[r] = buf[r] + frames[r, f]
            y[r, f] = buf[r, : p.frame_step]
            buf[r] = np.concatenate([buf[r, p.frame_step :], np.zeros(p.frame_step, dtype)])
    return y.reshape(-1), buf


def signal_overlap_add_s16_ref(p: OverlapAddParams, x: np.ndarray, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _overlap_add(p, x, buf, np.int16)


def signal_overlap_add_f32_ref(p: OverlapAddParams, x: np.ndarray, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _overlap_add(p, x, buf, np.float32)


LOWERINGS = {
    "CUSTOM:SignalFramer": lower_framer,
    "CUSTOM:SignalStacker": lower_stacker,
    "CUSTOM:SignalDelay": lower_delay,
    "CUSTOM:SignalOverlapAdd": lower_overlap_add,
}
REFERENCES = {
    "signal_framer_s16": signal_framer_s16_ref,
    "signal_stacker_s16": signal_stacker_s16_ref,
    "signal_delay_s16": signal_delay_s16_ref,
    "signal_delay_s16_stateless": signal_delay_s16_stateless_ref,
    "signal_overlap_add_s16": signal_overlap_add_s16_ref,
    "signal_overlap_add_f32": signal_overlap_add_f32_ref,
}
