"""Squeeze-and-excite blocks inside patch-based stage 1, run in passes of patches (MCUNetV2's patches, issue 15).

A squeeze-and-excite (SE) block takes the mean of a feature map X over H and W (MEAN, keep_dims or not), runs a
few calls on that vector of C channels (the excitation: 1x1 convolutions or FULLY_CONNECTED between RESHAPEs,
activations, a gate - LOGISTIC, the hard sigmoid's ADD and MUL by constants, a RELU6), and multiplies X by the
resulting channel scale s (MUL broadcast over H and W). Every output pixel of the MUL depends on all of X, so an
ordinary patch schedule must end stage 1 at X. The two-pass schedule goes past it:
- pass 1 computes X patch by patch (the stage-1 calls X depends on, halos recomputed) and adds each patch's
  per-channel int32 sums to an accumulator (mean_sum_s8); mean_finish_s8 then requantizes the sums once, as
  the MEAN would (the integer sums do not depend on order: bit-exact);
- the excitation runs once on the pooled vector, unchanged;
- pass 2 runs stage 1 patch by patch to the split point as `expand` does, recomputing X's patches, and the MUL
  reads s whole in every patch (a 1 x C gate through a 1 x 1 x 1 x C view of its bytes).
With a second SE block in stage 1 the passes chain: the second block's pass recomputes stage 1 up to its input
with the first gate held, then the last pass runs with both (up to MAX_SE_BLOCKS blocks).
The MACs of the first passes are recomputed work and are counted (the calls carry them), so the search weighs
these schedules against ending stage 1 before the block with the same cost model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.kernels.movement.reshape import CopyBytesParams
from codegen.kernels.reduce.mean_patch import (
    MeanLinesParams,
    MeanSumParams,
    finish_params,
    is_spatial_mean,
    line_mean_axis,
)
from codegen.schedule.patch_schedule import is_patchable, patch_calls, store_call, tiles


@dataclass(frozen=True)
class SqueezeExcite:
    """Call positions of an SE block: the MEAN, then the excitation calls, then the MUL at `scale`."""

    mean: int
    scale: int
    feature: int  # tensor X (the MEAN's input, the MUL's full-size operand)
    gate: int  # tensor s, 1 x 1 x 1 x C (the MUL's other operand)
    axis: int = 0  # what the MEAN reduces: 0 H and W; 1 H alone, 2 W alone (a second MEAN in the excitation)


def _runtime_inputs(graph: Graph, call: KernelCall) -> list[int]:
    return [t for t in call.inputs if graph.tensor(t).data is None]


def _is_vector(shape: tuple[int, ...], channels: int | None = None) -> bool:
    """Whether a tensor is one vector of channels: 1 x C, 1 x 1 x 1 x C, ... (every dim but the last 1), of
    `channels` elements if given. The excitation's tensors are such vectors, whichever form the converter chose
    (1x1 convolutions on 1 x 1 x 1 x C, FULLY_CONNECTED on 1 x C between RESHAPEs, a MEAN without keep_dims)."""
    return len(shape) >= 1 and all(d == 1 for d in shape[:-1]) and (channels is None or shape[-1] == channels)


def find_squeeze_excite(graph: Graph, calls: list[KernelCall], at: int) -> SqueezeExcite | None:
    """The SE block whose MEAN is calls[at], or None: an int8 MEAN over H and W of X (keep_dims or not), then
    calls that read only its result (and constants) and each write one channel vector (1x1 CONV_2D, RESHAPE,
    FULLY_CONNECTED, activations, LOGISTIC, the hard sigmoid's ADD and MUL by constants), then a MUL of X by one
    of them of C elements (broadcast over H and W)."""
    mean = calls[at]
    if mean.kernel != "mean_s8" or len(mean.inputs) != 1:
        return None
    x = graph.tensor(mean.inputs[0])
    axis = 0 if is_spatial_mean(mean.params, x.shape) else line_mean_axis(mean.params, x.shape)
    if axis is None:
        return None
    inside = {mean.outputs[0]}
    for k in range(at + 1, len(calls)):
        call = calls[k]
        runtime = _runtime_inputs(graph, call)
        if call.kernel == "mul_s8" and len(runtime) == 2 and x.index in runtime and len(call.outputs) == 1:
            (gate,) = [t for t in runtime if t != x.index] or [None]
            if gate in inside and _is_vector(graph.tensor(gate).shape, x.shape[3]) \
                    and graph.tensor(call.outputs[0]).shape == x.shape and not call.consts:
                return SqueezeExcite(at, k, x.index, gate, axis)
            return None
        if len(call.outputs) != 1 or not runtime or not set(runtime) <= inside:
            return None
        if not _is_vector(graph.tensor(call.outputs[0]).shape):
            return None
        inside.add(call.outputs[0])
    return None


# SE blocks one stage 1 may hold: each adds a pass recomputing stage 1 up to its input, and every block more
# multiplies the split points the search plans (MobileNetV3Small's are all patchable up to the pool).
MAX_SE_BLOCKS = 2


def two_pass_split_points(graph: Graph, calls: list[KernelCall], max_blocks: int = MAX_SE_BLOCKS) -> list[int]:
    """Split points past the first SE block: stage 1 up to them holds up to `max_blocks` SE blocks (passes
    chained). Like split_points: every other stage-1 call runs on windows, and only the split tensor crosses
    to the rest."""
    points: list[int] = []
    produced: set[int] = set()
    se: SqueezeExcite | None = None
    blocks = 0
    for k, call in enumerate(calls):
        if call.kernel == "mean_s8" and (se is None or k > se.scale):
            if blocks == max_blocks:
                break
            blocks += 1
            se = find_squeeze_excite(graph, calls, k)
            if se is None or se.feature not in produced:
                break
        if se is not None and se.mean <= k <= se.scale:
            produced.update(call.outputs)
            if k < se.scale:
                continue
        elif not is_patchable(call, graph):
            break
        produced.update(call.outputs)
        if se is None:
            continue
        split = call.outputs[0]
        later_reads = {t for c in calls[k + 1 :] for t in c.inputs}
        crossing = (produced & later_reads) | (produced & set(graph.outputs))
        if crossing == {split} and graph.tensor(split).shape[1] > 1 and k + 1 < len(calls):
            points.append(k)
    return points


def squeeze_excites_in(graph: Graph, calls: list[KernelCall], split: int) -> list[SqueezeExcite]:
    """The SE blocks a two-pass stage 1 ending at `split` holds, in order."""
    found: list[SqueezeExcite] = []
    for k in range(split + 1):
        if calls[k].kernel == "mean_s8" and (not found or k > found[-1].scale):
            se = find_squeeze_excite(graph, calls, k)
            if se is not None and se.scale <= split:
                found.append(se)
    if not found:
        raise ValueError(f"{graph.name}: no squeeze-and-excite block before call {split}")
    return found


def squeeze_excite_in(graph: Graph, calls: list[KernelCall], split: int) -> SqueezeExcite:
    """The first SE block a two-pass stage 1 ending at `split` holds."""
    return squeeze_excites_in(graph, calls, split)[0]


def feature_tensor(graph: Graph, calls: list[KernelCall], split: int) -> Tensor:
    """The smallest of the maps whose channel means the first passes compute (each pass's grid must fit it)."""
    features = [graph.tensor(se.feature) for se in squeeze_excites_in(graph, calls, split)]
    h, w = min(x.shape[1] for x in features), min(x.shape[2] for x in features)
    return dataclasses.replace(features[-1], shape=(1, h, w, features[-1].shape[3]))


def _held_gate(graph: Graph, tensors: list[Tensor], se: SqueezeExcite, calls: list[KernelCall],
               out_calls: list[KernelCall]) -> tuple[int, KernelCall]:
    """The gate as the patches read it, and the SE's MUL reading it that way. A 1 x C gate (FULLY_CONNECTED
    form, no RESHAPE back) is read as the 1 x 1 x 1 x C view the MUL's broadcast makes of it (no copy)."""
    scale = calls[se.scale]
    gate = graph.tensor(se.gate)
    if len(gate.shape) == 4:
        return gate.index, scale
    view = len(tensors)
    tensors.append(Tensor(view, f"{gate.name}@4d", (1, 1, 1, gate.shape[-1]), gate.dtype, gate.quant))
    out_calls.append(KernelCall("copy_bytes", CopyBytesParams(gate.nbytes), (gate.index,), (), (view,),
                                scale.op_index, in_place=True, alias_offset=0))
    return view, dataclasses.replace(scale, inputs=tuple(view if t == gate.index else t for t in scale.inputs))


def expand_two_pass(graph: Graph, calls: list[KernelCall], split: int,
                    grid: tuple[int, int]) -> tuple[Graph, list[KernelCall]]:
    """The call list with stage 1 (calls[0..split], holding SE blocks) run in passes of `grid` patches: per SE
    block, a pass over its input X's tiles for the channel sums (the gates of the blocks before it held), then
    its excitation once; a last pass over the split tensor's tiles. One SE block: two passes."""
    blocks = squeeze_excites_in(graph, calls, split)
    tensors = list(graph.tensors)
    viewed = dataclasses.replace(graph, tensors=tensors)  # the same list: it sees the buffers added
    out_calls: list[KernelCall] = []
    # The stage-1 calls that run in patches: all but the excitations, each SE's MUL reading its gate as held.
    patched: list[tuple[int, KernelCall]] = []
    held: set[int] = set()
    excitation = {k for se in blocks for k in range(se.mean, se.scale)}
    for se in blocks:
        x = graph.tensor(se.feature)
        channels = x.shape[3]
        mean = calls[se.mean]
        sums = len(tensors)
        lines = (1, x.shape[2], x.shape[1])[se.axis]  # sum vectors: one; one per column; one per row
        sums_shape = ((1, 1, 1, channels), (1, 1, x.shape[2], channels), (1, x.shape[1], 1, channels))[se.axis]
        tensors.append(Tensor(sums, f"{x.name}@sums", sums_shape, "int32", None))
        # The calls before the MEAN that X depends on (patch_calls skips the others), ending with X's producer.
        producer = max(k for k in range(se.mean) if se.feature in calls[k].outputs)
        replaced = dict(patched)
        stage = [replaced.get(k, c) for k, c in enumerate(calls[: producer + 1]) if k not in excitation]
        for n, tile in enumerate(tiles(x.shape[1], x.shape[2], *grid)):
            patch = patch_calls(viewed, tensors, stage, tile, f"s{len(held)}.{n}", out_calls, held=frozenset(held))
            macs = tile.h * tile.w * channels
            if se.axis == 0:
                params = MeanSumParams(tile.h * tile.w, channels, int(n == 0))
                out_calls.append(KernelCall("mean_sum_s8", params, (patch,), (), (sums,), mean.op_index, macs=macs))
            else:
                # Per column (H reduced): the tiles of the first tile row start their columns; per row likewise.
                by_column = se.axis == 1
                first = (tile.y0 if by_column else tile.x0) == 0
                line = MeanLinesParams(tile.h, tile.w, channels, int(first), int(not by_column), int(by_column),
                                       tile.x0 if by_column else tile.y0, lines)
                out_calls.append(KernelCall("mean_lines_s8", line, (patch,), (), (sums,), mean.op_index, macs=macs))
        out_calls.append(KernelCall("mean_finish_s8", finish_params(mean.params, lines * channels), (sums,), (),
                                    mean.outputs, mean.op_index))
        out_calls.extend(calls[se.mean + 1 : se.scale])
        gate, scale = _held_gate(graph, tensors, se, calls, out_calls)
        held.add(gate)
        patched.append((se.scale, scale))
    replaced = dict(patched)
    stage = [replaced.get(k, c) for k, c in enumerate(calls[: split + 1]) if k not in excitation]
    split_tensor = graph.tensor(calls[split].outputs[0])
    for n, tile in enumerate(tiles(split_tensor.shape[1], split_tensor.shape[2], *grid)):
        patch = patch_calls(viewed, tensors, stage, tile, f"p{n}", out_calls, held=frozenset(held))
        out_calls.append(store_call(tensors[patch], tile, split_tensor, calls[split].op_index))
    return viewed, out_calls + calls[split + 1 :]
