"""A squeeze-and-excite block inside patch-based stage 1, run in two passes (MCUNetV2's patches, issue 15).

A squeeze-and-excite (SE) block takes the mean of a feature map X over H and W (MEAN), runs a few calls on that
1 x 1 x C vector (1x1 convolutions, activations, the hard sigmoid's ADD and MUL by constants: the excitation),
and multiplies X by the resulting channel scale s (MUL broadcast over H and W). Every output pixel of the MUL
depends on all of X, so an ordinary patch schedule must end stage 1 at X. The two-pass schedule goes past it:
- pass 1 computes X patch by patch (the stage-1 calls X depends on, halos recomputed) and adds each patch's
  per-channel int32 sums to an accumulator (mean_sum_s8); mean_finish_s8 then requantizes the sums once, as
  the MEAN would (the integer sums do not depend on order: bit-exact);
- the excitation runs once on the pooled vector, unchanged;
- pass 2 runs stage 1 patch by patch to the split point as `expand` does, recomputing X's patches, and the MUL
  reads s whole in every patch.
The MACs of pass 1 are recomputed work and are counted (the calls carry them), so the search weighs the two-pass
schedule against ending stage 1 before the block with the same cost model. One SE block per stage 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from codegen.ir import Graph, Tensor
from codegen.kernels.base import KernelCall
from codegen.kernels.movement.reshape import CopyBytesParams
from codegen.kernels.reduce.mean_patch import MeanSumParams, finish_params, is_spatial_mean
from codegen.schedule.patch_schedule import is_patchable, patch_calls, store_call, tiles


@dataclass(frozen=True)
class SqueezeExcite:
    """Call positions of an SE block: the MEAN, then the excitation calls, then the MUL at `scale`."""

    mean: int
    scale: int
    feature: int  # tensor X (the MEAN's input, the MUL's full-size operand)
    gate: int  # tensor s, 1 x 1 x 1 x C (the MUL's other operand)


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
    if not is_spatial_mean(mean.params, x.shape):
        return None
    inside = {mean.outputs[0]}
    for k in range(at + 1, len(calls)):
        call = calls[k]
        runtime = _runtime_inputs(graph, call)
        if call.kernel == "mul_s8" and len(runtime) == 2 and x.index in runtime and len(call.outputs) == 1:
            (gate,) = [t for t in runtime if t != x.index] or [None]
            if gate in inside and _is_vector(graph.tensor(gate).shape, x.shape[3]) \
                    and graph.tensor(call.outputs[0]).shape == x.shape and not call.consts:
                return SqueezeExcite(at, k, x.index, gate)
            return None
        if len(call.outputs) != 1 or not runtime or not set(runtime) <= inside:
            return None
        if not _is_vector(graph.tensor(call.outputs[0]).shape):
            return None
        inside.add(call.outputs[0])
    return None


def two_pass_split_points(graph: Graph, calls: list[KernelCall]) -> list[int]:
    """Split points past the first SE block: stage 1 up to them holds the block, run in two passes. Like
    split_points: every other stage-1 call runs on windows, and only the split tensor crosses to the rest."""
    points: list[int] = []
    produced: set[int] = set()
    se: SqueezeExcite | None = None
    for k, call in enumerate(calls):
        if se is None and call.kernel == "mean_s8":
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


def squeeze_excite_in(graph: Graph, calls: list[KernelCall], split: int) -> SqueezeExcite:
    """The SE block a two-pass stage 1 ending at `split` holds."""
    for k in range(split + 1):
        if calls[k].kernel == "mean_s8":
            se = find_squeeze_excite(graph, calls, k)
            if se is not None and se.scale <= split:
                return se
    raise ValueError(f"{graph.name}: no squeeze-and-excite block before call {split}")


def feature_tensor(graph: Graph, calls: list[KernelCall], split: int) -> Tensor:
    """X, the map whose channel means pass 1 computes (its grid must fit it too)."""
    return graph.tensor(squeeze_excite_in(graph, calls, split).feature)


def expand_two_pass(graph: Graph, calls: list[KernelCall], split: int,
                    grid: tuple[int, int]) -> tuple[Graph, list[KernelCall]]:
    """The call list with stage 1 (calls[0..split], holding one SE block) run in two passes of `grid` patches:
    pass 1 over X's tiles for the channel sums, the excitation once, pass 2 over the split tensor's tiles."""
    se = squeeze_excite_in(graph, calls, split)
    tensors = list(graph.tensors)
    x = graph.tensor(se.feature)
    channels = x.shape[3]
    mean = calls[se.mean]
    sums = len(tensors)
    tensors.append(Tensor(sums, f"{x.name}@sums", (1, 1, 1, channels), "int32", None))
    out_calls: list[KernelCall] = []
    for n, tile in enumerate(tiles(x.shape[1], x.shape[2], *grid)):
        # The calls before the MEAN that X depends on (patch_calls skips the others), ending with X's producer.
        producer = max(k for k in range(se.mean) if se.feature in calls[k].outputs)
        patch = patch_calls(graph, tensors, calls[: producer + 1], tile, f"s{n}", out_calls)
        params = MeanSumParams(tile.h * tile.w, channels, int(n == 0))
        out_calls.append(KernelCall("mean_sum_s8", params, (patch,), (), (sums,), mean.op_index,
                                    macs=tile.h * tile.w * channels))
    out_calls.append(KernelCall("mean_finish_s8", finish_params(mean.params, channels), (sums,), (),
                                mean.outputs, mean.op_index))
    out_calls.extend(calls[se.mean + 1 : se.scale])
    scale = calls[se.scale]
    gate = graph.tensor(se.gate)
    if len(gate.shape) != 4:
        # A 1 x C gate (FULLY_CONNECTED form, no RESHAPE back): the patches read it as the 1 x 1 x 1 x C view
        # the MUL's broadcast makes of it (the same bytes, no copy).
        view = len(tensors)
        tensors.append(Tensor(view, f"{gate.name}@4d", (1, 1, 1, channels), gate.dtype, gate.quant))
        out_calls.append(KernelCall("copy_bytes", CopyBytesParams(gate.nbytes), (gate.index,), (), (view,),
                                    scale.op_index, in_place=True, alias_offset=0))
        scale = dataclasses.replace(scale, inputs=tuple(view if t == gate.index else t for t in scale.inputs))
        gate = tensors[view]
    stage = calls[: se.mean] + [scale] + calls[se.scale + 1 : split + 1]
    viewed = dataclasses.replace(graph, tensors=tensors)  # the same list: it sees the patch buffers added
    split_tensor = graph.tensor(calls[split].outputs[0])
    for n, tile in enumerate(tiles(split_tensor.shape[1], split_tensor.shape[2], *grid)):
        patch = patch_calls(viewed, tensors, stage, tile, f"p{n}", out_calls, held=frozenset({gate.index}))
        out_calls.append(store_call(tensors[patch], tile, split_tensor, calls[split].op_index))
    return viewed, out_calls + calls[split + 1 :]
