"""`codegen flash`: the exact command for each tool and board, with and without a probe; the tool actually run
(fake pyocd/openocd/st-flash executables on PATH stand in for the hardware tools, at the process boundary);
which tool is picked; one-line errors with their exit codes."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from codegen.errors import CodegenError, DeviceError, ToolchainError
from codegen.targets.boards import list_boards, load_board
from tools.cli import main as cli_main
from tools.flash import (
    IMAGES,
    TOOLS,
    add_flash_parser,
    choose_tool,
    flash_argv,
    flash_command,
    probe_tools,
    tool_error,
)

# What each board is flashed with: (pyOCD target, OpenOCD board config).
EXPECTED = {
    "nucleo-f746": ("stm32f746zgtx", "board/st_nucleo_f7.cfg"),
    "disco-f746ng": ("stm32f746nghx", "board/stm32f746g-disco.cfg"),
    "nucleo-f767zi": ("stm32f767zi", "board/st_nucleo_f7.cfg"),
    "nucleo-h743zi": ("stm32h743xx", "board/st_nucleo_h743zi.cfg"),
    "nucleo-l4r5zi": ("stm32l4r5zitx", "board/st_nucleo_l4.cfg"),
}
# Boards no debug-probe tool writes: the MPS2+'s MCC loads the image from its USB drive at reset.
MASS_STORAGE_ONLY = {"mps2plus-an500"}

# A stand-in for a flashing tool: records its name, working directory and arguments (NUL-separated), prints
# what FAKE_OUTPUT says and exits with FAKE_EXIT. Shell built-ins only: PATH holds nothing but the fakes.
FAKE_TOOL = """#!/bin/sh
printf '%s\\0' "${0##*/}" "$PWD" "$@" > "$FAKE_LOG"
if [ -n "$FAKE_OUTPUT" ]; then printf '%s\\n' "$FAKE_OUTPUT" >&2; fi
exit "${FAKE_EXIT:-0}"
"""


def test_every_board_has_all_three_tools_or_none() -> None:
    boards = list_boards()
    assert {b.name for b in boards} == set(EXPECTED) | MASS_STORAGE_ONLY
    for board in boards:
        assert probe_tools(board) == ([] if board.name in MASS_STORAGE_ONLY else list(TOOLS)), board.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("probe", [None, "066DFF485550755187121723"])
def test_command_for_each_tool(name: str, probe: str | None) -> None:
    board = load_board(name)
    target, config = EXPECTED[name]
    with_probe = probe is not None
    assert flash_argv("pyocd", board, probe) == (
        ["pyocd", "flash", "-t", target] + (["-u", probe] if with_probe else []) + ["firmware.hex"])
    assert flash_argv("openocd", board, probe) == (
        ["openocd", "-f", config] + (["-c", f"adapter serial {probe}"] if with_probe else [])
        + ["-c", "program firmware.elf verify reset exit"])
    assert flash_argv("st-flash", board, probe) == (
        ["st-flash"] + (["--serial", probe] if with_probe else []) + ["--reset", "write", "firmware.bin",
                                                                       "0x08000000"])
    with pytest.raises(CodegenError, match="unknown flashing tool 'jlink'"):
        flash_argv("jlink", board, probe)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    """What `codegen build` leaves that flashing reads: report.json and the three images."""
    out = tmp_path / "build"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"model": "m", "board": "nucleo-h743zi"}))
    for i, image in enumerate(IMAGES.values()):
        (out / image).write_bytes(bytes(100 + i))
    return out


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH directory to put fake tools in; nothing else is on PATH."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "argv.log"))
    monkeypatch.delenv("FAKE_OUTPUT", raising=False)
    monkeypatch.delenv("FAKE_EXIT", raising=False)
    return path


def install(bin_dir: Path, *tools: str) -> None:
    for tool in tools:
        script = bin_dir / tool
        script.write_text(FAKE_TOOL)
        script.chmod(0o755)


def recorded(tmp_path: Path) -> list[str]:
    return (tmp_path / "argv.log").read_bytes().decode().split("\0")[:-1]


def args(build: Path, tool: str | None = None, probe: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(command="flash", build_dir=build, tool=tool, probe=probe)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("probe", [None, "0670FF3632"])
def test_flash_runs_the_tool_in_the_build_dir(tool: str, probe: str | None, build_dir: Path, fake_bin: Path,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(fake_bin, *TOOLS)
    assert flash_command(args(build_dir, tool, probe)) == 0
    name, cwd, *argv = recorded(tmp_path)
    assert name == tool and Path(cwd) == build_dir.resolve()
    assert [tool, *argv] == flash_argv(tool, load_board("nucleo-h743zi"), probe)
    out = capsys.readouterr().out
    size = (build_dir / IMAGES[tool]).stat().st_size
    assert out == f"flashed {build_dir / IMAGES[tool]} ({size:,} bytes) with {tool}" + (
        f", probe {probe}" if probe else "") + "\n"


@pytest.mark.parametrize(("installed", "picked"), [
    (("pyocd", "openocd", "st-flash"), "pyocd"),
    (("openocd", "st-flash"), "openocd"),
    (("st-flash",), "st-flash"),
    (("pyocd", "st-flash"), "pyocd"),
])
def test_first_installed_tool_is_picked(installed: tuple[str, ...], picked: str, build_dir: Path,
                                        fake_bin: Path, tmp_path: Path) -> None:
    install(fake_bin, *installed)
    assert choose_tool() == (picked, str(fake_bin / picked))
    assert flash_command(args(build_dir)) == 0
    assert recorded(tmp_path)[0] == picked


def test_no_tool_installed(build_dir: Path, fake_bin: Path) -> None:
    with pytest.raises(ToolchainError) as failure:
        flash_command(args(build_dir))
    assert failure.value.exit_code == 4
    assert str(failure.value) == (
        "no flashing tool found on PATH (pyocd, openocd or st-flash): install one with "
        "pip install pyocd / apt-get install openocd / apt-get install stlink-tools")
    install(fake_bin, "pyocd")  # --tool insists on one tool
    for tool, hint in (("openocd", "apt-get install openocd"), ("st-flash", "apt-get install stlink-tools")):
        with pytest.raises(ToolchainError, match=f"^{tool} not found on PATH: {hint}$") as failure:
            flash_command(args(build_dir, tool))
        assert failure.value.exit_code == 4


def test_tool_failure_is_one_line_with_the_tools_error(build_dir: Path, fake_bin: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    install(fake_bin, "openocd")
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("FAKE_OUTPUT", "Open On-Chip Debugger 0.12.0\nInfo : clock speed 2000 kHz\n"
                                      "Error: open failed\nin procedure 'program'")
    with pytest.raises(DeviceError) as failure:
        flash_command(args(build_dir))
    assert failure.value.exit_code == 5
    assert str(failure.value) == "openocd failed (exit status 1): Error: open failed"


def test_pyocd_without_the_target_pack_says_how_to_add_it(fake_bin: Path, build_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (build_dir / "report.json").write_text(json.dumps({"board": "nucleo-f746"}))
    install(fake_bin, "pyocd")
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("FAKE_OUTPUT", "0000554 C Target type stm32f746zgtx not recognized. Use 'pyocd list "
                                      "--targets' to see currently available target types. [__main__]")
    with pytest.raises(DeviceError, match=r"pyocd pack install stm32f746zg`$"):
        flash_command(args(build_dir))


def test_not_a_build_directory(tmp_path: Path, fake_bin: Path) -> None:
    install(fake_bin, *TOOLS)
    with pytest.raises(CodegenError, match="is not a directory") as failure:
        flash_command(args(tmp_path / "nowhere"))
    assert failure.value.exit_code == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CodegenError, match=r"is not a codegen build directory \(no report.json\)"):
        flash_command(args(empty))
    (empty / "report.json").write_text("{not json")
    with pytest.raises(CodegenError, match="report.json is unreadable"):
        flash_command(args(empty))
    (empty / "report.json").write_text(json.dumps({"model": "m"}))
    with pytest.raises(CodegenError, match="report.json names no board"):
        flash_command(args(empty))
    (empty / "report.json").write_text(json.dumps({"board": "mps2-an500"}))  # a twin is not a board
    with pytest.raises(CodegenError, match="unknown board 'mps2-an500'"):
        flash_command(args(empty))
    assert not (tmp_path / "argv.log").exists()  # no tool was run


@pytest.mark.parametrize("tool", [None, *TOOLS])
def test_mps2plus_build_says_how_to_load_it(tool: str | None, build_dir: Path, fake_bin: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """With every tool installed, `codegen flash` on an MPS2+ build runs none of them: one line, exit 1, saying
    where the image goes (the SOFTWARE folder of the MCC's USB drive, named in AN500's images.txt)."""
    install(fake_bin, *TOOLS)
    (build_dir / "report.json").write_text(json.dumps({"model": "m", "board": "mps2plus-an500"}))
    with pytest.raises(CodegenError) as failure:
        flash_command(args(build_dir, tool))
    assert type(failure.value) is CodegenError and failure.value.exit_code == 1
    message = str(failure.value)
    assert message.startswith("board mps2plus-an500 cannot be flashed with pyocd, openocd or st-flash; load "
                              f"{build_dir / 'firmware.bin'} by hand: copy firmware.bin to the SOFTWARE folder")
    assert "MB/HBI0263C/AN500/images.txt" in message and "IMAGE0ADDRESS: 0x00000000" in message
    assert "\n" not in message and failure.value.lines() == [message]
    assert not (tmp_path / "argv.log").exists()  # no tool was run
    argv = ["flash", str(build_dir), *(["--tool", tool] if tool else [])]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"codegen: {message}\n"
    assert not (tmp_path / "argv.log").exists()
    for name in TOOLS:  # asking for the command directly gives the same answer
        with pytest.raises(CodegenError, match="cannot be flashed with pyocd, openocd or st-flash"):
            flash_argv(name, load_board("mps2plus-an500"))


def test_missing_image(build_dir: Path, fake_bin: Path, tmp_path: Path) -> None:
    install(fake_bin, *TOOLS)
    (build_dir / "firmware.hex").unlink()
    with pytest.raises(CodegenError, match=r"firmware.hex is missing: rebuild with `codegen build --board "
                                           r"nucleo-h743zi`"):
        flash_command(args(build_dir, "pyocd"))
    assert not (tmp_path / "argv.log").exists()
    assert flash_command(args(build_dir, "openocd")) == 0  # the .elf is still there


def test_parser() -> None:
    parser = argparse.ArgumentParser(prog="codegen")
    sub = parser.add_subparsers(dest="command", required=True)
    add_flash_parser(sub)
    parsed = parser.parse_args(["flash", "build", "--tool", "st-flash", "--probe", "ABC"])
    assert (parsed.build_dir, parsed.tool, parsed.probe) == (Path("build"), "st-flash", "ABC")
    parsed = parser.parse_args(["flash", "out"])
    assert (parsed.tool, parsed.probe) == (None, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["flash", "out", "--tool", "jlink"])


def test_tool_error_line() -> None:
    assert tool_error("a\nError: first\nb\nERROR: last one\n\n") == "ERROR: last one"
    assert tool_error("no problem words\nfinal line  \n") == "final line"
    assert tool_error("\n \n") == "(no output)"
    assert len(tool_error("error " + "x" * 1000)) == 300


def test_fake_tool_is_a_real_process(fake_bin: Path, tmp_path: Path) -> None:
    """The stand-ins are executables on PATH, found the way the real tools would be."""
    install(fake_bin, "st-flash")
    assert os.access(fake_bin / "st-flash", os.X_OK)
    assert choose_tool("st-flash") == ("st-flash", str(fake_bin / "st-flash"))
