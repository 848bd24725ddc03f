"""The low-bit kernels in firmware on the emulated Cortex-M7 (QEMU mps2-an500, real SMLAD/SXTB16): a chain of
every kernel and format (an 8-bit image into 4-bit codes, 4 -> 2, a depthwise 2 -> 4, 4 -> 4 with an odd
channel count, 4 -> int8; channel counts that do and do not fill whole groups of four, an odd pixel count) run
through the firmware equals the NumPy references, which test_kernel_lowbit.py checks against the int8
references."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels import REFERENCES
from codegen.pipeline import compile_file
from codegen.quantize.mixed_precision import low_bit_format
from codegen.targets.boards import load_board
from codegen.targets.core import PORTABLE
from scripts.lowbit.firmware import build_firmware, low_bit_model, run_firmware
from tests.support.model_factory import GraphBuilder, f32, per_tensor


def _chain() -> tuple[Graph, dict]:
    rng = np.random.default_rng(11)
    b = GraphBuilder("lowbit_chain")
    zps = (-100, -90, -120, -80, -70, 5)
    maps = [b.tensor("input", (1, 10, 10, 3), "int8", per_tensor(0.05, zps[0]))]
    layers = (("CONV_2D", 3, 8, 2), ("CONV_2D", 1, 12, 1), ("DEPTHWISE_CONV_2D", 3, 12, 1), ("CONV_2D", 1, 7, 1),
              ("CONV_2D", 1, 6, 1))
    for i, (op, k, out_c, stride) in enumerate(layers):
        x = maps[-1]
        n, h, w, in_c = b.shape(x)
        depthwise = op == "DEPTHWISE_CONV_2D"
        shape = (1, k, k, out_c) if depthwise else (out_c, k, k, in_c)
        scales = tuple(f32(s) * (-1 if c == 1 else 1) for c, s in enumerate(rng.uniform(0.005, 0.02, out_c)))
        filt = b.tensor(f"w{i}", shape, "int8", Quantization(scales, (0,) * out_c, 3 if depthwise else 0),
                        rng.integers(-127, 128, size=shape))
        bias = b.tensor(f"b{i}", (out_c,), "int32", None, rng.integers(-500, 500, size=out_c))
        y = b.tensor(f"y{i}", (n, -(-h // stride), -(-w // stride), out_c), "int8", per_tensor(0.1, zps[i + 1]))
        options = dict(padding="SAME", stride_h=stride, stride_w=stride, dilation_h=1, dilation_w=1,
                       activation="RELU" if i % 2 else "NONE")
        if depthwise:
            options["depth_multiplier"] = 1
        b.op(op, (x, filt, bias), (y,), **options)
        maps.append(y)
    formats = {maps[1]: low_bit_format(4, zps[1], -60), maps[2]: low_bit_format(2, zps[2], -100),
               maps[3]: low_bit_format(4, zps[3], -40), maps[4]: low_bit_format(4, zps[4], -30)}
    return b.build((maps[0],), (maps[-1],)), formats


def test_firmware_lowbit_chain_matches_reference(tmp_path: Path) -> None:
    graph, formats = _chain()
    path = tmp_path / "chain.tflite"
    path.write_bytes(write_tflite(graph))
    model = low_bit_model(compile_file(path, PORTABLE), formats, dsp=True)
    kernels = [c.kernel for c in model.calls]
    assert kernels == ["conv2d_lowbit_dsp", "conv2d_lowbit_dsp", "depthwise_conv2d_lowbit_dsp", "conv2d_lowbit_dsp",
                       "conv2d_lowbit_dsp"]
    assert [c.params.out_levels for c in model.calls] == [15, 3, 15, 15, 0]
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 10, 10, 3)).astype(np.int8).view(np.uint8)
    values = {graph.inputs[0]: x}
    for call in model.calls:
        consts = [c.data for c in call.consts]
        values[call.outputs[0]] = REFERENCES[call.kernel](call.params, values[call.inputs[0]], *consts)
    board = load_board("nucleo-f746")
    (got,), _ = run_firmware(build_firmware(model, board, tmp_path / "fw"), model, board, [x])
    want = values[graph.outputs[0]]
    assert np.frombuffer(got, dtype=np.uint8).tolist() == want.reshape(-1).tolist()
    assert len(np.unique(want)) > 8  # not a constant output
