from __future__ import annotations

import os
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow (minutes each, covered in part by faster ones) run only with CODEGEN_SLOW_TESTS=1."""
    if os.environ.get("CODEGEN_SLOW_TESTS"):
        return
    skip = pytest.mark.skip(reason="slow: set CODEGEN_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
