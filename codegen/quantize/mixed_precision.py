"""Value-driven mixed precision of the patch stage (QuantMCU, Tao et al., DATE 2024), offline half (the
firmware's branches per patch: codegen/quantize/mixed_patches.py).

Stage 1 of a patch schedule (recomputed halos, codegen/schedule/patch_schedule.expand) runs each patch on one
of two paths, chosen at run time (VDPC):
- the patch's region of the *classified map* (the output of stage 1's first weighted call, i.e. its first
  convolution) is computed in int8 as today; if its largest int8 value exceeds the map's threshold qT, the
  patch stays on the int8 path (today's code, unchanged);
- otherwise the patch takes the low-bit path: every stage-1 feature map with a bit-width b < 8 is requantized
  to b bits as soon as it is computed, and its consumers read the b-bit values.

Low-bit arithmetic (exact, so that firmware can reproduce it bit for bit): a map of int8 scale s and zero point
z gets the scale s * 2^k (a power-of-two multiple of its int8 scale). An int8 value q becomes the signed level
    m = clamp(RoundingDivideByPOT(q - z, k), m_lo, m_hi)        (TFLite's round half away from zero)
stored as the unsigned b-bit code m - m_lo (0 .. 2^b - 1), and is read back as the int8 value z + m * 2^k,
which lies in [-128, 127] by construction. A consumer's int8 kernel on those values equals a b-bit kernel that
accumulates sum(w * m) and shifts its accumulator left by k before the bias and the usual requantization, so
the low-bit firmware kernel can match the reference exactly. k is the smallest shift whose 2^b levels cover the
map's non-outlier range: from the int8 minimum to the threshold qT (values above qT clip at m_hi).

Thresholds (VDPC): per stage-1 feature map, the P-th percentile (default 90, nearest observed value, so an int8
value) of the per-patch maxima of the map over the calibration set, in int8; T = s * (qT - z) in real units.

Bit-widths (VDQS, no training): every map starts at 8 bits; a step lowers one map 8 -> 4 or 4 -> 2. Each step
is scored S = -lambda * dH + (1 - lambda) * dB, where dH is the map's entropy loss (bits; entropy of its
values on the calibration set's low-bit patches, after that map's requantization alone) divided by the summed
8-bit entropies of all candidate maps, and dB the bit operations the step saves on the low-bit path divided by
stage 1's int8 bit operations. Without a bit-operation target the best step is taken while its S > 0; with a
target (a fraction of int8) the best step is taken, whatever its score, until the low-bit path's bit operations
reach target x int8 (the least entropy lost per bit operation saved, under a budget), or no step is left.

Bit operations of stage 1: sum over weighted calls (convolutions) of the patched call list, halo recomputation
included, of MACs x input activation bits x 8 weight bits. The mixed figure is the expectation over the
calibration set: each patch at its measured low-bit share.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codegen.errors import BudgetError, CodegenError
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.kernels.fixedpoint import rounding_divide_by_pot
from codegen.reference_executor import run_reference
from codegen.schedule.patch_schedule import expand
from codegen.schedule.search import Schedule

WEIGHTED = ("conv2d_s8", "depthwise_conv2d_s8")  # calls whose MACs multiply an activation by an int8 weight
WEIGHT_BITS = 8
BIT_STEPS = {8: 4, 4: 2}
ALL_INT8 = -129  # a threshold below every int8 value: every patch takes the int8 path


@dataclass(frozen=True)
class LowBitFormat:
    """How one int8 feature map is held on the low-bit path (see the module docstring)."""

    bits: int
    shift: int  # k: the low-bit scale is the int8 scale x 2^k
    zero_point: int  # the int8 map's zero point z
    m_lo: int
    m_hi: int
    step: int = 0  # 0: the step is 2^shift; else any integer step (then shift is 0): read back as z + m * step
    offset: int = -1  # -1: round half away from zero (RDBPOT); else m = floor((q - z + offset) / step)

    @property
    def unit(self) -> int:
        """The low-bit step in int8 steps."""
        return self.step or 1 << self.shift

    def levels(self, q: np.ndarray) -> np.ndarray:
        x = np.asarray(q, dtype=np.int64) - self.zero_point
        if self.offset >= 0:
            m = (x + self.offset) // self.unit
        elif self.step:
            m = np.sign(x) * ((np.abs(x) + self.step // 2) // self.step)  # half away from zero, as RDBPOT
        else:
            m = rounding_divide_by_pot(x, self.shift)
        return np.clip(m, self.m_lo, self.m_hi)

    def codes(self, q: np.ndarray) -> np.ndarray:
        """The unsigned b-bit codes the low-bit path stores."""
        return (self.levels(q) - self.m_lo).astype(np.uint8)

    def from_codes(self, codes: np.ndarray) -> np.ndarray:
        return (self.zero_point + (codes.astype(np.int64) + self.m_lo) * self.unit).astype(np.int8)

    def requantize(self, q: np.ndarray) -> np.ndarray:
        """int8 -> b bits -> int8, as a consumer of the low-bit map sees it."""
        return self.from_codes(self.codes(q))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def low_bit_format(bits: int, zero_point: int, q_threshold: int, integer_step: bool = False) -> LowBitFormat:
    """The smallest power-of-two step (with `integer_step`: the smallest integer step) whose 2^bits levels cover
    int8 values [-128, max(q_threshold, z)]."""
    top = max(q_threshold, zero_point) - zero_point  # >= 0: the range always holds real zero
    for step in range(1, 256) if integer_step else (1 << shift for shift in range(8)):
        m_hi = min(-(-top // step), (127 - zero_point) // step)
        m_lo = max(m_hi - (1 << bits) + 1, -((128 + zero_point) // step))
        if zero_point + m_lo * step <= -128 + step - 1:  # the levels reach the bottom of the int8 range
            if integer_step and step & (step - 1):
                return LowBitFormat(bits, 0, zero_point, m_lo, m_hi, step)
            return LowBitFormat(bits, step.bit_length() - 1, zero_point, m_lo, m_hi)
    raise AssertionError("a step of 128 always covers the int8 range")


@dataclass(frozen=True)
class ChannelFormats:
    """A map held in b bits with one LowBitFormat per channel (the last axis): each channel's own step and clip."""

    formats: tuple[LowBitFormat, ...]

    @property
    def bits(self) -> int:
        return self.formats[0].bits

    def requantize(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q)
        if q.shape[-1] != len(self.formats):
            raise ValueError(f"a map of {q.shape[-1]} channels, formats for {len(self.formats)}")
        out = np.empty(q.shape, np.int8)
        for c, f in enumerate(self.formats):
            out[..., c] = f.requantize(q[..., c])
        return out

    def to_json(self) -> dict:
        return {"bits": self.bits, "zero_point": self.formats[0].zero_point,
                "shift": [f.shift for f in self.formats], "m_lo": [f.m_lo for f in self.formats],
                "m_hi": [f.m_hi for f in self.formats]}


Format = LowBitFormat | ChannelFormats


def format_of(bits: int, zero_point: int, tops: tuple[int, ...], integer_step: bool = False,
              offsets: tuple[int, ...] | None = None) -> Format:
    """One top: the map's LowBitFormat up to it; one top per channel: ChannelFormats. `offsets`: each one's
    rounding offset (LowBitFormat.offset)."""
    offsets = offsets or (-1,) * len(tops)
    formats = tuple(dataclasses.replace(low_bit_format(bits, zero_point, t, integer_step), offset=o)
                    for t, o in zip(tops, offsets, strict=True))
    return formats[0] if len(formats) == 1 else ChannelFormats(formats)


def mean_offset(histogram: np.ndarray, fmt: LowBitFormat) -> int:
    """The rounding offset r in [0, step) for which floor((q - z + r) / step) keeps the mean of the values of
    `histogram` (index q + 128) closest (ties: the offset nearest half a step): rounding to nearest loses the mean
    of skewed maps (ReLU outputs, mostly small), which shifts every later layer."""
    q = np.arange(-128, 128)
    total = histogram.sum()
    if total == 0:
        return -1
    mean = float((histogram * q).sum()) / total
    half = fmt.unit // 2
    best = min(range(fmt.unit), key=lambda r: (abs(float((histogram * dataclasses.replace(fmt, offset=r)
                                                                 .requantize(q).astype(np.int64)).sum()) / total
                                                       - mean), abs(r - half)))
    return best


@dataclass(frozen=True)
class PatchStage:
    """Stage 1 of a recomputed-halo patch schedule, as mixed precision sees it."""

    graph: Graph  # the original graph
    calls: list[KernelCall]
    split: int
    grid: tuple[int, int]
    expanded_graph: Graph
    expanded_calls: list[KernelCall]
    origin: dict[int, tuple[int, int]]  # patch buffer tensor -> (patch, stage-1 tensor it holds part of)
    patches: int
    classified: int  # the stage-1 tensor VDPC checks
    candidates: tuple[int, ...]  # stage-1 tensors that may get fewer bits, in call order
    # candidates the low-bit path holds as packed codes (`packable`); the others (the classified map, a pooled
    # map) stay int8 buffers, requantized in place right after they are written
    packed: frozenset[int] = frozenset()

    def low_path_macs(self) -> dict[int, int]:
        """Per candidate: MACs of the weighted calls reading it, over every patch (halo recompute included)."""
        macs = dict.fromkeys(self.candidates, 0)
        for call in self.expanded_calls:
            if call.kernel in WEIGHTED and call.inputs[0] in self.origin:
                source = self.origin[call.inputs[0]][1]
                if source in macs:
                    macs[source] += call.macs
        return macs


def patch_stage(graph: Graph, calls: list[KernelCall], split: int, grid: tuple[int, int]) -> PatchStage:
    """Expand stage 1 (calls[0..split]) into grid patches and note which buffer holds which map of which patch."""
    g, expanded = expand(graph, calls, split, grid)
    stage1 = calls[: split + 1]
    split_tensor = stage1[-1].outputs[0]
    first = len(graph.tensors)
    origin: dict[int, tuple[int, int]] = {}
    patch, position = 0, 0
    for call in expanded[: len(expanded) - (len(calls) - split - 1)]:
        out = call.outputs[0]
        if out == split_tensor:  # the patch's store into its tile of the split tensor
            patch, position = patch + 1, 0
        elif out >= first and g.tensor(out).name.endswith("crop"):
            origin[out] = origin.get(call.inputs[0], (patch, call.inputs[0]))
        else:
            origin[out] = (patch, stage1[position].outputs[0])
            position += 1
    weighted = [k for k, c in enumerate(stage1) if c.kernel in WEIGHTED]
    if not weighted:
        raise ValueError(f"{graph.name}: stage 1 up to call {split} has no convolution to run in fewer bits")
    classified = stage1[weighted[0]].outputs[0]
    if len(weighted) < 2:
        raise ValueError(f"{graph.name}: stage 1 up to call {split} has no convolution reading a feature map")
    candidates = tuple(c.outputs[0] for c in stage1[weighted[0]:] if c.outputs[0] != split_tensor
                       and graph.tensor(c.outputs[0]).dtype == "int8")
    packed = frozenset(c.outputs[0] for c in stage1 if c.outputs[0] in candidates and c.outputs[0] != classified
                       and packable(calls, c))
    return PatchStage(graph, calls, split, grid, g, expanded, origin, patch, classified, candidates, packed)


# ---- packed maps (mp-packed): which maps the firmware can hold as packed b-bit codes --------------------


def packable(calls: list[KernelCall], producer: KernelCall) -> bool:
    """A map the low-bit path holds packed: written and read only by kernels with low-bit twins
    (codegen/kernels/lowbit/swap.py). Others (the classified map, computed in int8 for the check; a pooled map)
    keep int8 buffers and are requantized in place when they have fewer bits."""
    t = producer.outputs[0]
    return producer.kernel in WEIGHTED and all(c.kernel in WEIGHTED for c in calls if t in c.inputs)


@dataclass(frozen=True)
class MixedPrecisionPlan:
    """What the offline half decides: per candidate map its bit-width and int8 threshold."""

    bits: dict[int, int]
    q_thresholds: dict[int, int]  # int8 value; the classified map's decides each patch's path
    # per map, the int8 top(s) of its low-bit range: one (the map) or one per channel; absent: its threshold
    tops: dict[int, tuple[int, ...]] = field(default_factory=dict)
    integer_step: bool = False  # low-bit steps of any integer size, not only powers of two
    offsets: dict[int, tuple[int, ...]] = field(default_factory=dict)  # per map (channel): LowBitFormat.offset

    def formats(self, stage: PatchStage) -> dict[int, Format]:
        return {t: format_of(b, stage.graph.tensor(t).zero_point, self.tops.get(t, (self.q_thresholds[t],)),
                             self.integer_step, self.offsets.get(t))
                for t, b in self.bits.items() if b < 8}


def classify(stage: PatchStage, call: KernelCall, array: np.ndarray, q_threshold: int,
             low: dict[int, bool]) -> tuple[int, int] | None:
    """(patch, stage-1 map) a reference-executor call writes, None for other calls; at the classified map it
    records in `low` whether the patch takes the low-bit path (VDPC: no value above `q_threshold`)."""
    where = stage.origin.get(call.outputs[0])
    if where is None or call.kernel == "copy_window":
        return None
    if where[1] == stage.classified:
        low[where[0]] = int(np.max(array)) <= q_threshold
    return where


@dataclass
class _Run:
    """A reference-executor hook: classifies each patch on its classified-map buffer, requantizes low-bit maps."""

    stage: PatchStage
    plan: MixedPrecisionPlan
    formats: dict[int, Format]
    low: dict[int, bool] = field(default_factory=dict)  # patch -> took the low-bit path

    def __call__(self, call: KernelCall, array: np.ndarray) -> np.ndarray:
        where = classify(self.stage, call, array, self.plan.q_thresholds[self.stage.classified], self.low)
        if where is None:
            return array
        patch, tensor = where
        fmt = self.formats.get(tensor)
        if fmt is not None and self.low.get(patch, False):
            return fmt.requantize(array)
        return array


def run_mixed(stage: PatchStage, plan: MixedPrecisionPlan, inputs: list[np.ndarray]
              ) -> tuple[list[np.ndarray], list[bool]]:
    """The reference result of the mixed-precision schedule, and which patches took the low-bit path."""
    hook = _Run(stage, plan, plan.formats(stage))
    outputs = run_reference(stage.expanded_graph, inputs, stage.expanded_calls, transform=hook)
    return outputs, [hook.low.get(n, False) for n in range(stage.patches)]


# ---- bit operations ------------------------------------------------------------------------------------


def patch_bitops(stage: PatchStage, bits: dict[int, int]) -> tuple[list[int], list[int]]:
    """Per patch: stage-1 bit operations on the int8 path and on the low-bit path with `bits`."""
    int8 = [0] * stage.patches
    low = [0] * stage.patches
    for call in stage.expanded_calls:
        if call.kernel not in WEIGHTED or call.outputs[0] not in stage.origin:
            continue  # stage 2, or no weights
        patch = stage.origin[call.outputs[0]][0]
        source = stage.origin.get(call.inputs[0], (patch, call.inputs[0]))[1]
        int8[patch] += call.macs * 8 * WEIGHT_BITS
        low[patch] += call.macs * bits.get(source, 8) * WEIGHT_BITS
    return int8, low


# ---- calibration ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationStats:
    """Per calibration sample and patch, each candidate map's largest int8 value and its value histogram."""

    maxima: dict[int, np.ndarray]  # tensor -> (samples, patches) int
    histograms: dict[int, np.ndarray]  # tensor -> (samples, patches, 256) counts of q + 128


@dataclass
class _Collect:
    stage: PatchStage
    maxima: dict[tuple[int, int], int] = field(default_factory=dict)
    histograms: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def __call__(self, call: KernelCall, array: np.ndarray) -> np.ndarray:
        where = self.stage.origin.get(call.outputs[0])
        if where is not None and call.kernel != "copy_window" and where[1] in self.stage.candidates:
            key = (where[1], where[0])
            values = np.asarray(array, dtype=np.int64).reshape(-1)
            self.maxima[key] = int(values.max())
            self.histograms[key] = np.bincount(values + 128, minlength=256)
        return array


def collect_stats(stage: PatchStage, samples: list[list[np.ndarray]]) -> CalibrationStats:
    """Run every sample through the all-int8 patch schedule and record its maps patch by patch."""
    maxima = {t: np.zeros((len(samples), stage.patches), np.int64) for t in stage.candidates}
    hists = {t: np.zeros((len(samples), stage.patches, 256), np.int64) for t in stage.candidates}
    for i, inputs in enumerate(samples):
        hook = _Collect(stage)
        run_reference(stage.expanded_graph, inputs, stage.expanded_calls, transform=hook)
        for (t, n), value in hook.maxima.items():
            maxima[t][i, n] = value
            hists[t][i, n] = hook.histograms[(t, n)]
    return CalibrationStats(maxima, hists)


def calibrate_thresholds(maxima: dict[int, np.ndarray], percentile: float) -> dict[int, int]:
    """Per map: the `percentile`-th percentile of its per-patch maxima (an observed int8 value)."""
    if not 0 <= percentile <= 100:
        raise ValueError(f"outlier percentile {percentile} is not in [0, 100]")
    return {t: int(np.percentile(m.reshape(-1), percentile, method="higher")) for t, m in maxima.items()}


def entropy_bits(histogram: np.ndarray) -> float:
    total = histogram.sum()
    if total == 0:
        return 0.0
    p = histogram[histogram > 0] / total
    return float(-(p * np.log2(p)).sum())


def entropy_table(histogram: np.ndarray, zero_point: int, q_threshold: int) -> dict[int, float]:
    """A map's entropy at 8, 4 and 2 bits, from the histogram of its int8 values."""
    table = {8: entropy_bits(histogram)}
    q = np.arange(-128, 128)
    for bits in (4, 2):
        codes = low_bit_format(bits, zero_point, q_threshold).codes(q)
        table[bits] = entropy_bits(np.bincount(codes, weights=histogram, minlength=1 << bits))
    return table


CLIPS = ("threshold", "percentile", "mse")
ROUNDINGS = ("nearest", "mean")


def clip_top(histogram: np.ndarray, zero_point: int, bits: int, clip: str, percentile: float, q_threshold: int,
             integer_step: bool = False) -> int:
    """The int8 top of a low-bit range (values above clip at it) from a histogram of int8 values (index q + 128):
    "threshold": the map's VDPC threshold qT; "percentile": the `percentile`-th percentile of the values (the
    smallest value with at least that share at or below it); "mse": the top whose format loses the least squared
    error on the histogram (ties: the lower top). An empty histogram keeps qT."""
    total = histogram.sum()
    if clip == "threshold" or total == 0:
        return q_threshold
    if clip == "percentile":
        return int(np.searchsorted(np.cumsum(histogram), percentile / 100 * total, side="left")) - 128
    if clip != "mse":
        raise ValueError(f"clip {clip!r} is not one of {', '.join(CLIPS)}")
    q = np.arange(-128, 128)
    best: tuple[float, int] | None = None
    seen: set[LowBitFormat] = set()
    for top in range(max(zero_point, -128), 128):
        f = low_bit_format(bits, zero_point, top, integer_step)
        if f in seen:
            continue
        seen.add(f)
        error = float((histogram * (f.requantize(q).astype(np.int64) - q) ** 2).sum())
        if best is None or error < best[0]:
            best = (error, top)
    assert best is not None
    return best[1]


def group_entropy_table(groups: np.ndarray, zero_point: int, tops: dict[int, tuple[int, ...]],
                        integer_step: bool = False) -> dict[int, float]:
    """entropy_table of a map held per channel (groups: (channels, 256) histograms; tops[b]: each channel's top):
    the entropy of its values given their channel, at 8 bits and at each b in tops."""
    share = groups.sum(axis=1) / max(groups.sum(), 1)
    q = np.arange(-128, 128)
    table = {8: float(sum(p * entropy_bits(h) for p, h in zip(share, groups, strict=True)))}
    for bits, channel_tops in tops.items():
        table[bits] = float(sum(
            p * entropy_bits(np.bincount(low_bit_format(bits, zero_point, top, integer_step).codes(q), weights=h,
                                         minlength=1 << bits))
            for p, h, top in zip(share, groups, channel_tops, strict=True)))
    return table


@dataclass
class _ChannelCollect:
    """Sums per-channel histograms of the candidate maps over the patches that take the low-bit path."""

    stage: PatchStage
    q_threshold: int
    histograms: dict[int, np.ndarray]  # tensor -> (channels, 256)
    low: dict[int, bool] = field(default_factory=dict)

    def __call__(self, call: KernelCall, array: np.ndarray) -> np.ndarray:
        where = classify(self.stage, call, array, self.q_threshold, self.low)
        if where is None:
            return array
        patch, tensor = where
        if tensor in self.histograms and self.low.get(patch, False):
            values = np.asarray(array, dtype=np.int64)
            channels = values.shape[-1]
            flat = (values.reshape(-1, channels) + 128 + 256 * np.arange(channels)).reshape(-1)
            self.histograms[tensor] += np.bincount(flat, minlength=256 * channels).reshape(channels, 256)
        return array


def channel_histograms(stage: PatchStage, samples: list[list[np.ndarray]], q_threshold: int) -> dict[int, np.ndarray]:
    """Per candidate map, (channels, 256) counts of its int8 values on the low-bit patches of `samples` (the
    classified map's threshold `q_threshold` decides)."""
    hists = {t: np.zeros((stage.graph.tensor(t).shape[-1], 256), np.int64) for t in stage.candidates}
    for inputs in samples:
        run_reference(stage.expanded_graph, inputs, stage.expanded_calls,
                      transform=_ChannelCollect(stage, q_threshold, hists))
    return hists


# ---- VDQS ----------------------------------------------------------------------------------------------


def check_bitops_target(target: float | None) -> None:
    if target is not None and not 0 < target <= 1:
        raise ValueError(f"bit-operation target {target} is not a fraction of int8 in (0, 1]")


@dataclass(frozen=True)
class SearchStep:
    tensor: int
    bits: int  # the bit-width the step lowered the map to
    score: float
    bitops: int  # low-bit path's bit operations after the step


def vdqs(entropies: dict[int, dict[int, float]], macs: dict[int, int], bitops_int8: int, lam: float = 0.5,
         bitops_target: float | None = None) -> tuple[dict[int, int], list[SearchStep]]:
    """The greedy bit-width search (module docstring). `entropies[t][b]`: map t's entropy at b bits; `macs[t]`:
    MACs of the weighted calls reading t on the low-bit path; `bitops_int8`: stage 1's int8 bit operations.
    Without a target, stops when no step scores above 0; with one, takes the best step whatever its score until
    the bit operations reach bitops_target x bitops_int8 (or every map is at 2 bits)."""
    if not 0 <= lam <= 1:
        raise ValueError(f"lambda {lam} is not in [0, 1]")
    check_bitops_target(bitops_target)
    bits = dict.fromkeys(entropies, 8)
    total_entropy = sum(e[8] for e in entropies.values()) or 1.0
    bitops = bitops_int8
    steps: list[SearchStep] = []
    while bitops_target is None or bitops > bitops_target * bitops_int8:
        best: tuple[float, int] | None = None
        for t in sorted(bits):
            lower = BIT_STEPS.get(bits[t])
            if lower is None or not macs.get(t, 0):  # a map no stage-1 convolution reads saves nothing
                continue
            d_entropy = (entropies[t][bits[t]] - entropies[t][lower]) / total_entropy
            d_bitops = (bits[t] - lower) * macs.get(t, 0) * WEIGHT_BITS / max(bitops_int8, 1)
            score = -lam * d_entropy + (1 - lam) * d_bitops
            if best is None or score > best[0]:
                best = (score, t)
        if best is None or (bitops_target is None and best[0] <= 0):
            break
        score, t = best
        lower = BIT_STEPS[bits[t]]
        bitops -= (bits[t] - lower) * macs.get(t, 0) * WEIGHT_BITS
        bits[t] = lower
        steps.append(SearchStep(t, lower, score, bitops))
    return bits, steps


# ---- the whole offline half ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MixedPrecisionOptions:
    outlier_percentile: float = 90.0
    lam: float = 0.3
    bitops_target: float | None = None  # fraction of the int8 bit operations; None: stop when no step has S > 0
    clip: str = "threshold"  # the top of a low-bit range: "threshold" (qT), "percentile" or "mse" (clip_top)
    clip_percentile: float = 99.9  # for clip="percentile": of the map's values on calibration low-bit patches
    per_channel: bool = False  # one step and top per channel (ChannelFormats) instead of one per map
    integer_step: bool = False  # low-bit steps of any integer size (LowBitFormat.step), not only 2^k
    rounding: str = "nearest"  # or "mean": each format's rounding offset keeps its calibration mean (mean_offset)

    def check(self) -> None:
        check_bitops_target(self.bitops_target)
        if self.clip not in CLIPS:
            raise ValueError(f"clip {self.clip!r} is not one of {', '.join(CLIPS)}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding {self.rounding!r} is not one of {', '.join(ROUNDINGS)}")
        if not 0 < self.clip_percentile <= 100:
            raise ValueError(f"clip percentile {self.clip_percentile} is not in (0, 100]")


def clip_options(clip: str | None, clip_percentile: float | None, per_channel: bool | None) -> dict:
    """MixedPrecisionOptions fields for the command-line flags given (None: not given, the default stays)."""
    given = {"clip": clip, "clip_percentile": clip_percentile, "per_channel": per_channel}
    return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class MixedPrecisionResult:
    stage: PatchStage
    plan: MixedPrecisionPlan
    steps: list[SearchStep]
    bitops_int8: int
    bitops: int  # expected over the calibration set
    bitops_low_path: int  # every patch on the low-bit path
    low_bit_patch_share: float
    search_seconds: float

    def to_json(self) -> dict:
        g = self.stage.graph
        names = [g.tensor(t).name for t in self.stage.candidates]
        # tensor names key the report; a name two maps share gets each map's index
        name = {t: n if names.count(n) == 1 else f"{n} (t{t})" for t, n in zip(self.stage.candidates, names,
                                                                             strict=True)}
        return {
            "bits": {name[t]: b for t, b in self.plan.bits.items()},
            "thresholds": {name[t]: _real(g, t, q) for t, q in self.plan.q_thresholds.items()},
            "bitops_int8": self.bitops_int8,
            "bitops": self.bitops,
            "low_bit_patch_share": round(self.low_bit_patch_share, 4),
            "search_seconds": round(self.search_seconds, 3),
            "classified_tensor": name[self.stage.classified],
            "int8_thresholds": {name[t]: q for t, q in self.plan.q_thresholds.items()},
            "bitops_low_path": self.bitops_low_path,
            "formats": {name[t]: f.to_json() for t, f in self.plan.formats(self.stage).items()},
            "schedule": {"split_call": self.stage.split, "grid": list(self.stage.grid)},
            **({"tops": {name[t]: list(v) for t, v in self.plan.tops.items()}} if self.plan.tops else {}),
            **({"offsets": {name[t]: list(v) for t, v in self.plan.offsets.items()}} if self.plan.offsets else {}),
            **({"integer_step": True} if self.plan.integer_step else {}),
        }


def stage_and_plan_of(graph: Graph, calls: list[KernelCall], block: dict) -> tuple[PatchStage, MixedPrecisionPlan]:
    """The stage and plan a report's "mixed_precision" block (MixedPrecisionResult.to_json) describes, on the
    graph and calls the build compiled (PAD-fused): what `codegen eval` runs run_mixed with. Raises ValueError
    when the block does not fit this graph (another model, or a hand-edited report)."""
    try:
        split, grid = int(block["schedule"]["split_call"]), tuple(int(g) for g in block["schedule"]["grid"])
        bits_by_name, q_by_name = dict(block["bits"]), dict(block["int8_thresholds"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the mixed_precision block lacks {exc}") from None
    if len(grid) != 2:
        raise ValueError(f"the mixed_precision block's grid {list(grid)} is not rows x columns")
    stage = patch_stage(graph, calls, split, grid)  # type: ignore[arg-type]  # two ints, checked above
    names = [graph.tensor(t).name for t in stage.candidates]
    index = {n if names.count(n) == 1 else f"{n} (t{t})": t for t, n in zip(stage.candidates, names, strict=True)}
    if set(bits_by_name) != set(index) or set(q_by_name) != set(index):
        raise ValueError(f"the mixed_precision block names maps {sorted(bits_by_name)}, this model's stage 1 has "
                         f"{sorted(index)}")
    bits = {index[n]: int(b) for n, b in bits_by_name.items()}
    if not set(bits.values()) <= {2, 4, 8}:
        raise ValueError(f"the mixed_precision block has bit-widths {sorted(set(bits.values()))}, not 2, 4 or 8")
    try:
        tops = {index[n]: tuple(int(v) for v in vs) for n, vs in dict(block.get("tops", {})).items()}
        offsets = {index[n]: tuple(int(v) for v in vs) for n, vs in dict(block.get("offsets", {})).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the mixed_precision block's tops or offsets name an unknown map or hold no ints: {exc}"
                         ) from None
    return stage, MixedPrecisionPlan(bits, {index[n]: int(q) for n, q in q_by_name.items()}, tops,
                                     bool(block.get("integer_step", False)), offsets)


def _real(graph: Graph, t: int, q: int) -> float:
    tensor = graph.tensor(t)
    return float(tensor.scale * (q - tensor.zero_point))


def search(stage: PatchStage, samples: list[list[np.ndarray]], options: MixedPrecisionOptions,
           clock: Callable[[], float] = time.perf_counter) -> MixedPrecisionResult:
    """Calibrate thresholds on `samples` (each a list of graph inputs), search bit-widths, count bit operations."""
    if not samples:
        raise ValueError("mixed precision needs at least one calibration sample")
    options.check()
    start = clock()
    stats = collect_stats(stage, samples)
    q_thresholds = calibrate_thresholds(stats.maxima, options.outlier_percentile)
    low = stats.maxima[stage.classified] <= q_thresholds[stage.classified]  # (samples, patches)
    per_channel = (channel_histograms(stage, samples, q_thresholds[stage.classified]) if options.per_channel
                   else {})
    entropies: dict[int, dict[int, float]] = {}
    tops_by_bits: dict[int, dict[int, tuple[int, ...]]] = {}
    groups_of: dict[int, np.ndarray] = {}
    for t in stage.candidates:
        z = stage.graph.tensor(t).zero_point
        if options.per_channel:
            groups = per_channel[t]
        else:
            groups = (stats.histograms[t][low].sum(axis=0) if low.any() else np.zeros(256, np.int64))[None]
        groups_of[t] = groups
        tops_by_bits[t] = {b: tuple(clip_top(h, z, b, options.clip, options.clip_percentile, q_thresholds[t],
                                             options.integer_step) for h in groups) for b in (4, 2)}
        entropies[t] = group_entropy_table(groups, z, tops_by_bits[t], options.integer_step)
    int8, _ = patch_bitops(stage, {})
    bits, steps = vdqs(entropies, stage.low_path_macs(), sum(int8), options.lam, options.bitops_target)
    _, low_bitops = patch_bitops(stage, bits)
    share = low.mean(axis=0)
    expected = sum(s * lb + (1 - s) * b8 for s, lb, b8 in zip(share, low_bitops, int8, strict=True))
    keep_tops = options.per_channel or options.clip != "threshold"
    tops = {t: tops_by_bits[t][b] for t, b in bits.items() if b < 8 and keep_tops}
    offsets = {}
    if options.rounding == "mean":
        for t, b in bits.items():
            if b < 8:
                z = stage.graph.tensor(t).zero_point
                offsets[t] = tuple(mean_offset(h, low_bit_format(b, z, top, options.integer_step))
                                   for h, top in zip(groups_of[t], tops_by_bits[t][b], strict=True))
    plan = MixedPrecisionPlan(bits, q_thresholds, tops, options.integer_step, offsets)
    return MixedPrecisionResult(stage, plan, steps, sum(int8), int(round(expected)), sum(low_bitops),
                                float(low.mean()), clock() - start)


def bitops_ratio(result: MixedPrecisionResult) -> float:
    return result.bitops_int8 / result.bitops if result.bitops else math.inf


# ---- glue for `codegen plan --mixed-precision` -----------------------------------------------------------


def calibration_samples(arrays: dict[str, np.ndarray], graph: Graph, limit: int = 64) -> list[list[np.ndarray]]:
    """Up to `limit` samples of `x` (one input; a batch-of-one axis may be kept) in the graph input's type:
    int8 data is taken as it is, float data is quantized with the input's scale and zero point (or kept float
    for a float32 input, which the model quantizes itself)."""
    if len(graph.inputs) != 1 or "x" not in arrays:
        raise CodegenError(f"mixed precision takes one-input models and an .npz with an array x (it holds: "
                           f"{', '.join(sorted(arrays)) or 'nothing'})")
    t = graph.tensor(graph.inputs[0])
    x = np.asarray(arrays["x"])
    shape = tuple(t.shape)
    if x.ndim == len(shape) + 1 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != len(shape) or tuple(x.shape[1:]) != shape[1:] or len(x) == 0:
        raise CodegenError(f"calibration x has shape {x.shape}; {graph.name} takes samples of shape {shape}")
    if t.dtype == "float32":
        if x.dtype.kind != "f" or not np.isfinite(x).all():
            raise CodegenError("calibration x must be finite floats for a float-input model")
        data = x.astype(np.float32)
    elif t.dtype == "int8":
        if x.dtype == np.int8:
            data = x
        elif x.dtype.kind == "f" and np.isfinite(x).all():
            data = np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8)
        else:
            raise CodegenError(f"calibration x is {x.dtype}: give int8 data or finite floats for an int8 input")
    else:
        raise CodegenError(f"mixed precision takes int8 or float32 model inputs, not {t.dtype}")
    return [[sample.reshape(shape)] for sample in data[:limit]]


def runs_plain_patches(s: Schedule) -> bool:
    """Whether `s` runs stage 1 as patches with recomputed halos, the only form mixed precision runs on (no cached
    bands, blocks in bands or two-pass squeeze-and-excite)."""
    return s.split is not None and not s.cached and not s.banded and not s.two_pass


def _convolutions(calls: list[KernelCall], s: Schedule) -> int:
    return 0 if s.split is None else sum(c.kernel in WEIGHTED for c in calls[: s.split + 1])


def runs_mixed(calls: list[KernelCall], s: Schedule) -> bool:
    """Whether mixed precision can run on `s`: recomputed-halo patches whose stage 1 holds two convolutions or
    more (a later one reads a feature map that may get fewer bits)."""
    return runs_plain_patches(s) and _convolutions(calls, s) >= 2


def patch_schedule_of(graph: Graph, calls: list[KernelCall], chosen: Schedule, weighed: list[Schedule],
                      sram_budget: int, longest: bool = False) -> Schedule:
    """The schedule mixed precision runs on: the chosen one if it runs recomputed-halo patches whose stage 1 has
    two convolutions or more (so that a later one reads a feature map that may get fewer bits), else the
    best-ranked such schedule that fits the budget (phase 1 does not run cached bands, nor two-pass SE patches).
    With `longest`, the fitting such schedule whose stage 1 holds the most convolutions (then best-ranked), chosen
    or not: more maps that may get fewer bits, and the first convolution's 8-bit input weighs less."""
    if runs_mixed(calls, chosen) and not longest:
        return chosen
    fitting = sorted((s for s in weighed if runs_mixed(calls, s) and s.peak_sram_bytes <= sram_budget),
                     key=lambda s: (-_convolutions(calls, s) if longest else 0, s.predicted_instructions or 0, s.macs,
                                    s.arena_bytes))
    if not fitting:
        raise BudgetError(f"{graph.name}: mixed precision runs on patches with recomputed halos whose stage 1 holds "
                          f"two convolutions or more, and none fits {sram_budget:,} bytes of SRAM "
                          f"(chosen: {chosen.describe()})")
    return fitting[0]


def format_result(result: MixedPrecisionResult) -> str:
    info = result.to_json()
    lines = [f"mixed precision on patches {result.stage.grid[0]}x{result.stage.grid[1]} up to call "
             f"{result.stage.split}; patch path decided on {info['classified_tensor']}"]
    lines.append(f"  {'feature map':48}{'bits':>5}{'T (real)':>12}{'qT':>6}")
    for name, bits in info["bits"].items():
        lines.append(f"  {name[:48]:48}{bits:>5}{info['thresholds'][name]:>12.4g}{info['int8_thresholds'][name]:>6}")
    ratio = bitops_ratio(result)
    lines.append(f"  bit operations of stage 1: int8 {result.bitops_int8:,}, mixed {result.bitops:,} "
                 f"(int8/mixed {ratio:.2f}x; every patch low-bit: {result.bitops_low_path:,}); low-bit patches "
                 f"{result.low_bit_patch_share:.1%} of the calibration set; search {result.search_seconds:.1f} s")
    return "\n".join(lines)
