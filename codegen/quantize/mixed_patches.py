"""Mixed precision in firmware: where a patch schedule's call list branches between its int8 and low-bit paths.

Per patch of stage 1, the calls up to and including the one writing the patch's region of the classified map
run as today; then the firmware checks that region (max_s8) against the threshold qT: above it the rest of the
patch runs today's int8 calls, else the same calls, each output of a map held in b < 8 bits (and the classified
map itself, if it has b < 8) requantized in place right after it is written (lowbit_requantize_s8). Buffers stay
int8 (unpacked): the low-bit path computes exactly `run_mixed`, not faster. The memory plan is today's: each
requantization writes only the bytes of the map just computed, while it is live.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.quantize.mixed_precision import Format, MixedPrecisionPlan, PatchStage


@dataclass(frozen=True)
class PatchBranch:
    check: int  # position (in the expanded call list) of the call writing the patch's classified-map region
    end: int  # one past the patch's last stage-1 call (its store into the split tensor)
    q_threshold: int  # the patch keeps the int8 path when its region's largest value exceeds this
    requantize: dict[int, Format]  # position -> format its output takes on the low-bit path


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
    check: int | None = None
    stage1 = stage.expanded_calls[: len(stage.expanded_calls) - (len(stage.calls) - stage.split - 1)]
    for pos, call in enumerate(stage1):
        where = stage.origin.get(call.outputs[0])
        if where is not None and call.kernel != "copy_window" and where[1] == stage.classified:
            check = pos
        if call.outputs[0] == split_tensor:  # the patch's store closes it
            if check is None:
                raise ValueError(f"patch {len(branches)} computes no region of the classified map")
            requantize = {}
            for p in range(check, pos + 1):
                c = stage.expanded_calls[p]
                origin = stage.origin.get(c.outputs[0])
                if origin is not None and c.kernel != "copy_window" and origin[1] in formats:
                    requantize[p] = formats[origin[1]]
            branches.append(PatchBranch(check, pos + 1, threshold, requantize))
            check = None
    if len(branches) != stage.patches:
        raise ValueError(f"found {len(branches)} patches in stage 1, expected {stage.patches}")
    return MixedPatches(tuple(branches), "max_s8_dsp" if dsp else "max_s8")
