"""Fold repeated runs of kernel calls into loops: the bands and patches of a schedule, as code.

Patch-based schedules repeat one block of calls per band or patch, with the same kernels and mostly the same
arguments: only some buffer offsets advance (a band's rows of the split tensor) and a few parameter structs
differ (the first and last bands' padding). Straight-line code pays some 20 bytes of flash per call; a loop
pays it once per block. An argument that is the same in every iteration stays a literal, an arena offset
that advances by a constant step becomes `base + i * step`, and anything else is read from a small constant
table indexed by the iteration. Profile points keep their numbers: point `first + i * period + slot`.

A Branch (the run-time choice of a mixed-precision patch's path) is an if/else; blocks holding branches fold
like any other (the patches of a mixed-precision stage 1), each call of a branch varying as its own slot. A
branch outside a run is emitted straight, its two bodies like the top level.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_REPEATS = 6  # fewer iterations stay straight-line: the loop and its tables cost about what they save
MAX_PERIOD = 64  # calls per iteration considered (a band of a deep stage 1 has a few dozen)


@dataclass(frozen=True)
class Arg:
    """One argument of an emitted call: `&name` of a parameter struct, a weights array `name`, or a pointer
    into the arena at `offset` cast to `cast`."""

    kind: str  # "params", "weights", "arena" or "state" (a pointer into model_state at `offset`)
    c_type: str  # the struct type, the array's element type, or the pointer cast (e.g. "const int8_t *")
    name: str = ""
    offset: int = 0


@dataclass(frozen=True)
class Call:
    kernel: str
    args: tuple[Arg, ...]
    comment: str
    point: int  # profile point index; -1 for a call that runs no code (a comment only)
    profiled: bool = True  # False: no profile point of its own (its instructions count towards the next one)

    @property
    def shape(self) -> tuple:
        return (self.kernel, tuple((a.kind, a.c_type) for a in self.args), self.point < 0, self.profiled)


@dataclass(frozen=True)
class Branch:
    """`peak = check(...); if (peak > threshold) { high } else { low }`: `check` returns an int32 (max_s8) and
    records profile point `check.point`; both bodies run the same profile points, so that the readings stay in
    call order whichever body runs."""

    check: Call
    threshold: int
    high: tuple[Call, ...]
    low: tuple[Call, ...]

    def calls(self) -> tuple[Call, ...]:
        return (self.check, *self.high, *self.low)

    @property
    def shape(self) -> tuple:
        return ("branch", (self.threshold, len(self.high), tuple(c.shape for c in self.calls())), False, False)


Item = Call | Branch


def emit_calls(calls: list[Item], prefix: str = "loop") -> tuple[list[str], list[str]]:
    """The body of model_invoke() and the file-scope tables its loops read (named `prefix`N_...)."""
    body: list[str] = []
    tables: list[str] = []
    loops = 0
    i = 0
    while i < len(calls):
        item = calls[i]
        if isinstance(item, Branch):
            body += _branch(item, f"{prefix}b{i}_", tables)
            i += 1
            continue
        period, repeats = _longest_run(calls, i)
        if repeats < MIN_REPEATS:
            body += _straight(calls[i])
            i += 1
            continue
        blocks = [calls[i + j * period : i + (j + 1) * period] for j in range(repeats)]
        body += _loop(blocks, f"{prefix}{loops}", tables)
        loops += 1
        i += period * repeats
    return body, tables


def _branch(branch: Branch, prefix: str, tables: list[str]) -> list[str]:
    check = branch.check
    args = ", ".join(_literal(a) for a in check.args)
    high, high_tables = emit_calls(list(branch.high), prefix + "h")
    low, low_tables = emit_calls(list(branch.low), prefix + "l")
    tables += high_tables + low_tables
    return [f"    /* {check.comment} */",
            "    {",
            f"        const int32_t peak = {check.kernel}({args});",
            f"        MODEL_PROFILE_POINT({check.point});",
            f"        if (peak > {branch.threshold}) {{",
            *["        " + line for line in high],
            "        } else {",
            *["        " + line for line in low],
            "        }",
            "    }"]


def _longest_run(calls: list[Item], start: int) -> tuple[int, int]:
    """(period, repeats) of the run from `start` covering the most calls (shortest period on ties)."""
    best = (1, 1)
    for period in range(1, min(MAX_PERIOD, (len(calls) - start) // MIN_REPEATS) + 1):
        shapes = [c.shape for c in calls[start : start + period]]
        if any(s[2] for s in shapes):  # comment-only records stay straight-line
            continue
        repeats = 1
        while start + (repeats + 1) * period <= len(calls) and all(
                calls[start + repeats * period + t].shape == shapes[t] for t in range(period)):
            repeats += 1
        while repeats >= MIN_REPEATS and not _mostly_shared(calls, start, period, repeats):
            repeats -= 1  # a shorter run may share more (e.g. without a differing last band)
        if repeats >= MIN_REPEATS and period * repeats > best[0] * best[1]:
            best = (period, repeats)
    return best


def _flat(block: list[Item]) -> list[Call]:
    return [c for item in block for c in (item.calls() if isinstance(item, Branch) else (item,))]


def _mostly_shared(calls: list[Item], start: int, period: int, repeats: int) -> bool:
    """Whether at most a third of the block's arguments need a table: otherwise the tables cost about what
    the loop saves, and the straight-line code with its comments reads better (e.g. the per-layer calls)."""
    blocks = [_flat(calls[start + j * period : start + (j + 1) * period]) for j in range(repeats)]
    tabled = total = 0
    for slot, call in enumerate(blocks[0]):
        for pos in range(len(call.args)):
            total += 1
            tabled += _needs_table([block[slot].args[pos] for block in blocks])
    return 3 * tabled <= total


def _needs_table(values: list[Arg]) -> bool:
    head = values[0]
    if all(v == head for v in values):
        return False
    if head.kind != "arena":
        return True
    step = values[1].offset - head.offset
    return any(v.offset != head.offset + j * step for j, v in enumerate(values))


def _straight(call: Call) -> list[str]:
    if call.point < 0:
        return [f"    /* {call.comment} */"]
    args = ", ".join(_literal(a) for a in call.args)
    point = [f"    MODEL_PROFILE_POINT({call.point});"] if call.profiled else []
    return [f"    /* {call.comment} */", f"    {call.kernel}({args});", *point]


def _literal(a: Arg) -> str:
    if a.kind == "params":
        return f"&{a.name}"
    if a.kind == "weights":
        return a.name
    if a.kind == "state":
        return f"({a.c_type})(model_state + {a.offset})"
    return f"({a.c_type})(model_arena + {a.offset})"


def _loop(blocks: list[list[Item]], name: str, tables: list[str]) -> list[str]:
    first = blocks[0]
    repeats, period = len(blocks), len(first)
    head = first[0].check if isinstance(first[0], Branch) else first[0]
    lines = [f"    /* {repeats} x {period} calls: {head.comment} ... */",
             f"    for (uint32_t i = 0; i < {repeats}u; ++i) {{"]
    flat = [_flat(block) for block in blocks]
    slot = 0

    def call_lines(indent: str, result: str = "") -> list[str]:
        """The next slot's call (its value assigned by `result`, e.g. "const int32_t peak = "), its arguments
        and profile point varying with i."""
        nonlocal slot
        call = flat[0][slot]
        if call.point < 0:
            slot += 1
            return [f"{indent}/* {call.comment} */"]
        args = [_varying([block[slot].args[pos] for block in flat], f"{name}_{slot}_{pos}", tables)
                for pos in range(len(call.args))]
        out = [f"{indent}{result}{call.kernel}({', '.join(args)});"]
        if call.profiled:  # points advance by the block's profiled calls
            step = flat[1][slot].point - call.point
            out.append(f"{indent}MODEL_PROFILE_POINT({call.point}u + i * {step}u);")
        slot += 1
        return out

    for item in first:
        if not isinstance(item, Branch):
            lines += call_lines("        ")
            continue
        lines += ["        {", *call_lines("            ", "const int32_t peak = "),
                  f"            if (peak > {item.threshold}) {{"]
        for _ in item.high:
            lines += call_lines("                ")
        lines.append("            } else {")
        for _ in item.low:
            lines += call_lines("                ")
        lines += ["            }", "        }"]
    lines.append("    }")
    return lines


def _varying(values: list[Arg], table: str, tables: list[str]) -> str:
    """The C expression of an argument over the iterations (i is the loop counter)."""
    head = values[0]
    if all(v == head for v in values):
        return _literal(head)
    if head.kind == "arena" and not _needs_table(values):
        step = values[1].offset - head.offset
        sign = "+" if step >= 0 else "-"
        return f"({head.c_type})(model_arena + {head.offset} {sign} i * {abs(step)}u)"
    if head.kind == "arena":
        offsets = ", ".join(f"{v.offset}u" for v in values)
        tables.append(f"static const uint32_t {table}[{len(values)}] = {{{offsets}}};")
        return f"({head.c_type})(model_arena + {table}[i])"
    if head.kind == "params":
        items = ", ".join(f"&{v.name}" for v in values)
        tables.append(f"static const {head.c_type} *const {table}[{len(values)}] = {{{items}}};")
        return f"{table}[i]"
    items = ", ".join(v.name for v in values)
    tables.append(f"static const {head.c_type} *const {table}[{len(values)}] = {{{items}}};")
    return f"{table}[i]"
