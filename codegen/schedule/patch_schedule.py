"""Patch-based execution of a network's memory-heavy first stage (MCUNetV2).

The lowered calls up to a split point form stage 1; the split tensor S is cut into a grid of tiles. For each
tile, every stage-1 tensor's required region is found backwards (receptive field, halo included, clipped to
the tensor: borders are then padded exactly as the full-tensor op pads them), and stage 1 is re-emitted as
ordinary kernel calls on small per-patch buffers:
- windowed kernels (convolutions, pooling) read their producer's buffer directly: a window that starts
  inside a larger buffer is expressed as a smaller (possibly negative) padding, so no copy is needed;
- RESIZE_NEAREST_NEIGHBOR reads its producer's buffer directly too: its row and column tables are cut to the
  window and shifted to the buffer's first row and column (each output pixel copies one input pixel);
- element-wise kernels read exactly their output's window: a copy_window call crops it when the producer
  computed a larger region;
- a final copy_window stores the patch's result into its tile of S;
- a layout TRANSPOSE of an NCHW model input to NHWC (a model converted from PyTorch) is folded into the way
  stage 1 reads its input: each patch or band copies its window straight from the NCHW input into an NHWC
  buffer (copy_window_planar), or, with the input streamed, asks model_read_input() for the window's rows
  channel by channel (read_input_planar); the NHWC copy of the whole input never exists;
- a RESHAPE (or SQUEEZE) of the model input to a 4-D tensor moves no byte, so every row of its output is a
  contiguous byte range of the input: held, it stays the aliased view it is per layer (run once before the
  patches, elided by the planner) and stage 1 reads it whole; streamed, each band asks model_read_input() for
  its new rows of the reshaped tensor at their byte offsets in the input (read_input_window). A RESHAPE to
  [1, C, H, W] followed by the layout TRANSPOSE (flat NCHW input, as converters emit it) is read through the
  same way (copy_window_planar / read_input_planar on the input's bytes).
Stage 2 is unchanged. The expanded call list goes through the same planner, reference executor and emitter
as any other, so per-patch buffers are reused between patches and bit-exactness is testable the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from codegen.ir import ITEMSIZE, Graph, Tensor
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.movement.input_stream import ReadInputParams, ReadInputPlanarParams
from codegen.kernels.movement.window_copy import PlanarWindowParams, WindowCopyParams

# kernel -> names of its (kernel height, kernel width, dilation h, dilation w) params; None means 1
WINDOWED: dict[str, tuple[str, str, str | None, str | None]] = {
    "conv2d_s8": ("kernel_h", "kernel_w", "dilation_h", "dilation_w"),
    "depthwise_conv2d_s8": ("kernel_h", "kernel_w", "dilation_h", "dilation_w"),
    "avg_pool2d_s8": ("filter_h", "filter_w", None, None),
    "max_pool2d_s8": ("filter_h", "filter_w", None, None),
    # the 16x8 scheme's kernels share the int8 ones' window params (and index padding the same way)
    "conv2d_s16": ("kernel_h", "kernel_w", "dilation_h", "dilation_w"),
    "conv2d_s16_b32": ("kernel_h", "kernel_w", "dilation_h", "dilation_w"),
    "depthwise_conv2d_s16": ("kernel_h", "kernel_w", "dilation_h", "dilation_w"),
    "avg_pool2d_s16": ("filter_h", "filter_w", None, None),
    "max_pool2d_s16": ("filter_h", "filter_w", None, None),
}
# Kernels whose output pixel copies the input pixel its (row, column) tables name: receptive field one pixel.
RESAMPLED = ("resize_nearest_bytes",)
_BROADCAST_FIELDS = tuple(f"{p}_d{i}" for p in ("out", "in1", "in2") for i in range(4))
MINMAX = ("maximum_s8", "minimum_s8", "maximum_s16", "minimum_s16")
# Element-wise kernels on BroadcastParams (out_d*, in1_d*, in2_d*): a window sets the output's and each runtime
# operand's dims; a constant second operand that does not vary over H and W keeps its own.
BINARY = ("add_s8", "mul_s8", "sub_s8", "add_s16", "sub_s16", "mul_s16", "squared_difference_s8", "prelu_s8",
          *MINMAX)
# Element-wise kernels of one runtime input whose params count elements (`size`): a window sets the count.
# lut_s8's one constant is its table (RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, TANH on int8).
UNARY = ("lut_s8", "relu_s16", "logistic_s8", "leaky_relu_s8", "leaky_relu_s16", "sigmoid_s16")
# Conversions of one runtime input, by `size` too (a constant input is folded, not windowed): among them what
# converters put in front of the first convolution (QUANTIZE of a float input, DEQUANTIZE + QUANTIZE, CAST).
CONVERSIONS = ("quantize_f32_s8", "requantize_s8", "quantize_f32_s16", "requantize_s8_s16", "requantize_s16_s8",
               "requantize_s16_s16", "dequantize_s8_f32", "cast_elements")


def _replace(obj: Any, **changes: Any) -> Any:
    """dataclasses.replace for the IR's plain dataclasses (every field in __init__, no __post_init__, nothing else
    in __dict__), at a fifth of its cost: expansions build hundreds of thousands of calls. The copy's __dict__ is
    filled directly, as __init__ would fill it (frozen classes too). A field the class does not have fails loudly
    (TypeError)."""
    fields = obj.__dict__
    if not fields.keys() >= changes.keys() or hasattr(obj, "__post_init__"):
        raise TypeError(f"{type(obj).__name__}: fields {sorted(changes)} cannot be replaced by copying __dict__")
    copy = object.__new__(type(obj))
    copy.__dict__.update(fields)
    copy.__dict__.update(changes)
    return copy


# Every field of a Tensor the expansions add: no data, not variable (the defaults), the rest set by _tensor.
_NEW_TENSOR = Tensor(0, "", (), "int8").__dict__


def _tensor(index: int, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Tensor(index, name, shape, like.dtype, like.quant) without running __init__ (expansions add hundreds of
    thousands of tensors): the same fields, filled directly."""
    t = object.__new__(Tensor)
    t.__dict__.update(_NEW_TENSOR)
    t.__dict__.update(index=index, name=name, shape=shape, dtype=like.dtype, quant=like.quant)
    return t


@dataclass(frozen=True)
class Region:
    """Rows [y0, y1) and columns [x0, x1) of an NHWC tensor."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    def union(self, other: Region | None) -> Region:
        if other is None:
            return self
        return Region(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))


def full_region(t: Tensor) -> Region:
    return Region(0, t.shape[1], 0, t.shape[2])


def tiles(height: int, width: int, rows: int, cols: int) -> list[Region]:
    """A rows x cols grid of nearly equal tiles, row-major."""
    ys = [round(i * height / rows) for i in range(rows + 1)]
    xs = [round(j * width / cols) for j in range(cols + 1)]
    return [Region(ys[i], ys[i + 1], xs[j], xs[j + 1]) for i in range(rows) for j in range(cols)]


def is_patchable(call: KernelCall, graph: Graph) -> bool:
    """Whether a call can run on a spatial window of its tensors."""
    if is_folded_reshape(call, graph):
        return True
    if len(call.outputs) != 1 or len(graph.tensor(call.outputs[0]).shape) != 4:
        return False
    if any(len(graph.tensor(t).shape) != 4 or graph.tensor(t).shape[0] != 1 for t in call.inputs):
        return False
    if call.kernel in WINDOWED or call.kernel in RESAMPLED:
        return len(call.inputs) == 1
    if call.kernel in BINARY:
        p = call.params
        if not call.consts:
            return not p.broadcast
        # A constant second operand that does not vary over H and W (e.g. a per-channel floor, PRELU's alpha)
        # is the same for every patch: only the runtime operand and the output are cut.
        return (len(call.inputs) == 1 and len(call.consts) == 1 and p.in1_shape == p.out_shape
                and p.in2_d1 == p.in2_d2 == 1)
    if call.kernel in UNARY:
        return len(call.inputs) == 1
    if call.kernel == "transpose_s8":
        return is_layout_transpose(call, graph)
    return call.kernel in CONVERSIONS and len(call.inputs) == 1 and not call.consts


# Operators that lower to copy_bytes of their whole input: the output is the input's bytes, reinterpreted.
_BYTE_VIEWS = ("RESHAPE", "SQUEEZE")


def input_bytes_of(graph: Graph, t: int) -> int | None:
    """The model input whose bytes tensor t holds: t itself, or a RESHAPE/SQUEEZE of a model input (a byte view,
    see is_folded_reshape); None for any other tensor."""
    if t in graph.inputs:
        return t
    op = next((op for op in graph.operators if t in op.outputs), None)
    if op is not None and op.op_type in _BYTE_VIEWS and op.inputs and op.inputs[0] in graph.inputs:
        return op.inputs[0]
    return None


def is_folded_reshape(call: KernelCall, graph: Graph) -> bool:
    """Whether `call` is a RESHAPE (copy_bytes) of a whole model input to a [1, H, W, C] tensor. A reshape moves
    no byte, so row r of its output is bytes [r*W*C, (r+1)*W*C) of the input: stage 1 reads those rows straight
    from the input (held: through the aliased view; streamed: at those offsets through model_read_input())."""
    if call.kernel != "copy_bytes" or len(call.inputs) != 1 or call.consts or call.inputs[0] not in graph.inputs:
        return False
    x, y = graph.tensor(call.inputs[0]), graph.tensor(call.outputs[0])
    return len(y.shape) == 4 and y.shape[0] == 1 and call.params.num_bytes == x.nbytes == y.nbytes


def is_layout_transpose(call: KernelCall, graph: Graph) -> bool:
    """Whether `call` is a TRANSPOSE (0, 2, 3, 1) of an NCHW model input (or of a RESHAPE of one, e.g. a flat
    [1, C*H*W] input) to NHWC: stage 1 then reads its windows straight from the input's bytes (planar_call)
    instead of a transposed copy of the whole input."""
    return (call.kernel == "transpose_s8" and tuple(call.params.perm) == (0, 2, 3, 1) and len(call.inputs) == 1
            and input_bytes_of(graph, call.inputs[0]) is not None and len(graph.tensor(call.inputs[0]).shape) == 4
            and graph.tensor(call.inputs[0]).dtype == "int8")


def not_foldable(call: KernelCall, graph: Graph) -> str | None:
    """Why a call reading the model input's bytes (the input, or a reshape of it) cannot be folded into the way
    stage 1 reads its input; None when it can, or when it does not read them."""
    if call.kernel == "copy_bytes" and call.inputs and call.inputs[0] not in graph.inputs:
        return "only a RESHAPE of the model input itself is folded (this one reshapes a computed tensor)"
    if not call.inputs or input_bytes_of(graph, call.inputs[0]) is None:
        return None
    y = graph.tensor(call.outputs[0]) if call.outputs else None
    if call.kernel == "copy_bytes" and not is_folded_reshape(call, graph) and y is not None:
        return f"its output {list(y.shape)} is not a [1, H, W, C] tensor"
    if call.kernel.startswith("transpose") and not is_layout_transpose(call, graph):
        perm = tuple(getattr(call.params, "perm", ()))
        src = graph.tensor(call.inputs[0])
        if src.dtype != "int8":
            return f"a TRANSPOSE of a {src.dtype} input is not folded (int8 only)"
        return (f"TRANSPOSE perm {perm} of the input is not row-local (an output row is not read from whole rows "
                "of the input's planes)")
    return None


def planar_call(graph: Graph, call: KernelCall, out: Region, streamed: bool = False) -> KernelCall:
    """A folded layout TRANSPOSE computing only `out` of its NHWC output: the window copied from the NCHW
    input (held), or read through model_read_input() channel row by channel row (streamed)."""
    src = graph.tensor(call.inputs[0])
    _, channels, height, width = src.shape  # the NCHW tensor: the input, or a reshape of it (the same bytes)
    fields = {"channels": channels, "rows": out.h, "cols": out.w, "src_offset": out.y0 * width + out.x0,
              "src_row_stride": width, "src_plane_stride": height * width, "dst_offset": 0,
              "dst_stride": out.w * channels, "dst_bytes": out.h * out.w * channels}
    if streamed:
        root = input_bytes_of(graph, src.index)
        params = ReadInputPlanarParams(**fields, input=graph.inputs.index(root))
        return KernelCall("read_input_planar", params, (root,), (), call.outputs, call.op_index)
    return KernelCall("copy_window_planar", PlanarWindowParams(**fields), (src.index,), (), call.outputs,
                      call.op_index)


def input_region(call: KernelCall, out: Region, source: Tensor) -> Region:
    """The region of `source` that `call` reads to produce `out` (its receptive field, clipped). For a layout
    TRANSPOSE, the rows and columns of its NCHW source (axes 2 and 3)."""
    if call.kernel in RESAMPLED:
        rows, cols = (np.asarray(c.data) for c in call.consts[-2:])
        if out.h <= 0 or out.w <= 0:
            return Region(0, 0, 0, 0)
        picked_rows, picked_cols = rows[out.y0 : out.y1], cols[out.x0 : out.x1]
        return Region(int(picked_rows.min()), int(picked_rows.max()) + 1, int(picked_cols.min()),
                      int(picked_cols.max()) + 1)
    if call.kernel not in WINDOWED:
        return out
    p = call.params
    kh, kw, dh, dw = (getattr(p, name) if name else 1 for name in WINDOWED[call.kernel])
    y0, y1 = _reads(out.y0, out.y1, p.stride_h, p.pad_h, kh, dh, source.shape[1])
    x0, x1 = _reads(out.x0, out.x1, p.stride_w, p.pad_w, kw, dw, source.shape[2])
    return Region(y0, y1, x0, x1)


def _reads(first: int, end: int, stride: int, pad: int, kernel: int, dilation: int, size: int) -> tuple[int, int]:
    """Input rows [lo, hi) that outputs [first, end) read, clipped to [0, size). May be empty: TFLite lets an
    output's every tap fall in the padding (its value is then the bias alone)."""
    lo = first * stride - pad
    hi = (end - 1) * stride - pad + (kernel - 1) * dilation + 1 if end > first else lo
    lo = min(max(lo, 0), size)
    return lo, min(max(hi, lo), size)


def split_points(graph: Graph, calls: list[KernelCall]) -> list[int]:
    """Call positions k such that calls[0..k] can run patch by patch and only calls[k]'s output crosses to the rest."""
    points = []
    produced: set[int] = set()
    for k, call in enumerate(calls):
        if not is_patchable(call, graph):
            break
        produced.update(call.outputs)
        if is_folded_reshape(call, graph):  # the input's own bytes: nothing to split
            continue
        split = call.outputs[0]
        later_reads = {t for c in calls[k + 1 :] for t in c.inputs}
        crossing = (produced & later_reads) | (produced & set(graph.outputs))
        if crossing == {split} and graph.tensor(split).shape[1] > 1 and k + 1 < len(calls):
            points.append(k)
    return points


def not_split_points(graph: Graph, calls: list[KernelCall]) -> dict[int, str]:
    """Call positions before stage 1's limit (stage1_limit) that are not split points, each with why: another
    tensor of stage 1 is read after it (naming the call and operator that read it), its output has one row, it
    is the last call, or it is a folded reshape of the input."""
    points = set(split_points(graph, calls))
    produced: set[int] = set()
    why: dict[int, str] = {}
    for k, call in enumerate(calls):
        if not is_patchable(call, graph):
            break
        produced.update(call.outputs)
        if k in points:
            continue
        split = call.outputs[0]
        if is_folded_reshape(call, graph):
            why[k] = "a folded reshape of the input (its bytes, read by stage 1)"
            continue
        if k + 1 == len(calls):
            why[k] = "the last call"
            continue
        if split in graph.outputs:
            why[k] = f"its output t{split} is a model output"
            continue
        later = next(((j, t) for j in range(k + 1, len(calls)) for t in calls[j].inputs
                      if t in produced and t != split), None)
        if later is not None:
            j, t = later
            op = graph.operator(calls[j].op_index)
            why[k] = f"t{t} is also read after it, by call {j} ({calls[j].kernel}, operator {op.index} {op.op_type})"
        elif produced & set(graph.outputs):
            why[k] = "a model output is produced in stage 1"
        elif graph.tensor(split).shape[1] <= 1:
            why[k] = f"its output t{split} has one row"
        else:
            why[k] = f"its output t{split} is not read after it"
    return why


def stage1_limit(graph: Graph, calls: list[KernelCall]) -> str | None:
    """Why stage 1 can extend no further (split points past it are not weighed): the first call that cannot run
    on a window, or None when every call can."""
    for k, call in enumerate(calls):
        if not is_patchable(call, graph):
            op = graph.operator(call.op_index)
            why = not_foldable(call, graph) or _not_nhwc(call, graph)
            return (f"call {k} ({call.kernel}, operator {op.index} {op.op_type}) cannot run in patches or bands"
                    + (f": {why}" if why else ""))
    return None


def _not_nhwc(call: KernelCall, graph: Graph) -> str | None:
    """The first of the call's tensors that is not a [1, H, W, C] tensor, said as a reason."""
    for t in (*call.inputs, *call.outputs):
        shape = graph.tensor(t).shape
        if len(shape) != 4 or shape[0] != 1:
            return f"tensor {t} {list(shape)} is not a [1, H, W, C] tensor"
    return None


def expand(graph: Graph, calls: list[KernelCall], split: int, grid: tuple[int, int]) -> tuple[Graph, list[KernelCall]]:
    """The graph with per-patch buffer tensors added, and the call list with stage 1 run patch by patch."""
    tensors = list(graph.tensors)
    stage1, stage2 = calls[: split + 1], calls[split + 1 :]
    split_tensor = graph.tensor(stage1[-1].outputs[0])
    # Folded reshapes run once, whole, before the patches: the planner aliases them (no byte moves).
    out_calls: list[KernelCall] = [c for c in stage1 if is_folded_reshape(c, graph)]
    for n, tile in enumerate(tiles(split_tensor.shape[1], split_tensor.shape[2], *grid)):
        patch_buffer = patch_calls(graph, tensors, stage1, tile, f"p{n}", out_calls)
        out_calls.append(store_call(tensors[patch_buffer], tile, split_tensor, stage1[-1].op_index))
    return _replace(graph, tensors=tensors), out_calls + stage2


def patch_calls(graph: Graph, tensors: list[Tensor], stage1: list[KernelCall], tile: Region, tag: str,
                out_calls: list[KernelCall], held: frozenset[int] = frozenset()) -> int:
    """Append to `out_calls` the calls of `stage1` that compute `tile` of its last call's output on per-patch
    buffers (added to `tensors`, named with `tag`); return that output's patch buffer. Tensors in `held` were
    computed whole before the patches (a squeeze-and-excite's channel scale) and are read whole by every patch."""
    last = stage1[-1].outputs[0]
    required: dict[int, Region] = {last: tile}

    def new_buffer(like: Tensor, region: Region, suffix: str) -> int:
        index = len(tensors)
        shape = (1, region.h, region.w, like.shape[3])
        tensors.append(_tensor(index, f"{like.name}@{suffix}", shape, like))
        return index

    for call in reversed(stage1):
        out = required.get(call.outputs[0])
        if out is None:
            continue
        for t in call.inputs:
            if t not in held:
                required[t] = input_region(call, out, graph.tensor(t)).union(required.get(t))
    buffers: dict[int, tuple[int, Region]] = {}  # stage-1 tensor -> (patch buffer, its region)
    for call in stage1:
        if is_folded_reshape(call, graph):
            continue  # read whole, as the input is
        out_tensor = graph.tensor(call.outputs[0])
        if out_tensor.index not in required:
            continue  # not needed for the tile (a first pass stops at the squeeze-and-excite's input)
        region = required[out_tensor.index]
        sources = [buffers.get(t, (t, full_region(graph.tensor(t)))) for t in call.inputs]
        if is_layout_transpose(call, graph):
            new_call = planar_call(graph, call, region)
        elif call.kernel in WINDOWED:
            new_call = window_call(call, region, sources[0])
        elif call.kernel in RESAMPLED:
            new_call = resample_call(call, region, sources[0])
        else:
            inputs = []
            for t, (src, src_region) in zip(call.inputs, sources, strict=True):
                if src_region != region and t not in held:
                    crop = new_buffer(graph.tensor(t), region, f"{tag}crop")
                    out_calls.append(_copy_call(tensors[src], src_region, region, crop, call.op_index))
                    src = crop
                inputs.append(src)
            kept = tuple(i for i, t in enumerate(call.inputs) if t in held)
            new_call = pointwise_call(call, region, out_tensor.shape[3], tuple(inputs), kept)
        buffer = new_buffer(out_tensor, region, tag)
        out_calls.append(_replace(new_call, outputs=(buffer,)))
        buffers[out_tensor.index] = (buffer, region)
    return buffers[last][0]


def window_call(call: KernelCall, out: Region, source: tuple[int, Region]) -> KernelCall:
    src, src_region = source
    p = call.params
    params = _replace(
        p,
        in_h=src_region.h,
        in_w=src_region.w,
        out_h=out.h,
        out_w=out.w,
        pad_h=p.pad_h - out.y0 * p.stride_h + src_region.y0,
        pad_w=p.pad_w - out.x0 * p.stride_w + src_region.x0,
    )
    macs = call.macs // max(p.out_h * p.out_w, 1) * out.h * out.w  # MACs per output pixel are uniform
    return _replace(call, params=params, inputs=(src,), macs=macs)


def resample_call(call: KernelCall, out: Region, source: tuple[int, Region]) -> KernelCall:
    """A resize computing only `out`, reading a buffer that holds `source`'s region of its input: the tables are
    cut to the window and made relative to that region."""
    src, src_region = source
    rows, cols = (np.asarray(c.data) for c in call.consts[-2:])
    tables = (ConstArray("in_row", (rows[out.y0 : out.y1] - src_region.y0).astype(np.int32)),
              ConstArray("in_col", (cols[out.x0 : out.x1] - src_region.x0).astype(np.int32)))
    params = _replace(call.params, in_h=src_region.h, in_w=src_region.w, out_h=out.h, out_w=out.w)
    return _replace(call, params=params, inputs=(src,), consts=call.consts[:-2] + tables)


def pointwise_call(call: KernelCall, out: Region, channels: int, inputs: tuple[int, ...],
                   whole: tuple[int, ...] = ()) -> KernelCall:
    """`call` computing `out`; the runtime operands numbered in `whole` (0: in1, 1: in2) are read whole, so keep
    their dims (a squeeze-and-excite's 1 x 1 x C scale)."""
    p = call.params
    if call.kernel in BINARY:
        dims = (1, out.h, out.w, channels)
        # A constant operand keeps its own (spatially constant) dims: see is_patchable.
        kept = {f"in{i + 1}" for i in whole} | ({"in2"} if call.consts else set())
        fields = tuple(f for f in _BROADCAST_FIELDS if f[:3] not in kept)
        params = _replace(p, **{f: dims[int(f[-1])] for f in fields})
    else:
        params = _replace(p, size=out.h * out.w * channels)
    return _replace(call, params=params, inputs=inputs)


def _element_bytes(t: Tensor) -> int:
    return ITEMSIZE[t.dtype] * t.shape[3]


def _copy_call(src: Tensor, src_region: Region, want: Region, dst: int, op_index: int) -> KernelCall:
    """Crop `want` out of a buffer holding `src_region` into a buffer of exactly `want`."""
    px = _element_bytes(src)
    params = WindowCopyParams(
        rows=want.h,
        row_bytes=want.w * px,
        src_offset=((want.y0 - src_region.y0) * src_region.w + (want.x0 - src_region.x0)) * px,
        src_stride=src_region.w * px,
        dst_offset=0,
        dst_stride=want.w * px,
        dst_bytes=want.h * want.w * px,
    )
    return KernelCall("copy_window", params, (src.index,), (), (dst,), op_index)


def store_call(patch: Tensor, tile: Region, split: Tensor, op_index: int) -> KernelCall:
    px = _element_bytes(split)
    params = WindowCopyParams(
        rows=tile.h,
        row_bytes=tile.w * px,
        src_offset=0,
        src_stride=tile.w * px,
        dst_offset=(tile.y0 * split.shape[2] + tile.x0) * px,
        dst_stride=split.shape[2] * px,
        dst_bytes=split.nbytes,
    )
    return KernelCall("copy_window", params, (patch.index,), (), (split.index,), op_index)


class _NewTensors:
    """The graph's tensors plus the per-patch buffers, line buffers and views an expansion adds."""

    def __init__(self, graph: Graph):
        self.tensors = list(graph.tensors)
        self.views = dict(graph.views)
        # tensor -> the tensor whose bytes it is (a held folded reshape -> the input): views name the latter, so
        # the planner may still alias the reshape away
        self.same_bytes: dict[int, int] = {}

    def add(self, like: Tensor, rows: int, cols: int, tag: str) -> int:
        index = len(self.tensors)
        shape = (1, rows, cols, like.shape[3])
        self.tensors.append(_tensor(index, f"{like.name}@{tag}{index}", shape, like))
        return index

    def view(self, base: int, like: Tensor, row: int, rows: int, cols: int) -> int:
        """`rows` rows of `cols` columns from row `row` of a buffer whose rows are `cols` wide."""
        index = self.add(like, rows, cols, "view")
        offset = row * cols * _element_bytes(like)
        base = self.same_bytes.get(base, base)
        while base in self.views:  # a view of a view: name the buffer itself
            base, extra = self.views[base]
            offset += extra
        self.views[index] = (base, offset)
        return index

    def graph(self, graph: Graph) -> Graph:
        return _replace(graph, tensors=self.tensors, views=self.views)


def expand_cached(
    graph: Graph, calls: list[KernelCall], split: int, bands: int, strips: int = 1, stream_input: bool = False,
    start: int = 0,
) -> tuple[Graph, list[KernelCall]]:
    """Stage 1 in `strips` column strips, each run top to bottom in `bands` row bands with line buffers.

    Within a strip, each stage-1 tensor lives in a line buffer that holds exactly the rows the current band
    needs (its receptive field), starting at buffer row 0. Rows still needed from the previous band are first
    shifted to the front (one copy_window, row by row, toward lower addresses), then the producer computes
    only the rows that are new: vertical halos are never recomputed; horizontal halos between strips are.
    Reads and writes go through views (byte ranges of a buffer), so no kernel knows about line buffers.

    With `stream_input` the model input gets a line buffer too, and each band reads only its new input rows
    (read_input_window, i.e. model_read_input()): the input is never held whole in SRAM.

    With `start` > 0 only calls[start : split + 1] run in bands (a segment in the middle of the network, see
    codegen/schedule/band_segments.py); tensors from before it are read whole.
    """
    new_tensors = _NewTensors(graph)
    streamed = graph.inputs[0] if stream_input else None
    # A streamed input read only through a folded layout TRANSPOSE or RESHAPE: that call reads the input's rows
    # itself, into its output's line buffer (no line buffer of the input).
    folded = streamed is not None and _read_through(graph, calls)
    if stream_input and (start or not can_stream_input(graph, calls, split)):
        raise ValueError(f"{graph.name}: the input cannot be streamed with stage 1 ending at call {split}")
    prefix, stage1, stage2 = calls[:start], calls[start : split + 1], calls[split + 1 :]
    # Folded reshapes of the input. Held: run once before the bands (aliased by the planner) and read whole.
    # Streamed: each band reads its new rows from the input, unless only layout TRANSPOSEs read the reshape
    # (they then read the input's bytes themselves: `through`, no call and no buffer).
    reshapes = [c for c in stage1 if is_folded_reshape(c, graph)]
    through = {c.outputs[0] for c in reshapes if streamed is not None
               and all(is_layout_transpose(r, graph) for r in calls if c.outputs[0] in r.inputs)}
    skipped = {c.outputs[0] for c in reshapes if streamed is None or c.outputs[0] in through}
    if streamed is None:
        prefix = prefix + reshapes
        new_tensors.same_bytes = {c.outputs[0]: c.inputs[0] for c in reshapes}
    split_tensor = graph.tensor(stage1[-1].outputs[0])
    height, width = split_tensor.shape[1], split_tensor.shape[2]
    schedule = []  # per strip, per band: tensor -> required region
    for cols in tiles(1, width, 1, strips):
        per_band = []
        for rows in tiles(height, width, bands, 1):
            regions: dict[int, Region] = {split_tensor.index: Region(rows.y0, rows.y1, cols.x0, cols.x1)}
            for call in reversed(stage1):
                out = regions.get(call.outputs[0])
                if out is not None:
                    for t in call.inputs:
                        regions[t] = input_region(call, out, graph.tensor(t)).union(regions.get(t))
            per_band.append(regions)
        schedule.append(per_band)

    # One line buffer per stage-1 tensor; with one strip the split tensor is written in place, whole rows.
    direct = strips == 1
    lines: dict[int, int] = {}
    lined = [c.outputs[0] for c in (stage1[:-1] if direct else stage1) if c.outputs[0] not in skipped]
    for t in lined if streamed is None or folded else [streamed, *lined]:
        needed = [r[t] for per_band in schedule for r in per_band if t in r]
        lines[t] = new_tensors.add(graph.tensor(t), max(r.h for r in needed), max(r.w for r in needed), "lines")

    out_calls: list[KernelCall] = []
    for per_band in schedule:
        previous: dict[int, Region] = {}
        for regions in per_band:
            if streamed is not None and not folded:
                new, out = _new_rows(graph.tensor(streamed), regions, previous, lines, new_tensors, out_calls,
                                     stage1[0].op_index)
                if out is not None:
                    out_calls.append(_read_input_call(graph, streamed, new, out, stage1[0].op_index))
            for call in stage1:
                t = graph.tensor(call.outputs[0])
                if t.index not in regions or t.index in skipped:
                    continue
                new, out = _new_rows(t, regions, previous, lines, new_tensors, out_calls, call.op_index)
                if out is None:
                    continue
                if is_layout_transpose(call, graph):
                    band_call = planar_call(graph, call, new, streamed=folded)
                elif is_folded_reshape(call, graph):  # streamed: the reshaped rows at their input offsets
                    band_call = _read_input_call(graph, call.inputs[0], new, out, call.op_index, like=t)
                else:
                    band_call = _band_call(call, new, regions, lines, new_tensors, graph, out_calls)
                out_calls.append(_replace(band_call, outputs=(out,)))
                if t.index == split_tensor.index and not direct:
                    out_calls.append(store_call(new_tensors.tensors[out], new, split_tensor, call.op_index))
    expanded = new_tensors.graph(graph)
    if streamed is not None:
        expanded = _replace(expanded, streamed_inputs=(streamed,))
    return expanded, prefix + out_calls + stage2


def can_stream_input(graph: Graph, calls: list[KernelCall], split: int) -> bool:
    """Whether cached bands may read the model's single input row by row: only stage 1 reads it, and it is NHWC
    or read only through a folded layout TRANSPOSE or RESHAPE (_read_through)."""
    if len(graph.inputs) != 1 or (len(graph.tensor(graph.inputs[0]).shape) != 4 and not _read_through(graph, calls)):
        return False
    return all(graph.inputs[0] not in c.inputs for c in calls[split + 1 :]) and graph.inputs[0] not in graph.outputs


def _read_through(graph: Graph, calls: list[KernelCall]) -> bool:
    """Whether the model input's only reader is the first call, a folded layout TRANSPOSE or RESHAPE."""
    readers = [c for c in calls if graph.inputs[0] in c.inputs]
    return (len(readers) == 1 and readers[0] is calls[0]
            and (is_layout_transpose(calls[0], graph) or is_folded_reshape(calls[0], graph)))


def _new_rows(t: Tensor, regions: dict[int, Region], previous: dict[int, Region], lines: dict[int, int],
              new_tensors: _NewTensors, out_calls: list[KernelCall], op_index: int) -> tuple[Region, int | None]:
    """For the band whose required regions are `regions`: shift the rows of t that the previous band left and
    this one still needs to the front of t's line buffer, and return the region of rows t still lacks with the
    view they go to (None when there are none)."""
    current = regions[t.index]
    before = previous.get(t.index)
    first_new = current.y0 if before is None else max(current.y0, before.y1)
    new = Region(first_new, current.y1, current.x0, current.x1)
    if t.index in lines and before is not None and before.y1 > current.y0 > before.y0:
        out_calls.append(_shift_call(new_tensors, lines[t.index], t, before, current, op_index))
    previous[t.index] = current
    if new.h <= 0:
        return new, None
    if t.index in lines:
        return new, new_tensors.view(lines[t.index], t, new.y0 - current.y0, new.h, new.w)
    return new, new_tensors.view(t.index, t, new.y0, new.h, new.w)


def _read_input_call(graph: Graph, streamed: int, new: Region, out: int, op_index: int,
                     like: Tensor | None = None) -> KernelCall:
    """Read the rows `new` of the streamed input into the view `out` (exactly those rows). With `like`, the rows
    are those of a reshape of the input (its bytes, laid out as `like`)."""
    t = graph.tensor(streamed) if like is None else like
    px = _element_bytes(t)
    params = ReadInputParams(rows=new.h, row_bytes=new.w * px, src_offset=(new.y0 * t.shape[2] + new.x0) * px,
                             src_stride=t.shape[2] * px, dst_offset=0, dst_stride=new.w * px,
                             dst_bytes=new.h * new.w * px, input=graph.inputs.index(streamed))
    return KernelCall("read_input_window", params, (streamed,), (), (out,), op_index)


def _band_call(call: KernelCall, new: Region, regions: dict[int, Region], lines: dict[int, int],
               new_tensors: _NewTensors, graph: Graph, out_calls: list[KernelCall]) -> KernelCall:
    """`call` computing only the `new` region, reading its inputs from their line buffers (or whole tensors)."""
    if call.kernel in WINDOWED or call.kernel in RESAMPLED:
        make = window_call if call.kernel in WINDOWED else resample_call
        u = call.inputs[0]
        if u in lines:
            held = regions[u]
            return make(call, new, (new_tensors.view(lines[u], graph.tensor(u), 0, held.h, held.w), held))
        return make(call, new, (u, full_region(graph.tensor(u))))
    inputs = []
    for u in call.inputs:
        ut = graph.tensor(u)
        held = regions[u] if u in lines else full_region(ut)
        if (held.x0, held.x1) == (new.x0, new.x1):  # whole rows of what is held: a view, no copy
            base, first_row = (lines[u], new.y0 - held.y0) if u in lines else (u, new.y0)
            inputs.append(new_tensors.view(base, ut, first_row, new.h, new.w))
            continue
        source = new_tensors.view(lines[u], ut, 0, held.h, held.w) if u in lines else u
        crop = new_tensors.add(ut, new.h, new.w, "crop")
        out_calls.append(_copy_call(new_tensors.tensors[source], held, new, crop, call.op_index))
        inputs.append(crop)
    return pointwise_call(call, new, graph.tensor(call.outputs[0]).shape[3], tuple(inputs))


def _shift_call(new_tensors: _NewTensors, lines: int, t: Tensor, before: Region, current: Region,
                op_index: int) -> KernelCall:
    """Move rows [current.y0, before.y1) from where the previous band left them to the buffer's start."""
    row_bytes = before.w * _element_bytes(t)
    kept = before.y1 - current.y0
    src = new_tensors.view(lines, t, 0, before.h, before.w)
    dst = new_tensors.view(lines, t, 0, kept, before.w)
    params = WindowCopyParams(rows=kept, row_bytes=row_bytes, src_offset=(current.y0 - before.y0) * row_bytes,
                              src_stride=row_bytes, dst_offset=0, dst_stride=row_bytes, dst_bytes=kept * row_bytes)
    return KernelCall("copy_window", params, (src,), (), (dst,), op_index)
