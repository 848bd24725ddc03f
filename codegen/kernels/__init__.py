"""The kernel catalogue: which op types lower to which mcu_runtime kernels, and their NumPy references."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from codegen.kernels import pad

# One module per kernel family; add a family here and nowhere else.
FAMILIES: tuple[ModuleType, ...] = (pad,)

LOWERINGS: dict[str, Callable] = {op: fn for m in FAMILIES for op, fn in m.LOWERINGS.items()}
REFERENCES: dict[str, Callable] = {k: fn for m in FAMILIES for k, fn in m.REFERENCES.items()}
HEADERS: dict[str, str] = {k: m.HEADER for m in FAMILIES for k in m.REFERENCES}
