"""One SEANet int16x8 model per operator folder (../shared/models/tflm_seanet/<op>/), built into firmware for
nucleo-f746's emulated twin and run in QEMU: the output equals TFLM's golden output bit for bit.

The models share one twin build tree (tests/support/twin_firmware.py): the kernel library and firmware are
compiled once, each model only recompiles model/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codegen.pipeline import compile_file
from codegen.targets.boards import load_board
from codegen.targets.core import Target
from tests.support.twin_firmware import TwinFirmware

# The first model of each folder (every SEANet convolution has an int64 bias; sub0 broadcasts), plus
# quantize1, the other QUANTIZE direction (int16 -> int32; quantize0 is int32 -> int16).
MODELS = ("add/add0", "conv/conv0", "leaky_relu/leaky_relu0", "pad/pad0", "quantize/quantize0",
          "quantize/quantize1", "strided_slice/strided_slice0", "sub/sub0", "transpose_conv/transpose_conv0")


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> TwinFirmware:
    return TwinFirmware(tmp_path_factory.mktemp("seanet_twin"), load_board("nucleo-f746"))


@pytest.mark.emulator
@pytest.mark.parametrize("name", MODELS)
def test_seanet_firmware_is_bit_exact_with_tflm(name: str, shared_models: Path, twin: TwinFirmware):
    path = shared_models / "tflm_seanet" / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    compiled = compile_file(path, Target(twin.board.core))
    data = np.load(path.with_suffix(".npz"))
    (got,) = twin.run(compiled, [data[f"in{i}"] for i in range(len(compiled.graph.inputs))])
    assert got.dtype == data["out0"].dtype
    np.testing.assert_array_equal(got.reshape(data["out0"].shape), data["out0"],
                                  err_msg=f"{name}: firmware differs from TFLM")
