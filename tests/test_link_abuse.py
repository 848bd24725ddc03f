"""The host side under abuse (issue 18): a device that breaks the protocol's rules (a real socket peer), the
real firmware in QEMU given requests it must refuse, and broken build folders, each through the real
`codegen` command where the user would meet it: one line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import DeviceError
from tests.test_eval import argmax_model
from tests.test_firmware_stub import build_stub_firmware
from tools import protocol as proto
from tools.device_link import DeviceLink, model_hash
from tools.emulator import Emulator
from tools.protocol import DeviceInfo, ErrorCode, Frame, MsgType

REPO = Path(__file__).resolve().parents[1]

needs_toolchain = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


def run_codegen(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *phrases: str) -> str:
    """The one `codegen:` line of a failed run; checks the exit code, the phrases and that nothing else leaked."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("codegen: ")]
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# ---- the real firmware refuses a HELLO with a payload (PROTOCOL.md: HELLO has none) ---------------------------


@pytest.fixture(scope="module")
def stub_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    return build_stub_firmware(tmp_path_factory.mktemp("fw") / "mps2")


@pytest.mark.emulator
def test_firmware_refuses_hello_with_a_payload_like_invoke(stub_elf: Path) -> None:
    with Emulator(stub_elf, link_options={"timeout": 3.0}) as emu:
        link = emu.link
        for msg_type, what in ((MsgType.HELLO, "HELLO"), (MsgType.INVOKE, "INVOKE")):
            with pytest.raises(DeviceError, match=f"refused {what} .*: BAD_PAYLOAD: {what} takes no payload"):
                link.request(msg_type, b"\x00")
        assert link.hello().model_name == "stub"  # a HELLO without payload is still answered
