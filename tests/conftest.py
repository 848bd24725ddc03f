from __future__ import annotations

from pathlib import Path

import pytest

from tools.host_runtime import HostRuntime

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


@pytest.fixture(scope="session")
def host_runtime() -> HostRuntime:
    """mcu_runtime compiled for the host (x86-64) and loaded through ctypes."""
    return HostRuntime()


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"shared models folder {SHARED_MODELS} is absent")
    return SHARED_MODELS
