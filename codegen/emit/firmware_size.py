"""Flash and RAM use of a linked firmware, read from the ELF section table and the GNU ld map file."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codegen.errors import ToolchainError

# An input-section line of the map: " .rodata.k3_filter 0x0800a000 0x1200 model/model_weights.o"; ld wraps
# long section names onto their own line, so the address/size/object may start the next line.
_INPUT_SECTION = re.compile(r"^ (\.\S+)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)", re.MULTILINE)
_FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".preinit_array",
                   ".init_array", ".fini_array")


@dataclass(frozen=True)
class FirmwareSize:
    flash_bytes: int  # everything stored in flash: code, constants, the initial values of .data
    flash_weights_bytes: int  # the model's constant arrays (model_weights.o; model_*_weights.o for several)
    ram_static_bytes: int  # .data + .bss (the arena lives in .bss), excluding the stack reservation
    stack_reserved_bytes: int

    @property
    def flash_code_bytes(self) -> int:
        return self.flash_bytes - self.flash_weights_bytes


def section_sizes(elf: Path) -> dict[str, int]:
    try:
        out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise ToolchainError("arm-none-eabi-size not found: apt-get install gcc-arm-none-eabi") from None
    sizes: dict[str, int] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def object_bytes(map_text: str, object_suffix: str) -> int:
    """Bytes of all input sections contributed by object files whose path ends with `object_suffix`."""
    total = 0
    for _name, _addr, size, obj in _INPUT_SECTION.findall(map_text):
        if obj.endswith(object_suffix):
            total += int(size, 16)
    return total


def measure(elf: Path, map_file: Path) -> FirmwareSize:
    sections = section_sizes(elf)
    flash = sum(v for k, v in sections.items() if k in _FLASH_SECTIONS) + sections.get(".data", 0)
    ram = sections.get(".data", 0) + sections.get(".bss", 0)
    # model_weights.o, or model_<name>_weights.o per model of a several-model firmware (emit/multi_model.py)
    weights = object_bytes(map_file.read_text(), "_weights.o")
    return FirmwareSize(flash, weights, ram, sections.get(".stack", 0))


# Predicting flash before anything is built (the schedule search skips schedules over the board's flash):
# the constant arrays are exact (as emitted, identical ones once, each aligned to 4 bytes); the parameter structs
# are counted at 4 bytes a field; the code is a linear estimate fitted to nucleo-f746 builds (runtime and
# protocol, each distinct kernel function, each statement of model_invoke()). `codegen build` then measures.
CODE_BASE_BYTES = 9_000
CODE_PER_KERNEL_BYTES = 700
CODE_PER_STATEMENT_BYTES = 14
_PARAMS = re.compile(r"^static const \w+ \w+ = \{(.*)\};$", re.MULTILINE)


@dataclass(frozen=True)
class FlashEstimate:
    weights_bytes: int
    code_bytes: int  # code and everything else that is not a constant array: parameter structs, tables

    @property
    def flash_bytes(self) -> int:
        return self.weights_bytes + self.code_bytes

    def describe(self) -> str:
        return f"{self.flash_bytes:,} B (weights {self.weights_bytes:,} + code {self.code_bytes:,})"


def predict_flash(files: dict[str, str], weight_arrays: list[int], kernels: set[str]) -> FlashEstimate:
    """The flash of a firmware built from these generated `files` (model.c), whose de-duplicated constant arrays
    have `weight_arrays` bytes each, calling the kernel functions `kernels`."""
    model_c = files["model.c"]
    params = sum(p.count("= ") * 4 for p in _PARAMS.findall(model_c))
    start = model_c.find("model_invoke(")
    statements = model_c[start:].count(";") if start >= 0 else 0
    weights = sum(-(-n // 4) * 4 for n in weight_arrays)
    code = CODE_BASE_BYTES + CODE_PER_KERNEL_BYTES * len(kernels) + CODE_PER_STATEMENT_BYTES * statements + params
    return FlashEstimate(weights, code)
