"""Emit the generated C for one model: model.h, model.c (straight-line model_invoke) and the weights.

Weights live in their own translation unit (model_weights.c) so the linker map attributes their flash
exactly; every parameter is a compile-time constant, so no interpreter or flatbuffer reaches the device.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from codegen.emit.loops import Arg, Branch, Call, Item, emit_calls
from codegen.ir import Graph
from codegen.kernels import HEADERS
from codegen.kernels.base import ConstArray, KernelCall, KernelParams
from codegen.kernels.lowbit.lowbit_requantize import LowBitRequantizeParams
from codegen.kernels.lowbit.max_s8 import whole_buffer
from codegen.memory.planner import MemoryPlan

if TYPE_CHECKING:
    from codegen.quantize.mixed_patches import MixedPatches, PatchBranch
    from codegen.quantize.mixed_precision import Format

C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.uint64): "uint64_t",
    np.dtype(np.float32): "float",
}
IR_C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t",
              "uint32": "uint32_t", "int64": "int64_t", "uint64": "uint64_t", "float32": "float", "bool": "uint8_t"}
VALUES_PER_LINE = 24


@dataclass
class GeneratedSources:
    files: dict[str, str]  # file name -> text
    weight_bytes: int  # bytes of constant arrays after de-duplication
    # profile point k -> position of the call it follows (elided calls run no code, so they have no point)
    profile_positions: tuple[int, ...] = ()
    weight_arrays: tuple[int, ...] = ()  # bytes of each de-duplicated constant array (for predicting flash)
    check_points: tuple[int, ...] = ()  # profile points that follow a mixed-precision patch's VDPC check


def model_hash(model_bytes: bytes) -> bytes:
    """First 8 bytes of the SHA-256 of the model file: lets the host detect stale firmware."""
    return hashlib.sha256(model_bytes).digest()[:8]


def emit_model(graph: Graph, calls: list[KernelCall], plan: MemoryPlan, hash8: bytes,
               mixed: MixedPatches | None = None) -> GeneratedSources:
    """With `mixed`, each patch of stage 1 branches after its classified-map region (codegen/quantize/
    mixed_patches.py): the rest of its calls are emitted twice, the low-bit copy with requantizations."""
    weights = _WeightTable()
    params: list[str] = []
    param_names: dict[tuple[str, str], str] = {}  # identical structs (e.g. the bands of a patch schedule) once
    points: list[int] = []
    checks: list[int] = []

    def param_arg(p: KernelParams, name: str) -> Arg:
        key = (p.C_TYPE, p.c_initializer())
        if key not in param_names:
            param_names[key] = name
            params.append(f"static const {key[0]} {param_names[key]} = {key[1]};")
        return Arg("params", key[0], param_names[key])

    def record(pos: int, point: int | None = None, twin: KernelCall | None = None) -> Call:
        """The call at `pos`; a new profile point unless `point` (the int8 copy's, for the low-bit copy). With
        `twin` (its low-bit twin, mixed_patches.py) that call instead: its maps are bytes (packed codes)."""
        call = calls[pos] if twin is None else twin
        tag = "k" if twin is None else "l"
        op = graph.operator(call.op_index)
        if pos in plan.elided_calls and twin is not None:
            raise ValueError(f"call {pos} is aliased in place: its low-bit twin has no buffer of its own")
        if pos in plan.elided_calls:
            return Call("", (), f"operator {op.index} {op.op_type}: aliased in place, no work", -1)
        args: list[Arg] = []
        if call.params is not None:
            args.append(param_arg(call.params, f"{tag}{pos}_params"))
        # A streamed input has no buffer: read_input_window gets its bytes through model_read_input().
        args += [_tensor_arg(graph, plan, t, const=True, packed=twin is not None) for t in call.inputs
                 if t not in graph.streamed_inputs]
        args += [Arg("weights", C_TYPES[np.asarray(c.data).dtype], weights.add(f"{tag}{pos}_{c.role}", c))
                 for c in call.consts]
        args += [_tensor_arg(graph, plan, t, const=False, packed=twin is not None) for t in call.outputs]
        if call.scratch_bytes:
            args.append(Arg("arena", "int8_t *", offset=plan.scratch_offsets[pos]))
        macs = f", {call.macs:,} MACs" if call.macs else ""
        if point is None:
            point = len(points)
            points.append(pos)
        return Call(call.kernel, tuple(args), f"operator {op.index} {op.op_type}{macs}", point)

    def requantize(pos: int, fmt: Format) -> list[Call]:
        """lowbit_requantize_s8 calls: one for a map's format; per channel, one per run of channels sharing a
        format (rows = pixels, row_bytes = the run, row_stride = channels, from the run's first channel)."""
        if pos in plan.elided_calls:
            raise ValueError(f"call {pos} is aliased in place: its {fmt.bits}-bit requantization would change "
                             "the map it aliases")
        out = calls[pos].outputs[0]
        tensor = graph.tensor(out)
        formats = getattr(fmt, "formats", (fmt,))
        if any(f.step or f.offset >= 0 for f in formats):
            raise ValueError(f"{tensor.name}: the firmware runs power-of-two low-bit steps rounded to nearest "
                             "(integer steps and rounding offsets are host-only)")
        channels = len(formats) if len(formats) > 1 else tensor.nbytes
        rows = tensor.nbytes // channels
        arg = _tensor_arg(graph, plan, out, False)
        out_calls = []
        start = 0
        while start < len(formats):
            end = start + 1
            while end < len(formats) and formats[end] == formats[start]:
                end += 1
            f = formats[start]
            p = LowBitRequantizeParams(rows, (end - start) if len(formats) > 1 else channels, channels,
                                       f.zero_point, f.shift, f.m_lo, f.m_hi)
            suffix = f"_c{start}" if len(formats) > 1 else ""
            where = f" channels {start}..{end - 1}" if len(formats) > 1 else ""
            window = dataclasses.replace(arg, offset=arg.offset + start)
            out_calls.append(Call("lowbit_requantize_s8", (param_arg(p, f"r{pos}{suffix}_params"), window),
                                  f"{tensor.name}{where}: {fmt.bits} bits on the low-bit path", 0, profiled=False))
            start = end
        return out_calls

    emitted: list[Item] = []
    branches = mixed.branch_at() if mixed is not None else {}
    pos = 0
    while pos < len(calls):
        emitted.append(record(pos))
        branch = branches.get(pos)
        if branch is None:
            pos += 1
            continue
        region = calls[pos].outputs[0]
        window = whole_buffer(graph.tensor(region).nbytes)
        checks.append(len(points))
        points.append(pos)
        check = Call(mixed.check_kernel, (param_arg(window, f"c{pos}_params"),
                                          _tensor_arg(graph, plan, region, const=True)),
                     f"VDPC: the patch's {graph.tensor(region).name} region against qT {branch.q_threshold}",
                     checks[-1])
        if branch.high is not None:  # int8 sub-patches: bodies of different calls share one profile point
            emitted.append(_split_branch(check, branch, record, requantize, len(points)))
            points.append(branch.high[1] - 1)
            pos = branch.high[1]
            continue
        high = [record(p) for p in range(pos + 1, branch.end)]
        low: list[Call] = []
        if pos in branch.requantize:
            low.extend(requantize(pos, branch.requantize[pos]))
        for p, twin in zip(range(pos + 1, branch.end), high, strict=True):
            if p in branch.twins:
                low.append(record(p, twin.point, branch.twins[p]))
            else:
                low.append(record(p, twin.point) if twin.point >= 0 else twin)
            if p in branch.requantize:
                low.extend(requantize(p, branch.requantize[p]))
        emitted.append(Branch(check, branch.q_threshold, tuple(high), tuple(low)))
        pos = branch.end
    body, tables = emit_calls(emitted)
    params += tables

    kernels = {c.kernel for c in calls}
    if mixed is not None and mixed.branches:
        kernels |= {mixed.check_kernel, "lowbit_requantize_s8"}
        kernels |= {t.kernel for b in mixed.branches for t in b.twins.values()}
    headers = sorted({HEADERS[k] for k in kernels})
    files = {
        "model.h": _model_h(graph, plan, len(points)),
        "model.c": _model_c(graph, plan, hash8, headers, params, body),
        "model_weights.h": weights.header(),
        "model_weights.c": weights.source(),
    }
    return GeneratedSources(files, weights.nbytes, tuple(points), tuple(a.nbytes for _, a in weights.arrays),
                            tuple(checks))


def _split_branch(check: Call, branch: PatchBranch, record: Callable[..., Call],
                  requantize: Callable[[int, Format], list[Call]], point: int) -> Branch:
    """A branch whose int8 body runs sub-patches (branch.high): neither body's calls record a point of their own
    but the last, which records `point` (the patch's rest), so that the readings stay in call order."""
    def body(calls: list[Call]) -> tuple[Call, ...]:
        calls = [dataclasses.replace(c, profiled=False) if c.point >= 0 else c for c in calls]
        last = max(k for k, c in enumerate(calls) if c.point >= 0)
        calls[last] = dataclasses.replace(calls[last], point=point, profiled=True)
        return tuple(calls)

    start = check_pos = branch.check
    low: list[Call] = []
    if check_pos in branch.requantize:
        low.extend(requantize(check_pos, branch.requantize[check_pos]))
    for p in range(start + 1, branch.end):
        low.append(record(p, 0, branch.twins.get(p)))
        if p in branch.requantize:  # the unpacked path (per-channel formats) requantizes each map in place
            low.extend(requantize(p, branch.requantize[p]))
    high = [record(p, 0) for p in range(*branch.high)]
    return Branch(check, branch.q_threshold, body(high), body(low))


def _tensor_arg(graph: Graph, plan: MemoryPlan, index: int, const: bool, packed: bool = False) -> Arg:
    """`packed`: the low-bit kernels' view of a map, bytes (packed codes, or int8 read as bytes)."""
    ctype = "uint8_t" if packed else IR_C_TYPES[graph.tensor(index).dtype]
    qualifier = "const " if const else ""
    if index in plan.state_offsets:
        return Arg("state", f"{qualifier}{ctype} *", offset=plan.state_offsets[index])
    return Arg("arena", f"{qualifier}{ctype} *", offset=plan.tensor_offsets[index])


class _WeightTable:
    """Constant arrays, de-duplicated by content (e.g. identical multiplier tables are stored once)."""

    def __init__(self) -> None:
        self.by_content: dict[tuple[str, bytes], str] = {}
        self.arrays: list[tuple[str, np.ndarray]] = []

    def add(self, name: str, const: ConstArray) -> str:
        data = np.ascontiguousarray(const.data)
        key = (data.dtype.str, data.tobytes())
        if key not in self.by_content:
            self.by_content[key] = name
            self.arrays.append((name, data))
        return self.by_content[key]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for _, a in self.arrays)

    def header(self) -> str:
        lines = [_GENERATED, "#ifndef MODEL_WEIGHTS_H", "#define MODEL_WEIGHTS_H", "", "#include <stdint.h>", ""]
        for name, data in self.arrays:
            lines.append(f"extern const {C_TYPES[data.dtype]} {name}[{max(data.size, 1)}];")
        lines += ["", "#endif", ""]
        return "\n".join(lines)

    def source(self) -> str:
        lines = [_GENERATED, '#include "model_weights.h"', ""]
        for name, data in self.arrays:
            ctype = C_TYPES[data.dtype]
            lines.append(f"const {ctype} {name}[{max(data.size, 1)}] __attribute__((aligned(4))) = {{")
            lines.extend(_format_values(data.reshape(-1)))
            lines.append("};")
        lines.append("")
        return "\n".join(lines)


def _format_values(flat: np.ndarray) -> list[str]:
    if flat.size == 0:
        return ["    0"]
    if flat.dtype == np.float32:
        # Hex float literals are exact: the device sees the very bits the model file holds.
        items = [float(v).hex() + "f" for v in flat.tolist()]
    elif flat.dtype == np.int32:
        items = ["INT32_MIN" if v == -(2**31) else str(v) for v in flat.tolist()]
    elif flat.dtype == np.int64:  # 16x8 biases; -2^63 has no plain decimal literal
        items = ["INT64_MIN" if v == -(2**63) else str(v) for v in flat.tolist()]
    elif flat.dtype in (np.uint32, np.uint64):  # unsigned literals: 2^64 - 1 has no signed type
        items = [f"{v}u" for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    return ["    " + ", ".join(items[i : i + VALUES_PER_LINE]) + "," for i in range(0, len(items), VALUES_PER_LINE)]


_GENERATED = "/* Generated by codegen. Do not edit: rebuild from the model instead. */"


def _c_string(text: str) -> str:
    return '"' + "".join(ch if ch.isalnum() or ch in " _-.+" else "_" for ch in text) + '"'


def _model_h(graph: Graph, plan: MemoryPlan, num_calls: int) -> str:
    return "\n".join(
        [
            _GENERATED,
            "#ifndef MODEL_H",
            "#define MODEL_H",
            "",
            "#include <stdint.h>",
            "",
            f"#define MODEL_NUM_INPUTS {len(graph.inputs)}",
            f"#define MODEL_NUM_OUTPUTS {len(graph.outputs)}",
            f"#define MODEL_ARENA_BYTES {plan.arena_bytes}",
            "/* Kernel calls that run code, i.e. profile points: point k follows the k-th of them. */",
            f"#define MODEL_NUM_CALLS {num_calls}",
            "",
            "/* With -DMODEL_PROFILE the firmware records the timer after each call; otherwise no code at all. */",
            "#ifdef MODEL_PROFILE",
            "void model_profile_point(uint32_t k);",
            "#define MODEL_PROFILE_POINT(k) model_profile_point(k)",
            "#else",
            "#define MODEL_PROFILE_POINT(k) ((void)0)",
            "#endif",
            "",
            "extern const char model_name[];",
            "extern const uint8_t model_hash[8];",
            "extern const uint32_t model_input_bytes[MODEL_NUM_INPUTS];",
            "extern const uint32_t model_output_bytes[MODEL_NUM_OUTPUTS];",
            "",
            "/* Inputs the model reads piecewise while it runs (never held whole in SRAM); 0 when there are none.",
            " * model_input() returns NULL for such an input: model_invoke() calls model_read_input() instead. */",
            f"#define MODEL_STREAMED_INPUTS {len(graph.streamed_inputs)}",
            "extern const uint8_t model_input_streamed[MODEL_NUM_INPUTS];",
            "/* Provided by the application, called by model_invoke() only for streamed inputs: copy bytes",
            " * [offset, offset + n) of input `index` into dst (n >= 1; calls come in any order, may re-read). */",
            "void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst);",
            "",
            "/* Write input `index` here before model_invoke(); NULL for an index out of range or streamed. */",
            "uint8_t *model_input(uint32_t index);",
            "/* Valid after model_invoke() until inputs are written again; NULL for an index out of range. */",
            "const uint8_t *model_output(uint32_t index);",
            "void model_invoke(void);",
            "",
            "/* Variable tensors (e.g. SVDF's state) keep their values from one model_invoke() to the next, in",
            " * model_state (MODEL_STATE_BYTES, outside the arena); model_reset() sets them as at start-up: zero,",
            " * or the zero point for int8 ones (e.g. an LSTM's hidden state), as TFLite Micro does. */",
            f"#define MODEL_STATE_BYTES {plan.state_bytes}",
            "void model_reset(void);",
            "",
            "#endif",
            "",
        ]
    )


def _model_c(
    graph: Graph, plan: MemoryPlan, hash8: bytes, headers: list[str], params: list[str], body: list[str]
) -> str:
    def table(values: list[int]) -> str:
        return "{" + ", ".join(f"{v}u" for v in values) + "}"

    in_bytes = [graph.tensor(t).nbytes for t in graph.inputs]
    out_bytes = [graph.tensor(t).nbytes for t in graph.outputs]
    in_offsets = [plan.tensor_offsets.get(t, 0) for t in graph.inputs]
    streamed = [int(t in graph.streamed_inputs) for t in graph.inputs]
    out_offsets = [plan.tensor_offsets[t] for t in graph.outputs]
    state_decl, state_reset = [], ["    /* no variable tensors */"]
    if plan.state_bytes:
        # TFLite Micro resets an int8 variable tensor to its zero point (an LSTM's hidden state), others to 0.
        fills = [(plan.state_offsets[t.index], t.nbytes, t.zero_point) for t in graph.tensors
                 if t.index in plan.state_offsets and t.dtype == "int8" and t.quant is not None and t.zero_point]
        if fills:
            start = bytearray(plan.state_bytes)
            for offset, size, zp in fills:
                start[offset : offset + size] = bytes([zp & 0xFF]) * size
            state_decl = [
                "/* Variable tensors: their reset values at start-up, kept between invokes, never reused by the",
                " * planner. */",
                f"static uint8_t model_state[{plan.state_bytes}] __attribute__((aligned(8))) = {{"
                + ", ".join(str(b) for b in start) + "};",
                "",
            ]
        else:
            state_decl = [
                "/* Variable tensors: zero at start-up (.bss), kept between invokes, never reused by the planner. */",
                f"static uint8_t model_state[{plan.state_bytes}] __attribute__((aligned(8)));",
                "",
            ]
        state_reset = ["    for (uint32_t k = 0; k < MODEL_STATE_BYTES; ++k) model_state[k] = 0;"]
        state_reset += [f"    for (uint32_t k = {o}; k < {o + n}u; ++k) model_state[k] = (uint8_t){zp & 0xFF}u;"
                        for o, n, zp in fills]
    lines = [
        _GENERATED,
        '#include "model.h"',
        "",
        "#include <stddef.h>",
        "",
        '#include "model_weights.h"',
        *[f'#include "{h}"' for h in headers],
        "",
        f"const char model_name[] = {_c_string(graph.name)};",
        "const uint8_t model_hash[8] = {" + ", ".join(f"0x{b:02x}" for b in hash8) + "};",
        f"const uint32_t model_input_bytes[MODEL_NUM_INPUTS] = {table(in_bytes)};",
        f"const uint32_t model_output_bytes[MODEL_NUM_OUTPUTS] = {table(out_bytes)};",
        f"static const uint32_t input_offsets[MODEL_NUM_INPUTS] = {table(in_offsets)};",
        f"const uint8_t model_input_streamed[MODEL_NUM_INPUTS] = {table(streamed)};",
        f"static const uint32_t output_offsets[MODEL_NUM_OUTPUTS] = {table(out_offsets)};",
        "",
        "/* Every activation and scratch buffer, at offsets fixed by the memory planner. */",
        f"static uint8_t model_arena[{max(plan.arena_bytes, 1)}] __attribute__((aligned(8)));",
        *state_decl,
        *params,
        "",
        "uint8_t *model_input(uint32_t index)",
        "{",
        "    if (index >= MODEL_NUM_INPUTS || model_input_streamed[index]) return NULL;",
        "    return model_arena + input_offsets[index];",
        "}",
        "",
        "const uint8_t *model_output(uint32_t index)",
        "{",
        "    return index < MODEL_NUM_OUTPUTS ? model_arena + output_offsets[index] : NULL;",
        "}",
        "",
        "void model_reset(void)",
        "{",
        *state_reset,
        "}",
        "",
        "void model_invoke(void)",
        "{",
        *body,
        "}",
        "",
    ]
    return "\n".join(lines)
