"""PlatformIO extra script for a codegen build directory (its platformio.ini names it in extra_scripts).

PlatformIO gives build_flags to the compiler only (bar -Wl, options), but the linker needs the same CPU and
float-ABI flags to pick the right newlib and libgcc, and a bare-metal link needs newlib-nano without crt0.
The flags are read from board/board.mk, the file the firmware Makefile uses, so both builds agree.
"""

import re
from pathlib import Path
from typing import Any


def configure(env: Any) -> None:
    """`env`: PlatformIO's SCons construction environment."""
    board_mk = Path(env.subst("$PROJECT_DIR")) / "board" / "board.mk"
    match = re.search(r"^CPU_FLAGS\s*\??=\s*(.*)$", board_mk.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"{board_mk}: no CPU_FLAGS line")
    cpu_flags = match[1].split()
    env.Append(CCFLAGS=cpu_flags, ASFLAGS=cpu_flags,
               LINKFLAGS=[*cpu_flags, "--specs=nano.specs", "-nostartfiles"])


Import("env")  # noqa: F821 -- SCons puts Import() and env in the script's namespace
configure(env)  # noqa: F821
