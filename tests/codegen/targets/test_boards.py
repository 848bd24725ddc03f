"""The board catalogue: every board.json agrees with its linker script, board.mk and board.c; every real
board's firmware links at its flash origin with the stack and arena in its RAM; every emulated twin has its
board's budget, and runs a real model in QEMU bit-exact with TFLite Micro's golden output; an over-budget
model fails to link with the linker's byte count.

The STM32 layers (clock trees, caches, U(S)ARTs) cannot run here: they are checked by compiling them
warning-free (-Werror) for their exact CPU flags and by what the ELF images say. The MPS2+ with the AN500
image is the machine QEMU emulates: its layer is its own twin, so its image is the one that runs in QEMU."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codegen.emit.platformio import EXTRA_SCRIPT, platformio_ini
from codegen.errors import BudgetError, CodegenError
from codegen.ir import NUMPY_DTYPES
from codegen.paths import BOARDS_DIR, runtime_groups
from codegen.pipeline import compile_file
from codegen.targets.boards import Board, MemoryRegion, layer_sources, list_boards, load_board
from codegen.targets.core import Target
from tests.firmware.runtime.test_firmware_stub import assemble_tree, make, symbols
from tests.support.model_catalog import TIER_AB, expected_output
from tools.build import EMULATED_DIR, BuildResult, build
from tools.cli import main as cli_main
from tools.link.emulator import Emulator, check_machine_memory

STM32_BOARDS = ["disco-f746ng", "nucleo-f746", "nucleo-f767zi", "nucleo-h743zi", "nucleo-l4r5zi"]
MPS2_BOARD = "mps2plus-an500"  # the MPS2+ FPGA board with the AN500 image: QEMU's mps2-an500 itself
REAL_BOARDS = sorted([*STM32_BOARDS, MPS2_BOARD])
TWINS = ["mps2-an386", "mps2-an500", "mps2-an500-f767", "mps2-an500-h743"]
LAYERS = REAL_BOARDS + TWINS
PLATFORMIO_IDS = {
    "nucleo-f746": "nucleo_f746zg",
    "disco-f746ng": "disco_f746ng",
    "nucleo-f767zi": "nucleo_f767zi",
    "nucleo-h743zi": "nucleo_h743zi",
    "nucleo-l4r5zi": "nucleo_l4r5zi",
}
MODEL = "tflm_hello_world_int8"
M4_MODEL = "tflm_micro_speech_quantized"  # conv + fully connected + softmax, on the Cortex-M4 twin

needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                   reason="arm-none-eabi-gcc missing")


def layer_json(layer: str) -> dict:
    return json.loads((BOARDS_DIR / layer / "board.json").read_text())


def region(d: dict) -> MemoryRegion:
    return MemoryRegion(int(d["origin"], 16), d["size"])


def ld_memory(layer: str) -> tuple[dict[str, MemoryRegion], str]:
    """MEMORY regions of a layer's board.ld, and the region its STACK_RAM alias names."""
    text = (BOARDS_DIR / layer / "board.ld").read_text()
    pattern = r"^\s*(\w+)\s+\(\w+\)\s*:\s*ORIGIN = (0x[0-9A-Fa-f]+), LENGTH = (\d+)K\s*$"
    regions = {m[1]: MemoryRegion(int(m[2], 16), int(m[3]) * 1024) for m in re.finditer(pattern, text, re.M)}
    aliases = re.findall(r'^REGION_ALIAS\("STACK_RAM", (\w+)\);$', text, re.M)
    assert len(aliases) == 1, f"{layer}/board.ld must alias STACK_RAM exactly once"
    return regions, aliases[0]


def mk_cpu_flags(layer: str) -> str:
    return re.search(r"^CPU_FLAGS \?= (.*)$", (BOARDS_DIR / layer / "board.mk").read_text(), re.M)[1]


def json_cpu_flags(d: dict) -> str:
    return f"-mcpu={d['core']} -mthumb -mfpu={d['fpu']} -mfloat-abi={d['float_abi']}"


def is_qemu_machine(d: dict) -> bool:
    """A layer for an MPS2 machine QEMU emulates: a twin, or a real board that is its own twin (the MPS2+)."""
    return "twin_of" in d or d["emulator"]["board_layer"] == d["name"]


def qemu_machine(d: dict) -> str:
    return d["qemu"]["machine"] if "twin_of" in d else d["emulator"]["qemu_machine"]


def stack_and_data_regions(memory: dict) -> tuple[MemoryRegion, MemoryRegion]:
    """(where the stack lives, where .data/.bss live) according to a board.json "memory" block."""
    sram = region(memory["sram"])
    return (region(memory["stack"]) if "stack" in memory else sram), sram


# ---- the declarative catalogue ---------------------------------------------------------------------


def test_catalogue_lists_the_six_boards(capsys: pytest.CaptureFixture[str]) -> None:
    boards = list_boards()
    assert [b.name for b in boards] == REAL_BOARDS
    assert {p.parent.name for p in BOARDS_DIR.glob("*/board.json")} == set(LAYERS)
    assert cli_main(["boards"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [b.summary() for b in boards]
    for board, line in zip(boards, out, strict=True):
        assert line.startswith(board.name) and board.mcu in line
        assert f"@ {board.clock_hz // 10**6} MHz" in line
        assert f"{board.sram.size // 1024} KB SRAM" in line and f"QEMU {board.qemu_machine}" in line
    for twin in TWINS:  # twins are layers, not boards
        with pytest.raises(CodegenError, match=f"unknown board '{twin}'"):
            load_board(twin)


@pytest.mark.parametrize("layer", LAYERS)
def test_board_json_matches_linker_script_and_board_mk(layer: str) -> None:
    d = layer_json(layer)
    assert d["name"] == layer
    regions, stack_alias = ld_memory(layer)
    memory = d["memory"]
    assert regions["FLASH"] == region(memory["flash"])
    assert regions["RAM"] == region(memory["sram"])
    if "stack" in memory:  # a separate stack memory (the STM32H7's DTCM)
        assert stack_alias != "RAM" and regions[stack_alias] == region(memory["stack"])
        assert set(regions) == {"FLASH", "RAM", stack_alias}
    else:
        assert stack_alias == "RAM" and set(regions) == {"FLASH", "RAM"}
    assert mk_cpu_flags(layer) == json_cpu_flags(d)
    assert d["stack_bytes"] == 16384
    mps2 = is_qemu_machine(d)
    assert (int(memory["flash"]["origin"], 16) == 0x08000000) != mps2  # the MPS2 machines boot from 0x0
    if "twin_of" not in d:
        assert d["board_layer"] == layer and d["console"]["baud"] == 115200
        assert d["clock"]["sysclk_hz"] == d["clock_hz"]
    if mps2:  # the twins and the MPS2+ itself: the 25 MHz FPGA image, timed by SysTick
        assert d["clock_hz"] == 25_000_000 and d["timer"]["tick_unit"] == "instructions/40"
        assert d["console"]["uart"] == "CMSDK UART0" and d["console"]["base"] == "0x40004000"
    else:
        assert d["timer"]["tick_unit"] == "cycles"
        assert d["console"]["kernel_clock_hz"] in (d["clock"]["pclk1_hz"], d["clock"]["pclk2_hz"])


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_sources(layer: str) -> None:
    """board.mk's BOARD_SRCS: startup, the layer's board.c and exactly one implementation of the board API
    (STM32 or QEMU MPS2), all of them present; the layer's board.c names the layer."""
    sources = layer_sources(layer)
    names = [Path(s).name for s in sources]
    assert all(s.startswith("board/") for s in sources) and len(set(names)) == len(names)
    assert {"startup.c", "board.c"} <= set(names)
    api = {"stm32_board.c", "mps2_board.c"} & set(names)
    assert api == ({"mps2_board.c"} if is_qemu_machine(layer_json(layer)) else {"stm32_board.c"})
    for name in names:
        assert (BOARDS_DIR / "common" / name).is_file() != (BOARDS_DIR / layer / name).is_file(), name
    assert {p.name for p in (BOARDS_DIR / layer).glob("*.c")} <= set(names)
    board_c = (BOARDS_DIR / layer / "board.c").read_text()
    assert re.search(r'^const char board_name\[\] = "([\w-]+)";$', board_c, re.M)[1] == layer
    # Layer file names must not clash with boards/common: the build tree flattens both into one directory.
    common = {p.name for p in (BOARDS_DIR / "common").iterdir()}
    assert not {p.name for p in (BOARDS_DIR / layer).iterdir()} & common


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_twin_has_its_boards_budget_and_cpu(name: str) -> None:
    board, d = load_board(name), layer_json(name)
    emu = d["emulator"]
    twin = layer_json(emu["board_layer"])
    if name == MPS2_BOARD:  # the board is the emulated machine: its own layer is its twin
        assert twin == d and board.emulator_layer == board.board_layer == name
    else:
        assert name in [twin["twin_of"], *twin.get("also_twin_of", [])]
    assert qemu_machine(twin) == emu["qemu_machine"] == board.qemu_machine
    assert json_cpu_flags(twin) == json_cpu_flags(d) == board.cpu_flags == mk_cpu_flags(board.board_layer)
    assert emu["qemu_cpu"] == d["core"]
    for kind in ("flash", "sram", "stack"):
        assert (kind in twin["memory"]) == (kind in d["memory"]) == (kind in emu), kind
        if kind in d["memory"]:
            assert twin["memory"][kind]["size"] == d["memory"][kind]["size"], kind
            assert region(twin["memory"][kind]) == region(emu[kind]), kind


@pytest.mark.parametrize("name", STM32_BOARDS)
def test_board_fields(name: str) -> None:
    board = load_board(name)
    assert board.board_layer == name and board.emulator_layer in TWINS and board.stack_bytes == 16384
    assert board.platformio_board == PLATFORMIO_IDS[name]
    assert board.st_flash_address == 0x08000000 == board.flash.origin
    assert re.fullmatch(r"board/[\w.-]+\.cfg", board.openocd_config or "")
    assert board.pyocd_target and board.pyocd_target.startswith(board.mcu.lower()[:9])
    assert board.console.endswith("115200 8N1") and board.tick_unit == "cycles"
    assert (board.stack_region is not None) == (name == "nucleo-h743zi")


def test_mps2plus_board_fields() -> None:
    """The MPS2+ with AN500: 4 MB of code SSRAM at 0x0 and 4 MB of data SSRAM at 0x20000000 (what QEMU maps),
    no debug-probe flashing (its MCC loads images from its USB drive), no PlatformIO board; its own twin."""
    board = load_board(MPS2_BOARD)
    assert board.flash == MemoryRegion(0x00000000, 4 << 20) and board.sram == MemoryRegion(0x20000000, 4 << 20)
    assert board.stack_region is None and board.stack_bytes == 16384
    assert (board.core, board.clock_hz, board.cpu_flags) == (
        "cortex-m7", 25_000_000, "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard")
    assert (board.board_layer, board.emulator_layer, board.qemu_machine) == (MPS2_BOARD, MPS2_BOARD, "mps2-an500")
    assert board.tick_unit == board.emulator_tick_unit == "instructions/40"
    assert board.console == "CMSDK UART0 115200 8N1"
    assert (board.pyocd_target, board.openocd_config, board.st_flash_address, board.platformio_board) == (
        None, None, None, None)
    assert board.mass_storage and "MB/HBI0263C/AN500/images.txt" in board.mass_storage
    assert "SOFTWARE" in board.mass_storage and "IMAGE0ADDRESS: 0x00000000" in board.mass_storage
    flashing = layer_json(MPS2_BOARD)["flashing"]
    assert set(flashing) == {"mass_storage"}


@pytest.mark.emulator
@pytest.mark.parametrize("twin", [*TWINS, MPS2_BOARD])
def test_qemu_machine_ram_covers_the_twin(twin: str) -> None:
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm missing")
    d = layer_json(twin)
    for r in d["memory"].values():
        check_machine_memory(qemu_machine(d), int(r["origin"], 16), r["size"])


# ---- firmware for every board, built by `codegen build` ---------------------------------------------


@pytest.fixture(scope="module")
def builds(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    root = tmp_path_factory.mktemp("boards")
    return {name: build(shared_models / f"{MODEL}.tflite", load_board(name), root / name, measure_run=False)
            for name in REAL_BOARDS}


def check_image(elf: Path, flash: MemoryRegion, stack: MemoryRegion, data: MemoryRegion) -> None:
    """The image starts at the flash origin with the vector table: initial SP at the top of a stack that
    sits at the bottom of its region, reset vector into flash; .data and .bss inside their RAM."""
    syms = symbols(elf)
    assert syms["vector_table"] == flash.origin
    image = elf.with_suffix(".bin").read_bytes()
    sp, reset = (int(v) for v in np.frombuffer(image[:8], dtype="<u4"))
    assert sp == syms["__stack_top"] == syms["__stack_start"] + 16384
    assert syms["__stack_start"] == stack.origin and sp <= stack.origin + stack.size
    assert reset == syms["Reset_Handler"] | 1 and flash.origin < reset < flash.origin + flash.size
    for name in ("__data_start", "__data_end", "__bss_start", "__bss_end"):
        assert data.origin <= syms[name] <= data.origin + data.size, name
    if stack != data:
        assert syms["__data_start"] == data.origin
    else:
        assert syms["__data_start"] >= syms["__stack_top"]
    assert flash.origin <= syms["__data_load"] < flash.origin + flash.size


@pytest.mark.parametrize("name", STM32_BOARDS)
def test_real_board_firmware_is_linked_for_the_board(builds: dict[str, BuildResult], name: str) -> None:
    result = builds[name]
    d = layer_json(name)
    stack, data = stack_and_data_regions(d["memory"])
    check_image(result.out / "firmware.elf", region(d["memory"]["flash"]), stack, data)
    assert (result.out / "firmware.hex").read_text().startswith(":020000040800")  # upper address 0x0800
    report = json.loads((result.out / "report.json").read_text())
    assert report["board"] == name and report["sram_board_bytes"] == data.size
    syms = symbols(result.out / "firmware.elf")
    assert {"board_init", "stm32_console_init", "stm32_timer_init", "SysTick_Handler"} <= set(syms)
    assert ("stm32f7_clock_216mhz" in syms) == name.endswith(("f746", "f746ng", "f767zi"))
    # The Cortex-M7 layers turn the L1 caches on (cm7_caches_enable, inlined: its barriers); the M4 has none.
    disassembly = subprocess.run(["arm-none-eabi-objdump", "-d", str(result.out / "firmware.elf")],
                                 capture_output=True, text=True, check=True).stdout
    board_init = disassembly.split("<board_init>:", 1)[1].split("\n\n", 1)[0]
    barriers = len(re.findall(r"\bdsb\b", board_init))
    assert barriers >= 4 if result.board.core == "cortex-m7" else barriers == 0


def test_mps2plus_firmware_is_the_image_the_emulator_runs(builds: dict[str, BuildResult]) -> None:
    """Linked at 0x0 with the stack and arena in the 4 MB at 0x20000000; the MPS2 board API, no STM32 code; and
    firmware.bin, what the MCC loads, is byte for byte the image QEMU runs."""
    result = builds[MPS2_BOARD]
    d = layer_json(MPS2_BOARD)
    stack, data = stack_and_data_regions(d["memory"])
    check_image(result.out / "firmware.elf", region(d["memory"]["flash"]), stack, data)
    report = json.loads((result.out / "report.json").read_text())
    assert report["board"] == MPS2_BOARD and report["emulator"] == "mps2-an500"
    assert report["sram_board_bytes"] == report["flash_board_bytes"] == 4 << 20
    syms = symbols(result.out / "firmware.elf")
    assert {"board_init", "board_uart_putc", "board_halt", "SysTick_Handler"} <= set(syms)
    assert not any(name.startswith(("stm32", "cm7_caches")) for name in syms)
    image = (result.out / "firmware.bin").read_bytes()
    assert image == (result.out / EMULATED_DIR / "firmware.bin").read_bytes()
    assert elf_attributes(result.out / "firmware.elf") == elf_attributes(result.out / EMULATED_DIR / "firmware.elf")


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_twin_firmware_is_linked_for_the_twin(builds: dict[str, BuildResult], name: str) -> None:
    result = builds[name]
    twin = layer_json(result.board.emulator_layer)
    stack, data = stack_and_data_regions(twin["memory"])
    check_image(result.out / EMULATED_DIR / "firmware.elf", region(twin["memory"]["flash"]), stack, data)


def elf_attributes(elf: Path) -> str:
    return subprocess.run(["arm-none-eabi-readelf", "-A", str(elf)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("name", REAL_BOARDS)
def test_board_and_twin_are_compiled_for_the_same_fpu(builds: dict[str, BuildResult], name: str) -> None:
    board = builds[name].board
    fp_arch = {"fpv5": "FPv5/FP-D16 for ARMv8", "fpv4": "VFPv4-D16"}[board.fpu.split("-")[0]]
    for elf in (builds[name].out / "firmware.elf", builds[name].out / EMULATED_DIR / "firmware.elf"):
        attrs = elf_attributes(elf)
        assert "Tag_CPU_arch: v7E-M" in attrs and f"Tag_FP_arch: {fp_arch}" in attrs
        assert "Tag_ABI_VFP_args: VFP registers" in attrs  # hard float
        single_only = "Tag_ABI_HardFP_use: SP only" in attrs
        assert single_only == ("-sp-" in board.fpu), attrs


@pytest.mark.parametrize("name", STM32_BOARDS)
def test_platformio_project(builds: dict[str, BuildResult], name: str) -> None:
    result = builds[name]
    out, board = result.out, result.board
    text = (out / "platformio.ini").read_text()
    assert text == platformio_ini(board)
    ini = configparser.ConfigParser()
    ini.read_string(text)
    env = ini[f"env:{name}"]
    assert env["platform"] == "ststm32" and env["board"] == PLATFORMIO_IDS[name]
    assert env["upload_protocol"] == "stlink" and env["build_unflags"] == "-Os"
    assert ini["platformio"]["src_dir"] == "."
    assert (out / env["board_build.ldscript"]).is_file() and (out / env["extra_scripts"]).is_file()
    filters = re.findall(r"\+<([^>]+)>", env["build_src_filter"])
    assert filters[:3] == ["model/", "mcu_runtime/", "firmware/"]
    assert filters[3:] == layer_sources(board.board_layer)
    for path in filters:
        assert (out / path).exists(), path
    includes = re.findall(r"-I(\S+)", env["build_flags"])
    assert {f"mcu_runtime/{group.name}" for group in runtime_groups()} <= set(includes)
    for path in includes:
        assert (out / path).is_dir(), path
    assert f"-Wl,--defsym=__stack_size={board.stack_bytes}" in env["build_flags"]
    assert "-ffp-contract=off" in env["build_flags"]  # bit-exact float paths need the same contraction rule

    # The extra script puts board.mk's CPU flags on the compile and the link lines.
    appended: dict[str, list[str]] = {}

    class FakeEnv:
        def subst(self, text: str) -> str:
            assert text == "$PROJECT_DIR"
            return str(out)

        def Append(self, **flags: list[str]) -> None:  # noqa: N802 -- SCons's name
            for key, value in flags.items():
                appended.setdefault(key, []).extend(value)

    fake = FakeEnv()
    code = compile((out / EXTRA_SCRIPT).read_text(), EXTRA_SCRIPT, "exec")
    exec(code, {"Import": lambda name: None, "env": fake, "__name__": "SCons.Script"})  # noqa: S102
    cpu = board.cpu_flags.split()
    assert appended["CCFLAGS"] == cpu and appended["ASFLAGS"] == cpu
    assert appended["LINKFLAGS"][: len(cpu)] == cpu and "--specs=nano.specs" in appended["LINKFLAGS"]


def test_mps2plus_platformio_file_defines_no_environment(builds: dict[str, BuildResult]) -> None:
    """No PlatformIO board exists in its board.json: the build's platformio.ini says so and how to load the image."""
    result = builds[MPS2_BOARD]
    text = (result.out / "platformio.ini").read_text()
    assert text == platformio_ini(result.board)
    ini = configparser.ConfigParser()
    ini.read_string(text)
    assert ini.sections() == []
    assert "names no PlatformIO board" in text and "images.txt" in text


# ---- the twins run real models -----------------------------------------------------------------------


def run_golden(elf: Path, machine: str, result: BuildResult, model: str, shared_models: Path) -> str:
    graph = result.compiled.graph
    out = graph.tensor(graph.outputs[0])
    with Emulator(elf, machine=machine) as emu:
        info = emu.link.expect_model(result.compiled.hash8, graph.name)
        for vector in TIER_AB[model]:
            data = np.load(shared_models / "vectors" / f"{vector}.npz")
            raw, stats = emu.link.infer([data[f"in{i}"] for i in range(len(graph.inputs))])
            got = np.frombuffer(raw[0], dtype=NUMPY_DTYPES[out.dtype]).reshape(data["out0"].shape)
            want = expected_output(vector, data["out0"])
            np.testing.assert_array_equal(got, want, err_msg=f"{vector} on {machine} vs TFLM")
            assert stats.ticks > 0 and 0 < stats.stack_high_water < stats.stack_bytes == 16384
    return info.board


@pytest.mark.emulator
@pytest.mark.parametrize("name", REAL_BOARDS)
def test_twin_runs_the_model_bit_exact(
    builds: dict[str, BuildResult], name: str, shared_models: Path
) -> None:
    result = builds[name]
    elf = result.out / EMULATED_DIR / "firmware.elf"
    reported = run_golden(elf, result.board.qemu_machine, result, MODEL, shared_models)
    assert reported == result.board.emulator_layer


@pytest.mark.emulator
def test_cortex_m4_twin_runs_a_conv_model_bit_exact(shared_models: Path, tmp_path: Path) -> None:
    board = load_board("nucleo-l4r5zi")
    result = build(shared_models / f"{M4_MODEL}.tflite", board, tmp_path / "m4", measure_run=False)
    kernels = {call.kernel for call in result.compiled.calls}
    assert any(k.startswith(("conv2d", "depthwise")) for k in kernels), kernels
    assert run_golden(tmp_path / "m4" / EMULATED_DIR / "firmware.elf", "mps2-an386", result, M4_MODEL,
                      shared_models) == "mps2-an386"


# ---- budgets ------------------------------------------------------------------------------------------


def memory_used(make_output: str) -> dict[str, int]:
    """Bytes used per region from ld's --print-memory-usage table."""
    units = {"B": 1, "KB": 1024, "MB": 1024 * 1024}
    return {m[1]: int(m[2]) * units[m[3]]
            for m in re.finditer(r"^\s*(\w+):\s+(\d+) (B|KB|MB)\s+\d+ (?:B|KB|MB)", make_output, re.M)}


@needs_arm_gcc
@pytest.mark.parametrize("layer", ["disco-f746ng", "mps2-an500", "nucleo-h743zi"])
def test_over_budget_model_fails_to_link_with_the_byte_count(tmp_path: Path, layer: str) -> None:
    """Grow the stub model's arena until it misses the layer's RAM by 1,024 bytes: the link must fail and
    say so to the byte (for the H743 the stack is in DTCM and does not count against RAM)."""
    tree = assemble_tree(tmp_path / layer, layer, arena_bytes=160_000)
    run = make(tree)
    assert run.returncode == 0, run.stderr[-2000:]
    ram = region(layer_json(layer)["memory"]["sram"])
    used = memory_used(run.stdout)["RAM"]
    grow = -(-(ram.size - used + 1024) // 16) * 16  # keep the arena's 16-byte granularity
    over = used + grow - ram.size
    tree = assemble_tree(tmp_path / layer, layer, arena_bytes=160_000 + grow)
    run = make(tree)
    assert run.returncode != 0 and not (tree / "firmware.elf").exists()
    assert f"region `RAM' overflowed by {over} bytes" in run.stderr, run.stderr[-2000:]
    # The same firmware fits the 512 KB of a NUCLEO-F767ZI.
    if ram.size < 512 * 1024:
        run = make(assemble_tree(tmp_path / "f767", "nucleo-f767zi", arena_bytes=160_000 + grow))
        assert run.returncode == 0, run.stderr[-2000:]


def _pad_model(path: Path, hw: int) -> Path:
    """PAD of a 1 x hw x hw x 4 int8 tensor: about 8 * hw^2 bytes of arena."""
    from codegen.frontend.tflite_writer import write_tflite
    from codegen.ir import Graph, Operator, Quantization, Tensor

    q = Quantization((0.02,), (0,))
    tensors = [
        Tensor(0, "x", (1, hw, hw, 4), "int8", q),
        Tensor(1, "pads", (4, 2), "int32", None, np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)),
        Tensor(2, "y", (1, hw + 2, hw + 2, 4), "int8", q),
    ]
    path.write_bytes(write_tflite(Graph(tensors, [Operator(0, "PAD", (0, 1), (2,))], (0,), (2,), name="pad")))
    return path


def test_build_refuses_a_model_too_big_for_the_board(tmp_path: Path) -> None:
    """~380 KB of activations: more than a 320 KB STM32F746 has, fine for a 512 KB STM32F767."""
    model = _pad_model(tmp_path / "pad.tflite", 216)
    with pytest.raises(BudgetError, match=r"\b3\d\d,\d{3} bytes") as failure:
        build(model, load_board("disco-f746ng"), tmp_path / "disco", measure_run=False)
    assert "327,680" in str(failure.value) and not (tmp_path / "disco").exists()
    f767 = load_board("nucleo-f767zi")
    compiled = compile_file(model, Target(f767.core), f767.sram.size)
    assert 327_680 < compiled.plan.arena_bytes < f767.sram.size


BIG_FC_IN, BIG_FC_OUT = 1536, 1600  # 2,457,600 bytes of int8 weights: more than the 2 MB of any STM32 here


def _big_fc_model(path: Path) -> Path:
    """One FULLY_CONNECTED layer, 1536 -> 1600, with random int8 weights (about 2.34 MB) and int32 biases; the
    output scale is set from the accumulator's spread so that most outputs are not saturated, which lets any
    wrong weight row show in the output."""
    from codegen.frontend.tflite_writer import write_tflite
    from codegen.ir import Graph, Operator, Quantization, Tensor

    rng = np.random.default_rng(2024)
    x_scale, w_scale, x_zp = 0.02, 0.001, 5
    weights = np.clip(np.rint(rng.normal(0.0, 30.0, size=(BIG_FC_OUT, BIG_FC_IN))), -127, 127).astype(np.int8)
    acc_std = np.sqrt(BIG_FC_IN) * np.sqrt(256.0**2 / 12.0 + x_zp**2) * 30.0
    bias = np.rint(rng.normal(0.0, acc_std / 4.0, size=BIG_FC_OUT)).astype(np.int32)
    out_scale = float(np.float32(4.0 * acc_std * x_scale * w_scale / 127.0))
    bias_scale = float(np.float32(np.float32(x_scale) * np.float32(w_scale)))
    tensors = [
        Tensor(0, "x", (1, BIG_FC_IN), "int8", Quantization((x_scale,), (x_zp,))),
        Tensor(1, "weights", (BIG_FC_OUT, BIG_FC_IN), "int8", Quantization((w_scale,), (0,)), weights),
        Tensor(2, "bias", (BIG_FC_OUT,), "int32", Quantization((bias_scale,), (0,)), bias),
        Tensor(3, "y", (1, BIG_FC_OUT), "int8", Quantization((out_scale,), (-2,))),
    ]
    op = Operator(0, "FULLY_CONNECTED", (0, 1, 2), (3,),
                  {"activation": "NONE", "weights_format": 0, "keep_num_dims": False})
    path.write_bytes(write_tflite(Graph(tensors, [op], (0,), (3,), name="big_fc")))
    return path


@pytest.mark.emulator
@needs_arm_gcc
def test_model_bigger_than_any_stm32_flash_runs_on_the_mps2plus(tmp_path: Path) -> None:
    """Over 2 MB of weights: the MPS2+ (4 MB of code SSRAM) links it, and one inference in QEMU equals the
    NumPy reference, so every weight row was really in the image the emulator loaded."""
    from codegen.frontend.tflite_reader import read_tflite
    from codegen.reference_executor import run_reference

    model = _big_fc_model(tmp_path / "big_fc.tflite")
    board = load_board(MPS2_BOARD)
    result = build(model, board, tmp_path / "b", measure_run=False)
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    biggest_stm32_flash = max(load_board(name).flash.size for name in STM32_BOARDS)
    assert biggest_stm32_flash == 2 << 20
    assert report["flash_weights_bytes"] >= BIG_FC_IN * BIG_FC_OUT > biggest_stm32_flash
    assert biggest_stm32_flash < report["flash_bytes"] <= board.flash.size
    assert (tmp_path / "b" / "firmware.bin").stat().st_size > biggest_stm32_flash
    graph = result.compiled.graph
    x = np.random.default_rng(7).integers(-128, 128, size=(1, BIG_FC_IN), endpoint=False).astype(np.int8)
    want = run_reference(read_tflite(model), [x])[0]
    assert np.count_nonzero((want > -128) & (want < 127)) > 0.9 * BIG_FC_OUT  # outputs mostly unsaturated
    with Emulator(tmp_path / "b" / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine) as emu:
        info = emu.link.expect_model(result.compiled.hash8, graph.name)
        raw, stats = emu.link.infer([x])
    assert info.board == MPS2_BOARD
    got = np.frombuffer(raw[0], dtype=np.int8).reshape(want.shape)
    np.testing.assert_array_equal(got, want, err_msg="MPS2+ firmware vs the NumPy reference")
    assert stats.ticks > 0 and 0 < stats.stack_high_water < stats.stack_bytes


def test_board_defaults_keep_the_old_fields_working() -> None:
    """tools.build and tools.run use these fields; the F746 keeps its original budget."""
    board: Board = load_board("nucleo-f746")
    assert board.flash == MemoryRegion(0x08000000, 1 << 20)
    assert board.sram == MemoryRegion(0x20000000, 320 << 10)
    assert (board.emulator_layer, board.qemu_machine, board.emulator_tick_unit) == (
        "mps2-an500", "mps2-an500", "instructions/40")
