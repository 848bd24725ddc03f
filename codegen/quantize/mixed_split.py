"""Mixed precision with an int8 path on sub-patches: the low-bit path runs the coarse patch on packed buffers, the
int8 path (outlier patches) runs the same output tile as s x s sub-patches with recomputed halos, so its buffers
are about 1/s^2 of the coarse patch's. int8 results do not depend on the grid, so the firmware still computes
exactly `run_mixed` on the coarse stage.

The merged call list keeps the coarse expansion's order and inserts, after each coarse patch's store into the
split tensor, that patch's int8 sub-patch calls (each ending in its own store). The planner sees one linear
order: the classified map's coarse region, the low-bit body, then the int8 body; the two bodies never run
together, and the int8 body reads only the input and writes only the split tensor, so this order is safe.
Buffers of maps held packed (mixed_patches) are re-declared at their packed size (packed_bytes): only the
low-bit body uses the coarse buffers past the classified map.
"""

from __future__ import annotations

import dataclasses

from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.kernels.lowbit.codes import pixel_bytes
from codegen.quantize.mixed_patches import MixedPatches, PatchBranch
from codegen.quantize.mixed_precision import ChannelFormats, Format, PatchStage
from codegen.schedule.patch_schedule import Region, patch_calls, store_call, tiles


def sub_tiles(tile: Region, s: int) -> list[Region]:
    """The tile as an s x s grid (fewer rows or columns where it has fewer than s)."""
    inner = tiles(tile.h, tile.w, min(s, tile.h), min(s, tile.w))
    return [Region(tile.y0 + r.y0, tile.y0 + r.y1, tile.x0 + r.x0, tile.x0 + r.x1) for r in inner]


def split_int8(stage: PatchStage, patches: MixedPatches, formats: dict[int, Format], s: int
               ) -> tuple[Graph, list[KernelCall], MixedPatches]:
    """The merged graph and call list, and the branches on it (each with its int8 body's positions)."""
    graph, calls = stage.graph, stage.calls
    stage1 = calls[: stage.split + 1]
    split_tensor = graph.tensor(stage1[-1].outputs[0])
    tensors = list(stage.expanded_graph.tensors)
    coarse = stage.expanded_calls
    split_tiles = tiles(split_tensor.shape[1], split_tensor.shape[2], *stage.grid)
    merged: list[KernelCall] = []
    branches: list[PatchBranch] = []
    done = 0
    for n, branch in enumerate(patches.branches):
        offset = len(merged) - done
        merged += coarse[done : branch.end]
        high: list[KernelCall] = []
        for k, tile in enumerate(sub_tiles(split_tiles[n], s)):
            buffer = patch_calls(graph, tensors, stage1, tile, f"p{n}s{k}", high)
            high.append(store_call(tensors[buffer], tile, split_tensor, stage1[-1].op_index))
        start = len(merged)
        merged += high
        branches.append(dataclasses.replace(
            branch, check=branch.check + offset, end=branch.end + offset,
            requantize={p + offset: f for p, f in branch.requantize.items()},
            twins={p + offset: t for p, t in branch.twins.items()}, high=(start, len(merged))))
        done = branch.end
    merged += coarse[done:]
    # Coarse buffers of packed maps: only the low-bit body uses them, at their packed size. Per-channel formats
    # run the unpacked path (mixed_patches): their maps stay int8.
    unpacked = any(isinstance(f, ChannelFormats) for f in formats.values())
    for t, (_, source) in stage.origin.items():
        fmt = formats.get(source)
        if fmt is None or source not in stage.packed or unpacked:
            continue
        shape = tensors[t].shape
        tensors[t] = dataclasses.replace(tensors[t], shape=(*shape[:-1], pixel_bytes(shape[-1], fmt.bits)))
    return (dataclasses.replace(stage.expanded_graph, tensors=tensors), merged,
            dataclasses.replace(patches, branches=tuple(branches)))
