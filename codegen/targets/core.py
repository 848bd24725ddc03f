"""What the generated code runs on: decides which kernel variants the specialisation pass may choose."""

from __future__ import annotations

from dataclasses import dataclass

# Cores with the DSP extension (SIMD MACs such as SMLAD, SXTB16).
_DSP_CORES = {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"}


@dataclass(frozen=True)
class Target:
    core: str  # e.g. "cortex-m7"; "host" for the host build used by the tests

    @property
    def dsp(self) -> bool:
        """Fast kernels are chosen when true. On the host they run on the portable intrinsic emulation."""
        return self.core in _DSP_CORES or self.core == "host"


PORTABLE = Target("portable")  # no DSP: the portable C kernels only
HOST = Target("host")
