"""One-layer firmware of a low-bit kernel: no .tflite operator expresses packed codes, so the layer is lowered
from a one-op int8 model, its call swapped by to_low_bit, its input and output tensors re-declared as the packed
bytes, and the firmware emitted, built and run through the normal tools (protocol, emulated twin, QEMU
-icount)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from codegen.emit.c_source import emit_model
from codegen.emit.firmware_tree import make, write_tree
from codegen.ir import Tensor
from codegen.kernels.lowbit.codes import CodeFormat, pixel_bytes
from codegen.kernels.lowbit.swap import to_low_bit
from codegen.memory.planner import plan_memory
from codegen.pipeline import CompiledModel
from codegen.targets.boards import Board
from tools.build import instructions_from_ticks, io_bytes, measuring_invoke_wait


def _packed(t: Tensor, bits: int) -> Tensor:
    *lead, channels = t.shape
    return dataclasses.replace(t, shape=(*lead, pixel_bytes(channels, bits)), dtype="uint8", data=None)


def low_bit_model(int8: CompiledModel, formats: dict[int, CodeFormat | None], dsp: bool) -> CompiledModel:
    """A model of convolutions (compiled with portable kernels) with every call on the low-bit path: formats
    maps each tensor to its codes' format (None or absent: int8, held as bytes)."""
    calls = [to_low_bit(c, formats.get(c.inputs[0]), formats.get(c.outputs[0]), dsp=dsp) for c in int8.calls]
    graph = int8.graph
    tensors = list(graph.tensors)
    for index in {t for c in calls for t in (*c.inputs, *c.outputs)}:
        fmt = formats.get(index)
        tensors[index] = _packed(tensors[index], 8 if fmt is None else fmt.bits)
    # No views: the int8 plan may have made a depthwise layer in place (depthwise_in_place.py), whose byte lag
    # does not hold for packed codes.
    graph = dataclasses.replace(graph, tensors=tensors, views={}, name=f"{graph.name}_lowbit")
    plan = plan_memory(graph, calls)
    sources = emit_model(graph, calls, plan, int8.hash8)
    return dataclasses.replace(int8, graph=graph, calls=calls, plan=plan, sources=sources)


def build_firmware(compiled: CompiledModel, board: Board, root: Path) -> Path:
    """The emulated twin's firmware.elf of `compiled`."""
    write_tree(root, compiled.sources.files, board.emulator_layer)
    make(root, board.stack_bytes, f"{compiled.graph.name} on {board.name}'s emulated twin")
    return root / "firmware.elf"


def run_firmware(elf: Path, compiled: CompiledModel, board: Board,
                 inputs: list[np.ndarray]) -> tuple[list[bytes], int]:
    """Outputs and instructions of one inference (the layer plus the firmware's fixed cost of an INVOKE)."""
    from tools.link.emulator import Emulator

    with Emulator(elf, machine=board.qemu_machine or "mps2-an500",
                  link_options={"invoke_timeout": measuring_invoke_wait(compiled)}) as emu:
        emu.link.expect_model(compiled.hash8, compiled.graph.name, *io_bytes(compiled.graph))
        outputs, stats = emu.link.infer(inputs)
    return outputs, instructions_from_ticks(stats.ticks, stats.tick_unit)
