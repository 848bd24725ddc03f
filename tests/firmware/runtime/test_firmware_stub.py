"""Firmware template + board layers, built with the real arm-none-eabi-gcc around a hand-written stub model
(tests/firmware/runtime/fixtures/stub_model), run in QEMU (the emulated twin) through the framed protocol.

The stub's function (see its model.h): out0[i] = (in0[i] ^ W[i % 16]) + in1[i % 300] (mod 256), out1 = the
u32 sums of in0 and of in1; in0 is 76,800 bytes so the input must be chunked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import DeviceError
from codegen.paths import BOARDS_DIR, FIRMWARE_DIR, RUNTIME_DIR, runtime_headers, runtime_source
from tools.link import protocol as proto
from tools.link.device_link import check_model
from tools.link.emulator import Emulator, check_machine_memory

STUB_DIR = Path(__file__).resolve().parent / "fixtures" / "stub_model"
STUB_HASH = bytes.fromhex("5e1f00d1c0de1234")
STUB_WEIGHTS = np.array([0x11 * k for k in range(16)], dtype=np.uint8)
IN0_BYTES, IN1_BYTES = 76800, 300

needs_arm_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc missing")


def assemble_tree(
    out: Path,
    board_layer: str,
    *,
    arena_bytes: int | None = None,
    weight_bytes: int | None = None,
    scratch_bytes: int | None = None,
    fault: bool = False,
    heap: bool = False,
) -> Path:
    """Lay out a self-contained firmware tree as the lead's `codegen build` does (see firmware/Makefile).

    Only the committed PAD kernel of mcu_runtime is copied: the stub model calls no kernel, and kernels that
    other people are editing right now must not break these tests.
    """
    if out.exists():
        shutil.rmtree(out)
    for sub in ("model", "mcu_runtime", "firmware", "board"):
        (out / sub).mkdir(parents=True)
    shutil.copy(FIRMWARE_DIR / "Makefile", out / "Makefile")
    for path in FIRMWARE_DIR.iterdir():
        if path.suffix in (".c", ".h"):
            shutil.copy(path, out / "firmware")
    for path in [*(BOARDS_DIR / "common").iterdir(), *(BOARDS_DIR / board_layer).iterdir()]:
        shutil.copy(path, out / "board")
    for path in [*runtime_headers(), runtime_source("pad_s8.c")]:
        group = out / path.relative_to(RUNTIME_DIR).parent
        group.mkdir(exist_ok=True)
        shutil.copy(path, group)

    header = (STUB_DIR / "model.h").read_text()
    source = (STUB_DIR / "model.c").read_text()
    if arena_bytes is not None:
        header = _set_define(header, "MODEL_ARENA_BYTES", str(arena_bytes))
    if weight_bytes is not None:
        source = _set_define(source, "STUB_WEIGHT_BYTES", f"{weight_bytes}u")
    if scratch_bytes is not None:
        source = _set_define(source, "STUB_SCRATCH_BYTES", f"{scratch_bytes}u")
    if fault:  # an undefined instruction inside model_invoke
        source = source.replace("    put_u32(out1, sum0);", '    __asm__ volatile("udf #0");\n    put_u32(out1, sum0);')
    if heap:  # a model that wants malloc
        call = "    stub_heap = malloc(sum0);\n    put_u32(out1, sum0);"
        source = source.replace("    put_u32(out1, sum0);", call)
        source = "#include <stdlib.h>\nstatic void *volatile stub_heap;\n" + source
    (out / "model" / "model.h").write_text(header)
    (out / "model" / "model.c").write_text(source)
    return out


def _set_define(text: str, name: str, value: str) -> str:
    new, count = re.subn(rf"^#define {name} \S+", f"#define {name} {value}", text, flags=re.M)
    assert count == 1, name
    return new


def make(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(tree), "-j4", *args], capture_output=True, text=True, timeout=120)


def build(tree: Path, *args: str) -> Path:
    run = make(tree, *args)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return tree / "firmware.elf"


def build_stub_firmware(out: Path, board_layer: str = "mps2-an500", **variant: int | bool) -> Path:
    return build(assemble_tree(out, board_layer, **variant))  # type: ignore[arg-type]


def stub_function(in0: np.ndarray, in1: np.ndarray) -> list[bytes]:
    i = np.arange(IN0_BYTES)
    out0 = ((in0 ^ STUB_WEIGHTS[i % 16]).astype(np.uint32) + in1[i % IN1_BYTES]).astype(np.uint8)
    out1 = np.array([int(in0.sum()), int(in1.sum())], dtype="<u4")
    return [out0.tobytes(), out1.tobytes()]


def symbols(elf: Path) -> dict[str, int]:
    run = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True)
    return {parts[2]: int(parts[0], 16) for line in run.stdout.splitlines() if len(parts := line.split()) == 3}


@pytest.fixture(scope="module")
def emulated_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc missing")
    return build_stub_firmware(tmp_path_factory.mktemp("fw") / "mps2")


# ---- declarative board description vs. what is built ------------------------------------------------


def _ld_memory(path: Path) -> dict[str, tuple[int, int]]:
    regions = {}
    pattern = r"(\w+)\s+\(\w+\)\s*: ORIGIN = (0x[0-9A-Fa-f]+), LENGTH = (\d+)K"
    for name, origin, length in re.findall(pattern, path.read_text()):
        regions[name] = (int(origin, 16), int(length) * 1024)
    return regions


def _cpu_flags(board: dict) -> str:
    return f"-mcpu={board['core']} -mthumb -mfpu={board['fpu']} -mfloat-abi={board['float_abi']}"


@pytest.mark.parametrize("layer", ["nucleo-f746", "mps2-an500"])
def test_board_json_matches_linker_script_and_flags(layer: str) -> None:
    board = json.loads((BOARDS_DIR / layer / "board.json").read_text())
    memory = _ld_memory(BOARDS_DIR / layer / "board.ld")
    for json_name, ld_name in (("flash", "FLASH"), ("sram", "RAM")):
        region = board["memory"][json_name]
        assert memory[ld_name] == (int(region["origin"], 16), region["size"])
    mk = (BOARDS_DIR / layer / "board.mk").read_text()
    assert re.search(r"^CPU_FLAGS \?= (.*)$", mk, re.M)[1] == _cpu_flags(board)


def test_emulated_twin_has_the_board_budget() -> None:
    board = json.loads((BOARDS_DIR / "nucleo-f746" / "board.json").read_text())
    twin = json.loads((BOARDS_DIR / board["emulator"]["board_layer"] / "board.json").read_text())
    assert twin["twin_of"] == board["name"]
    assert twin["qemu"]["machine"] == board["emulator"]["qemu_machine"]
    for kind in ("flash", "sram"):
        assert twin["memory"][kind]["size"] == board["memory"][kind]["size"]
        assert twin["memory"][kind] == board["emulator"][kind]
    assert _cpu_flags(twin) == _cpu_flags(board)


def test_protocol_constants_match_c_header() -> None:
    header = (FIRMWARE_DIR / "protocol.h").read_text()
    defines = {m[1]: int(m[2], 0) for m in re.finditer(r"^#define PROTO_(\w+) (0x[0-9A-Fa-f]+|\d+)u?\b", header, re.M)}
    expected = {
        "VERSION": proto.VERSION,
        "SYNC0": proto.SYNC[0],
        "SYNC1": proto.SYNC[1],
        "HEADER_BYTES": proto.HEADER_BYTES,
        "CRC_BYTES": proto.CRC_BYTES,
        "MAX_PAYLOAD": proto.MAX_PAYLOAD,
        **{t.name: t.value for t in proto.MsgType},
        **{f"ERR_{e.name}": e.value for e in proto.ErrorCode},
        **{f"STATUS_{s.name}": s.value for s in proto.Status},
    }
    assert defines == expected


@pytest.mark.emulator
def test_qemu_machine_ram_covers_the_board_memory() -> None:
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm missing")
    twin = json.loads((BOARDS_DIR / "mps2-an500" / "board.json").read_text())
    for kind in ("flash", "sram"):
        region = twin["memory"][kind]
        check_machine_memory(twin["qemu"]["machine"], int(region["origin"], 16), region["size"])


# ---- the real board ------------------------------------------------------------------------------------


@needs_arm_gcc
def test_real_board_firmware_links_at_flash_origin(tmp_path: Path) -> None:
    elf = build_stub_firmware(tmp_path / "nucleo", "nucleo-f746")
    syms = symbols(elf)
    assert syms["vector_table"] == 0x08000000
    assert syms["__stack_start"] == 0x20000000 and syms["__stack_top"] == 0x20000000 + 16384
    assert 0x08000000 < syms["Reset_Handler"] < 0x08100000
    assert syms["board_init"] and "SysTick_Handler" in syms
    # The image starts with the vector table: initial SP, then Reset_Handler with the Thumb bit.
    image = (tmp_path / "nucleo" / "firmware.bin").read_bytes()
    sp, reset = np.frombuffer(image[:8], dtype="<u4")
    assert sp == syms["__stack_top"] and reset == syms["Reset_Handler"] | 1
    assert (tmp_path / "nucleo" / "firmware.hex").read_text().startswith(":02000004080")  # upper address 0x0800
    size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sections = {p[0]: (int(p[1]), int(p[2])) for line in size.stdout.splitlines() if len(p := line.split()) == 3
                and p[1].isdigit()}
    assert sections[".isr_vector"][1] == 0x08000000
    assert sections[".text"][1] < 0x08100000 and sections[".bss"][1] >= 0x20000000 + 16384
    assert "region" not in make(tmp_path / "nucleo").stderr


@needs_arm_gcc
@pytest.mark.parametrize(
    ("variant", "region"),
    [
        ({"arena_bytes": 400 * 1024}, "RAM"),
        ({"weight_bytes": 1100 * 1024}, "FLASH"),
    ],
)
def test_over_budget_model_fails_to_link(tmp_path: Path, variant: dict, region: str) -> None:
    tree = assemble_tree(tmp_path / "over", "mps2-an500", **variant)
    run = make(tree)
    assert run.returncode != 0
    assert f"region `{region}' overflowed by" in run.stderr
    assert not (tree / "firmware.elf").exists()


@needs_arm_gcc
def test_heap_use_fails_to_link(tmp_path: Path) -> None:
    run = make(assemble_tree(tmp_path / "heap", "mps2-an500", heap=True))
    assert run.returncode != 0 and "undefined reference to `_sbrk'" in run.stderr


@needs_arm_gcc
def test_stack_reservation_is_configurable_and_counts_against_ram(tmp_path: Path) -> None:
    tree = assemble_tree(tmp_path / "stack", "mps2-an500")
    syms = symbols(build(tree, "STACK_SIZE=32768"))
    assert syms["__stack_top"] - syms["__stack_start"] == 32768
    # 320 KB RAM - 153,908-byte arena: a 200 KB stack no longer fits.
    make(tree, "clean")
    run = make(tree, "STACK_SIZE=204800")
    assert run.returncode != 0 and "region `RAM' overflowed by" in run.stderr


# ---- the emulated twin ---------------------------------------------------------------------------------


def _run_stub(elf: Path, in1: np.ndarray) -> tuple[list[bytes], proto.InvokeResult]:
    """Run the stub with in0 left at its zero-initialised state (uploading 75 KB takes QEMU ~3 s)."""
    with Emulator(elf) as emu:
        emu.link.write_input(1, in1.tobytes())
        result = emu.link.invoke()
        again = emu.link.invoke()  # same inputs, same instruction count
        assert again == result
        return [emu.link.read_output(0), emu.link.read_output(1)], result


@pytest.mark.emulator
def test_stub_model_runs_in_emulator(emulated_elf: Path) -> None:
    rng = np.random.default_rng(7)
    in0 = rng.integers(0, 256, IN0_BYTES, dtype=np.uint8)
    in1 = rng.integers(0, 256, IN1_BYTES, dtype=np.uint8)
    with Emulator(emulated_elf) as emu:
        info = emu.link.hello()
        assert (info.board, info.model_name, info.tick_unit) == ("mps2-an500", "stub", "instructions/40")
        assert info.input_bytes == (IN0_BYTES, IN1_BYTES) and info.output_bytes == (IN0_BYTES, 8)
        assert info.arena_bytes == 153908 and info.stack_bytes == 16384 and info.firmware_version
        check_model(info, STUB_HASH)
        with pytest.raises(DeviceError, match=r"firmware runs model stub hash 5e1f00d1c0de1234, expected net "
                                              r"hash 0000000000000000"):
            check_model(info, bytes(8), "net")

        outputs, stats = emu.link.infer([in0, in1])
        assert outputs == stub_function(in0, in1)
        # ~14 instructions per byte of in0, 40 instructions per tick.
        assert 10 * IN0_BYTES / 40 < stats.ticks < 40 * IN0_BYTES / 40
        # model_invoke's 2 KB scratch array, plus the firmware's frames; well inside the reservation.
        assert 2048 < stats.stack_high_water < stats.stack_bytes == 16384
        assert stats.retransmissions == 0

        # Partial reads at odd offsets.
        assert emu.link.read_output(0, 1500, offset=999) == outputs[0][999:2499]


@pytest.mark.emulator
def test_timing_is_deterministic_across_runs(emulated_elf: Path) -> None:
    in1 = np.random.default_rng(8).integers(0, 256, IN1_BYTES, dtype=np.uint8)
    first = _run_stub(emulated_elf, in1)
    second = _run_stub(emulated_elf, in1)
    assert first == second
    assert first[0] == stub_function(np.zeros(IN0_BYTES, np.uint8), in1)
    assert first[1].ticks > 0 and first[1].status == proto.Status.OK


@pytest.mark.emulator
def test_stack_overflow_is_reported(tmp_path: Path) -> None:
    elf = build_stub_firmware(tmp_path / "deep", scratch_bytes=20000)  # more than the 16 KB stack
    with Emulator(elf) as emu:
        emu.link.write_input(1, bytes(range(256)) + bytes(44))
        result = emu.link.invoke()
        assert result.status == proto.Status.STACK_OVERFLOW and result.stack_high_water == 16384


@pytest.mark.emulator
def test_cpu_fault_is_reported_and_ends_the_emulator(tmp_path: Path) -> None:
    elf = build_stub_firmware(tmp_path / "fault", fault=True)
    with Emulator(elf) as emu:
        emu.link.hello()
        with pytest.raises(DeviceError, match=r"crashed during INVOKE \(seq \d+\): CPU fault: HardFault"):
            emu.link.invoke()
        emu.process.wait(timeout=10)
        assert emu.exit_code() == 1  # semihosting exit from board_halt()
