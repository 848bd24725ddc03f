"""`codegen plan`: explain how a model would be scheduled under an SRAM budget, without building."""

from __future__ import annotations

import argparse

from codegen.boards import load_board
from codegen.errors import BudgetError
from codegen.fuse_pad import fuse_pads
from codegen.lowering import lower_graph
from codegen.pipeline import compile_file
from codegen.schedule_search import RUNTIME_SRAM_BYTES, Schedule, candidates, choose


def format_candidates(weighed: list[Schedule], chosen: Schedule | None, budget: int, limit: int) -> str:
    rows = sorted(weighed, key=lambda s: (s.peak_sram_bytes, s.macs))
    shown = rows[:limit]
    if chosen is not None and chosen not in shown:
        shown.append(chosen)
    lines = [f"{'':2}{'schedule':52}{'arena':>10}{'peak SRAM':>11}{'MACs':>14}{'overhead':>10}"]
    for s in shown:
        mark = "*" if s == chosen else ("" if s.peak_sram_bytes <= budget else "x")
        lines.append(f"{mark:2}{s.describe()[:52]:52}{s.arena_bytes:>10,}{s.peak_sram_bytes:>11,}{s.macs:>14,}"
                     f"{s.mac_overhead:>10.1%}")
    if len(rows) > len(shown):
        lines.append(f"  ... {len(rows) - len(shown)} more (--all lists them)")
    lines.append(f"budget {budget:,} B; peak SRAM = arena + {RUNTIME_SRAM_BYTES:,} B for runtime state and stack "
                 "(estimate; a build measures it); * chosen, x over budget")
    return "\n".join(lines)


def plan_command(args: argparse.Namespace) -> int:
    budget = args.sram_budget if args.sram_budget is not None else load_board(args.board).sram.size
    graph = fuse_pads(compile_file(args.model).graph)  # validates the model; per-layer graph with PADs fused
    calls = lower_graph(graph)
    weighed = candidates(graph, calls)
    try:
        chosen, _ = choose(graph, calls, budget)
    except BudgetError as exc:
        print(format_candidates(weighed, None, budget, len(weighed) if args.all else 12))
        raise exc
    print(format_candidates(weighed, chosen, budget, len(weighed) if args.all else 12))
    return 0
