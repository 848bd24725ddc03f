"""User-facing errors. Each carries the process exit code the CLI returns for it."""

from __future__ import annotations


class CodegenError(Exception):
    """An error the user can act on; the CLI prints it as one line per problem, never a traceback."""

    exit_code = 1

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []

    def lines(self) -> list[str]:
        """The message and each problem on one line: names read from a model (tensors, custom ops) may hold
        line breaks or control characters, printed here as '?'."""
        return [_printable(str(self))] + [f"  {_printable(p)}" for p in self.problems]


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class ModelError(CodegenError):
    """The model file is malformed, or uses something the compiler does not support."""

    exit_code = 2


class BudgetError(CodegenError):
    """The model does not fit the board or the requested SRAM budget."""

    exit_code = 3


class RegionOverflow(BudgetError):
    """The linker's region check failed: `regions` maps each memory region (FLASH, RAM) to the bytes it is over."""

    def __init__(self, message: str, regions: dict[str, int]):
        super().__init__(message)
        self.regions = regions


class ToolchainError(CodegenError):
    """A required external program (compiler, emulator) is missing or failed."""

    exit_code = 4


class DeviceError(CodegenError):
    """The board or emulator did not answer as the protocol requires."""

    exit_code = 5
