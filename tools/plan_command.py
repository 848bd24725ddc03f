"""`codegen plan`: explain how a model would be scheduled under an SRAM budget, without building."""

from __future__ import annotations

import argparse
import json

from codegen.errors import CodegenError
from codegen.ir import Graph
from codegen.kernels.base import KernelCall
from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.passes.specialize import scratch_hint
from codegen.pipeline import flash_predictor, read_model
from codegen.schedule.cost_model import load_default
from codegen.schedule.patch_schedule import can_stream_input, not_split_points, split_points, stage1_limit
from codegen.schedule.search import (
    RUNTIME_SRAM_BYTES,
    FlashLimit,
    NoScheduleFits,
    NoScheduleFitsFlash,
    Schedule,
    SearchCache,
    candidates,
    choose,
    split_floor,
)
from codegen.targets.boards import Board, load_board
from codegen.targets.core import Target


def format_candidates(weighed: list[Schedule], chosen: Schedule | None, budget: int, limit: int,
                      flash_bytes: int = 0) -> str:
    rows = sorted(weighed, key=lambda s: (s.peak_sram_bytes, s.macs))
    shown = rows[:limit]
    if chosen is not None and chosen not in shown:
        shown.append(chosen)
    lines = [f"{'':2}{'schedule':80}{'arena':>10}{'peak SRAM':>11}{'MACs':>14}{'overhead':>10}"
             f"{'predicted instr':>17}"]
    skipped = [s for s in weighed if s.over_flash]
    shown += [s for s in skipped if s not in shown]
    for s in shown:
        mark = "*" if s == chosen else ("" if s.peak_sram_bytes <= budget else "x")
        mark = "f" if s.over_flash else mark
        predicted = f"{s.predicted_instructions:,}" if s.predicted_instructions is not None else "n/a"
        lines.append(f"{mark:2}{s.describe()[:80]:80}{s.arena_bytes:>10,}{s.peak_sram_bytes:>11,}{s.macs:>14,}"
                     f"{s.mac_overhead:>10.1%}{predicted:>17}")
    if len(rows) > len(shown):
        lines.append(f"  ... {len(rows) - len(shown)} more (--all lists them)")
    for s in skipped:
        lines.append(f"skipped, over the board's {flash_bytes:,} B of flash: {s.describe()} needs {s.flash}"
                     " (predicted)")
    if chosen is not None and chosen.flash:
        lines.append(f"chosen schedule's flash: {chosen.flash} of {flash_bytes:,} (predicted)")
    lines.append(f"budget {budget:,} B; peak SRAM = arena + {RUNTIME_SRAM_BYTES:,} B for runtime state and stack "
                 "(estimate; `codegen build` measures it and searches again); predicted instr: the fitted cost "
                 "model, portable kernels; * chosen, x over budget, f over flash")
    return "\n".join(lines)


def check_mixed_precision_args(args: argparse.Namespace) -> None:
    """Refuse mixed-precision options that cannot be used, before anything is read or searched."""
    if not args.mixed_precision:
        given = [flag for flag, value in (("--calib", args.calib), ("--outlier-percentile", args.outlier_percentile),
                                          ("--mp-lambda", args.mp_lambda),
                                          ("--mp-bitops-target", args.mp_bitops_target),
                                          ("--mp-clip", args.mp_clip),
                                          ("--mp-clip-percentile", args.mp_clip_percentile),
                                          ("--mp-per-channel", args.mp_per_channel),
                                          ("--mp-report", args.mp_report),
                                          ("--mp-int8-subpatches", args.mp_int8_subpatches))
                 if value is not None]
        if given:
            raise CodegenError(f"{', '.join(given)} only work with --mixed-precision")
        return
    if args.calib is None:
        raise CodegenError("--mixed-precision needs --calib CALIB.npz (array x: input samples) to calibrate "
                           "its thresholds and bit-widths")
    if not args.calib.is_file():
        raise CodegenError(f"calibration data {args.calib} does not exist")
    report = args.mp_report
    if report is not None and (report.is_dir() or not report.parent.resolve().is_dir()):
        raise CodegenError(f"--mp-report {report} must name a file in an existing folder")


def mixed_precision(args: argparse.Namespace, graph: Graph, calls: list[KernelCall], chosen: Schedule,
                    weighed: list[Schedule], budget: int) -> dict:
    """The offline half of QuantMCU on the chosen (or best fitting) patch schedule: printed, and returned as
    report.json's "mixed_precision" block."""
    from codegen.quantize import mixed_precision as mp
    from codegen.quantize.calibrate import read_npz

    samples = mp.calibration_samples(read_npz(args.calib), graph)
    defaults = mp.MixedPrecisionOptions()
    options = mp.MixedPrecisionOptions(
        outlier_percentile=defaults.outlier_percentile if args.outlier_percentile is None else args.outlier_percentile,
        lam=defaults.lam if args.mp_lambda is None else args.mp_lambda, bitops_target=args.mp_bitops_target,
        **mp.clip_options(args.mp_clip, args.mp_clip_percentile, args.mp_per_channel))
    schedule = mp.patch_schedule_of(graph, calls, chosen, weighed, budget)
    try:
        stage = mp.patch_stage(graph, calls, schedule.split, schedule.grid)
    except ValueError as exc:
        raise CodegenError(f"--mixed-precision: {exc}") from None
    result = mp.search(stage, samples, options)
    print(mp.format_result(result))
    block = result.to_json()
    if args.mp_report is not None:
        info = {"model": graph.name, "sram_budget": budget, "schedule": schedule.to_json(),
                "mixed_precision": block}
        args.mp_report.write_text(json.dumps(info, indent=2) + "\n")
    return block


def plan_command(args: argparse.Namespace) -> int:
    check_mixed_precision_args(args)
    board = load_board(args.board)
    budget = args.sram_budget if args.sram_budget is not None else board.sram.size
    if args.mixed_precision and args.mp_int8_subpatches is not None:
        return mixed_pairs(args, board, budget)
    # The graph as the build's search sees it: PADs fused, nothing else applied (compile_file's graph would
    # already carry the per-layer schedule's in-place depthwise views).
    graph = fuse_pads(read_model(args.model)[0])
    calls = lower_graph(graph)
    cost = load_default()
    target = Target(board.core)
    cache = SearchCache()  # the flash predictor emits schedules the search has already expanded
    flash = FlashLimit(board.flash.size, flash_predictor(graph, calls, target, budget, cost, cache))
    try:  # as `codegen build` would; its list includes the schedules it weighed with blocks in bands
        chosen, weighed = choose(graph, calls, budget, scratch_hint(target), cost, args.stream_input, flash=flash,
                                 cache=cache)
    except (NoScheduleFits, NoScheduleFitsFlash) as exc:
        print(format_candidates(exc.weighed, None, budget, len(exc.weighed) if args.all else 12, board.flash.size))
        print(format_unweighed(graph, calls, exc.weighed, budget, args.stream_input, args.all))
        _print_stage1_limit(graph, calls)
        _print_two_pass(exc.weighed, None)
        raise
    if len(weighed) == 1:  # per-layer fits: still show what else there is
        weighed = [*weighed, *candidates(graph, calls, cost, args.stream_input)[1:]]
    print(format_candidates(weighed, chosen, budget, len(weighed) if args.all else 12, board.flash.size))
    print(format_unweighed(graph, calls, weighed, budget, args.stream_input, args.all))
    _print_stage1_limit(graph, calls)
    _print_two_pass(weighed, chosen)
    if args.mixed_precision:
        mixed_precision(args, graph, calls, chosen, weighed, budget)
    return 0


def mixed_pairs(args: argparse.Namespace, board: Board, budget: int) -> int:
    """`--mixed-precision --mp-int8-subpatches S|auto`: the schedule as the build compiles it (packed maps, int8
    sub-patches; auto: the (grid, s) pairs weighed), printed with its planned arena; no firmware is built."""
    from codegen.pipeline import compile_file
    from codegen.quantize.mixed_plan import format_choices
    from codegen.quantize.mixed_precision import format_result
    from tools.build import mixed_block, mixed_search

    args.stream_input = False
    compiled = compile_file(args.model, Target(board.core), budget, flash_bytes=board.flash.size,
                            mixed=mixed_search(args), int8_subpatches=args.mp_int8_subpatches)
    print(f"schedule: {compiled.schedule.describe()}; int8 path on {compiled.int8_subpatches}x"
          f"{compiled.int8_subpatches} sub-patches; arena {compiled.plan.arena_bytes:,} B planned")
    print(format_result(compiled.mixed_precision))
    if compiled.mixed_choice is not None:
        print(format_choices(list(compiled.mixed_choices), compiled.mixed_choice))
    if args.mp_report is not None:
        info = {"model": compiled.graph.name, "sram_budget": budget, "schedule": compiled.schedule.to_json(),
                "mixed_precision": mixed_block(compiled)}
        args.mp_report.write_text(json.dumps(info, indent=2) + "\n")
    return 0


def format_unweighed(graph: Graph, calls: list[KernelCall], weighed: list[Schedule], budget: int, stream_input: bool,
                     show_all: bool = False, limit: int = 12) -> str:
    """Every call position inside stage 1's reach that no schedule split at, with what stopped it: the call and
    operator that read another stage-1 tensor after it (and the like, see not_split_points), or the budget (its
    floor: the split tensor and the held input). Positions past stage 1's reach: the line after this one."""
    rows = [(k, why) for k, why in not_split_points(graph, calls).items()]
    split = {s.split for s in weighed}
    for k in split_points(graph, calls):
        if k not in split:
            floor = split_floor(graph, calls, k, stream_input and can_stream_input(graph, calls, k))
            reason = f"its floor {floor:,} B (split tensor + held input) exceeds the SRAM budget" if floor > budget \
                else "not planned"
            rows.append((k, reason))
    rows.sort()
    lines = [f"split points not weighed: {len(rows)}" if rows else "split points not weighed: none"]
    for k, why in rows if show_all else rows[:limit]:
        op = graph.operator(calls[k].op_index)
        lines.append(f"  after call {k} ({calls[k].kernel}, operator {op.index} {op.op_type}): {why}")
    if not show_all and len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit} more (--all lists them)")
    return "\n".join(lines)


def _print_stage1_limit(graph: Graph, calls: list[KernelCall]) -> None:
    limit = stage1_limit(graph, calls)
    if limit is not None:
        print(f"split points stop before {limit}")


def _print_two_pass(weighed: list[Schedule], chosen: Schedule | None) -> None:
    """Whether stage 1 was weighed holding a squeeze-and-excite block in two passes, and what that costs."""
    two_pass = [s for s in weighed if s.two_pass]
    if not two_pass:
        return
    picked = chosen is not None and chosen.two_pass
    shown = chosen if picked else min(two_pass, key=lambda s: (s.predicted_instructions or 0, s.macs))
    extra = shown.macs - shown.per_layer_macs
    others = [s.peak_sram_bytes for s in weighed if not s.two_pass]
    without = f"; without it the smallest peak weighed is {min(others):,} B" if others else ""
    print(f"two-pass squeeze-and-excite: {len(two_pass)} schedule(s) weighed, "
          f"{'chosen' if picked else 'not chosen; the cheapest'}: {shown.describe()}, {extra:,} extra MACs "
          f"({shown.mac_overhead:.1%}: the first pass recomputes stage 1 up to the SE's input for its means){without}")
