"""Mixed precision in firmware: where a patch schedule's call list branches between its int8 and low-bit paths.

Per patch of stage 1, the calls up to and including the one writing the patch's region of the classified map
run as today; then the firmware checks that region (max_s8) against the threshold qT: above it the rest of the
patch runs today's int8 calls, else their low-bit twins (codegen/kernels/lowbit/swap.py): every map held in
b < 8 bits is written and read as packed codes (conv2d_lowbit / depthwise_conv2d_lowbit, their DSP variants on
DSP cores), in the first packed_bytes of its int8 buffer, if kernels with twins write and read it
(mixed_precision.packable). Other maps of b < 8 bits (the classified map, computed in int8 for the check; a
pooled map) keep int8 buffers, are requantized in place (lowbit_requantize_s8) right after they are written and
are read as int8 by their consumers (twins or not); the split tensor stays int8, so the last stage-1
convolution's twin writes int8. The low-bit path computes exactly `run_mixed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.kernels.base import KernelCall
from codegen.kernels.lowbit.swap import to_low_bit
from codegen.quantize.mixed_precision import (
    WEIGHTED,
    ChannelFormats,
    Format,
    LowBitFormat,
    MixedPrecisionPlan,
    PatchStage,
)


@dataclass(frozen=True)
class PatchBranch:
    check: int  # position (in the expanded call list) of the call writing the patch's classified-map region
    end: int  # one past the patch's last stage-1 call (its store into the split tensor)
    q_threshold: int  # the patch keeps the int8 path when its region's largest value exceeds this
    # position -> format its output takes in place: the classified map; with per-channel formats every low-bit
    # map (the unpacked path: packed kernels take one format per map)
    requantize: dict[int, Format]
    twins: dict[int, KernelCall]  # position -> the low-bit call replacing it on the low-bit path (packed maps)
    # The int8 body's positions [start, stop) when it runs sub-patches of its own (mixed_split.py); None: the
    # int8 body is calls check+1 .. end-1 themselves, and the low-bit body their copy
    high: tuple[int, int] | None = None


@dataclass(frozen=True)
class MixedPatches:
    branches: tuple[PatchBranch, ...]
    check_kernel: str = "max_s8"  # or max_s8_dsp on cores with the DSP extension

    def branch_at(self) -> dict[int, PatchBranch]:
        return {b.check: b for b in self.branches}


def mixed_patches(stage: PatchStage, plan: MixedPrecisionPlan, dsp: bool = False) -> MixedPatches:
    """The branches of `stage.expanded_calls` (positions as in the compiled call list: specialization replaces
    calls one for one)."""
    formats = plan.formats(stage)
    threshold = plan.q_thresholds[stage.classified]
    split_tensor = stage.calls[stage.split].outputs[0]
    branches = []
    cache: dict = {}  # threshold rows of the DSP twins, per layer and formats
    check: int | None = None
    stage1 = stage.expanded_calls[: len(stage.expanded_calls) - (len(stage.calls) - stage.split - 1)]
    for pos, call in enumerate(stage1):
        where = stage.origin.get(call.outputs[0])
        if where is not None and call.kernel != "copy_window" and where[1] == stage.classified:
            check = pos
        if call.outputs[0] == split_tensor:  # the patch's store closes it
            if check is None:
                raise ValueError(f"patch {len(branches)} computes no region of the classified map")
            requantize, twins = _low_path(stage, formats, check, pos, dsp, cache)
            branches.append(PatchBranch(check, pos + 1, threshold, requantize, twins))
            check = None
    if len(branches) != stage.patches:
        raise ValueError(f"found {len(branches)} patches in stage 1, expected {stage.patches}")
    return MixedPatches(tuple(branches), "max_s8_dsp" if dsp else "max_s8")


def _low_path(stage: PatchStage, formats: dict[int, Format], check: int, end: int, dsp: bool,
              cache: dict) -> tuple[dict[int, Format], dict[int, KernelCall]]:
    """The low-bit path of the patch whose classified-map region is written at `check` and whose store is `end`:
    the in-place requantization of the classified map, and the twins of the calls touching packed maps. With
    per-channel formats (--mp-per-channel), which the packed kernels do not take, every low-bit map stays int8
    and is requantized in place right after it is written (the unpacked path: exact, no SRAM saved)."""
    if any(isinstance(f, ChannelFormats) for f in formats.values()):
        return _unpacked_path(stage, formats, check, end), {}
    requantize = _unpacked_path(stage, {t: f for t, f in formats.items() if t not in stage.packed}, check, end)

    def packed(t: int) -> LowBitFormat | None:
        origin = stage.origin.get(t)
        if origin is None or origin[1] not in stage.packed:
            return None
        return formats.get(origin[1])

    twins: dict[int, KernelCall] = {}
    for p in range(check + 1, end + 1):
        call = stage.expanded_calls[p]
        fmt_in = packed(call.inputs[0]) if call.inputs else None
        fmt_out = packed(call.outputs[0])
        rest = [t for t in call.inputs[1:] if packed(t) is not None]
        if fmt_in is None and fmt_out is None and not rest:
            continue
        if call.kernel not in WEIGHTED or rest:
            raise ValueError(f"call {p} ({call.kernel}) touches a packed map and has no low-bit twin")
        twins[p] = to_low_bit(call, fmt_in, fmt_out, dsp, cache)
    return requantize, twins


def _unpacked_path(stage: PatchStage, formats: dict[int, Format], check: int, end: int) -> dict[int, Format]:
    requantize: dict[int, Format] = {}
    for p in range(check, end + 1):
        call = stage.expanded_calls[p]
        origin = stage.origin.get(call.outputs[0])
        if origin is not None and call.kernel != "copy_window" and origin[1] in formats:
            requantize[p] = formats[origin[1]]
    return requantize
