"""Fast FULLY_CONNECTED (DSP extension): the specialized call is bit-exact with the portable kernels.

Levels: the NumPy reference of the fast kernel (which decodes the re-laid-out constants) equals the portable
reference (TFLite-exact, checked against TFLite Micro in test_kernel_fully_connected.py); the C kernel run on
the host through the portable intrinsic emulation equals both; firmware with the fast kernel (assembly, the
real DSP instructions) run in QEMU on a Cortex-M7 and a Cortex-M4 equals the reference executor.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import Graph, Quantization
from codegen.kernels.base import ConstArray, KernelCall
from codegen.kernels.conv import fully_connected, fully_connected_dsp
from codegen.kernels.conv.fully_connected import FullyConnectedParams
from codegen.kernels.conv.fully_connected_dsp import (
    BLOCK_PAIRS,
    KERNEL,
    fast_call,
    pack_filter,
    specialize_fully_connected,
    unpack_filter,
)
from codegen.kernels.fixedpoint import activation_range_s8, multiply_by_quantized_multiplier, quantize_multiplier
from codegen.passes.lowering import lower_graph
from codegen.pipeline import compile_graph
from codegen.reference_executor import run_reference
from codegen.targets.boards import list_boards, load_board
from codegen.targets.core import HOST, PORTABLE
from tests.support.fast_firmware import build_with_fast_kernels
from tests.support.model_factory import GraphBuilder, fully_connected_graphs, per_tensor, random_inputs
from tools.build import EMULATED_DIR
from tools.host_model import HostModel
from tools.link.emulator import Emulator

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# ---------------------------------------------------------------------------------------------------------
# Portable calls as the lowering makes them


def portable_call(
    rng: np.random.Generator,
    batches: int,
    n_in: int,
    n_out: int,
    *,
    per_channel: bool = False,
    in_zp: int = 0,
    w_zp: int = 0,
    out_zp: int = 0,
    activation: str = "NONE",
    scale_shift: float = 0.0,
    w_max: int = 127,
    bias_max: int | None = None,
) -> KernelCall:
    """A fully_connected_s8 / fully_connected_per_channel_s8 call; outputs spread over about +-40 levels times
    2^scale_shift (large: saturating; below -5: most outputs near zero)."""
    w = rng.integers(-w_max, w_max + 1, (n_out, n_in)).astype(np.int8)
    typical = math.sqrt(n_in) * 74.0 * max(w_max / 2.0, 0.5)  # |x - zp| ~ 74 for uniform int8 inputs
    if bias_max is None:
        bias_max = int(typical * 2) + 1
    bias = rng.integers(-bias_max, bias_max + 1, n_out).astype(np.int32)
    n_scales = n_out if per_channel else 1
    pairs = [quantize_multiplier(40.0 / typical * 2.0 ** (scale_shift + rng.uniform(-1, 1))) for _ in range(n_scales)]
    act_min, act_max = activation_range_s8(activation, 0.05, out_zp)
    params = FullyConnectedParams(
        batches=batches, in_features=n_in, out_features=n_out, input_offset=-in_zp,
        filter_offset=0 if per_channel else -w_zp, output_offset=out_zp,
        output_multiplier=0 if per_channel else pairs[0][0], output_shift=0 if per_channel else pairs[0][1],
        act_min=act_min, act_max=act_max,
    )  # fmt: skip
    consts = [ConstArray("filter", w), ConstArray("bias", bias)]
    if per_channel:
        consts += [ConstArray("mult", np.array([m for m, _ in pairs], np.int32)),
                   ConstArray("shift", np.array([s for _, s in pairs], np.int32))]  # fmt: skip
    kernel = "fully_connected_per_channel_s8" if per_channel else "fully_connected_s8"
    return KernelCall(kernel, params, (0,), tuple(consts), (1,), 0, macs=batches * n_in * n_out)


def run_both(
    host_runtime, call: KernelCall, x: np.ndarray, max_chunk_words: int | None = None
) -> tuple[np.ndarray, KernelCall]:
    """Check the fast call against the portable one at every level; returns the portable output."""
    p = call.params
    expected = fully_connected.REFERENCES[call.kernel](p, x, *[c.data for c in call.consts])
    fast = specialize_fully_connected(call, None, HOST) if max_chunk_words is None else fast_call(call, max_chunk_words)
    assert fast is not None and fast.kernel == KERNEL
    assert fast.macs == call.macs and fast.scratch_bytes == 0
    args = [x] + [c.data for c in fast.consts]
    np.testing.assert_array_equal(fully_connected_dsp.REFERENCES[KERNEL](fast.params, *args), expected)
    got = host_runtime.run(KERNEL, fast.params, args, expected.shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    return expected, fast


def takes_block_finish(fast: KernelCall) -> bool:
    """Whether the kernel's groups requantize by themselves, and all but at most one group do."""
    p = fast.params
    finished = 2 * (BLOCK_PAIRS * p.fast_blocks + p.fast_singles)
    return finished > 0 and finished >= p.out_features - 2 * BLOCK_PAIRS


@st.composite
def fc_calls(draw, fast_path: bool = False):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_channel = not fast_path and draw(st.booleans())
    n_in = 4 * draw(st.integers(1, 40)) if fast_path else draw(st.integers(1, 150))
    call = portable_call(
        rng,
        draw(st.integers(1, 3)),
        n_in,
        draw(st.integers(6, 40)) if fast_path else draw(st.integers(1, 40)),
        per_channel=per_channel,
        in_zp=draw(st.sampled_from([0, -128, 127, draw(st.integers(-128, 127))])),
        w_zp=0 if per_channel or fast_path or draw(st.booleans()) else draw(st.integers(-20, 20)),
        out_zp=draw(st.integers(-128, 127)),
        activation="NONE" if fast_path else draw(st.sampled_from(ACTIVATIONS)),
        scale_shift=draw(st.floats(-6, 3)),
        w_max=draw(st.sampled_from([127, 127, 60, 3])),
    )
    x = rng.integers(-128, 128, (call.params.batches, n_in)).astype(np.int8)
    return call, x


# ---------------------------------------------------------------------------------------------------------
# Host: NumPy and C, fast against portable


@settings(max_examples=150, deadline=None)
@given(fc_calls())
def test_fast_fc_matches_portable(host_runtime, case):
    call, x = case
    run_both(host_runtime, call, x)


@settings(max_examples=60, deadline=None)
@given(fc_calls(), st.integers(1, 5), st.data())
def test_chunks_and_fixups_match_portable(host_runtime, case, max_chunk_words, data):
    """The general path with the input split into chunks (forced small here; real layers need them from
    ~500 inputs) and weights of -128 made unpairable."""
    call, x = case
    w = call.consts[0].data.copy()
    for _ in range(data.draw(st.integers(0, 4)) if w.shape[0] > 1 else 0):
        # Mostly unpairable: -128 on an odd row over a negative weight.
        row = 2 * data.draw(st.integers(0, w.shape[0] // 2 - 1)) + 1
        col = data.draw(st.integers(0, w.shape[1] - 1))
        w[row, col] = -128
        w[row - 1, col] = data.draw(st.sampled_from([-1, -127, -128, 0, 5]))
    call = KernelCall(call.kernel, call.params, call.inputs, (ConstArray("filter", w), *call.consts[1:]),
                      call.outputs, 0)  # fmt: skip
    _, fast = run_both(host_runtime, call, x, max_chunk_words)
    assert fast.params.chunk_words <= max_chunk_words


@settings(max_examples=60, deadline=None)
@given(fc_calls(fast_path=True))
def test_block_finish_matches_portable(host_runtime, case):
    call, x = case
    assume(call.params.output_shift <= -2)  # a right shift by 2..23: small weights can give less
    _, fast = run_both(host_runtime, call, x)
    assert takes_block_finish(fast)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trip(n_out, n_in, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n_out, n_in)).astype(np.int8)
    bias = rng.integers(-(2**31), 2**31, n_out).astype(np.int64)
    bias[1::2] = rng.integers(-(2**22), 2**22, len(bias[1::2]))  # the odd rows' bound
    packed = pack_filter(w, bias)
    n_pairs, n_words = (n_out + 1) // 2, (n_in + 3) // 4
    n_chunks = len(range(0, max(n_in // 4, 1), packed.chunk_words))
    assert packed.words.dtype == np.int32 and packed.words.size == n_pairs * (2 * n_chunks + 2 * n_words)
    w2, bias2 = unpack_filter(packed.words, packed.fixups, n_out, n_in, packed.chunk_words)
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_array_equal(bias2, bias)


def test_word_layout():
    """One pair, four columns: the even word holds columns 0 and 2, each as r0 + 256 * r1 in an int16 lane;
    -128 over a negative r0 becomes -127 and a fixup."""
    w = np.array([[-3, 5, -7, -9], [11, -13, 15, -128]], np.int8)
    packed = pack_filter(w, np.array([100, -200]))
    assert packed.words[0] == 100 and packed.words[1] == 100 + 256 * -200
    lanes = packed.words[2:].astype("<i4").view("<i2").reshape(2, 2)  # [word, lane]
    np.testing.assert_array_equal(lanes, [[-3 + 256 * 11, -7 + 256 * 15], [5 + 256 * -13, -9 + 256 * -127]])
    np.testing.assert_array_equal(packed.fixups, [[1, 3]])


def test_requant_ties_signs_and_shift_ranges(host_runtime):
    """Accumulators from the bias alone (zero weights), both signs, through every requantization path: folded
    in the blocks (shift -2..-23), right shift, shift right by 1, left shift. With multiplier 2^30 the first
    rounding gives t = floor((a + 1) / 2); a = 2t or 2t - 1 with t = k * 2^e + 2^(e-1) lands the second
    rounding (by 2^e) exactly on a tie."""
    rng = np.random.default_rng(3)
    n_out, n_in = 24, 8
    for shift in (-1, -2, -5, -12, -22, -23, -24, -30, 0, 3):
        for mult in (1 << 30, (1 << 30) + 1, (1 << 31) - 1, 1518500250):
            e = max(-shift, 0)
            a = np.empty(n_out, np.int64)
            for row in range(n_out):
                limit = 2**30 if row % 2 == 0 else 2**21  # odd rows: |b1| < 2^23
                if mult == 1 << 30 and e >= 1 and 2 ** (e + 1) <= limit and row % 3:
                    k = int(rng.integers(-(limit >> (e + 1)), limit >> (e + 1)))
                    a[row] = 2 * (k * 2**e + 2 ** (e - 1)) - int(rng.integers(0, 2))
                else:
                    a[row] = int(rng.integers(-limit, limit)) >> int(rng.integers(0, 25))
            params = FullyConnectedParams(
                batches=1, in_features=n_in, out_features=n_out, input_offset=0, filter_offset=0,
                output_offset=0, output_multiplier=mult, output_shift=shift, act_min=-128, act_max=127,
            )  # fmt: skip
            consts = (ConstArray("filter", np.zeros((n_out, n_in), np.int8)), ConstArray("bias", a.astype(np.int32)))
            call = KernelCall("fully_connected_s8", params, (0,), consts, (1,), 0)
            expected, _ = run_both(host_runtime, call, np.zeros((1, n_in), np.int8))
            direct = multiply_by_quantized_multiplier(a, mult, shift)
            np.testing.assert_array_equal(expected.reshape(-1), np.clip(direct, -128, 127))


# ---------------------------------------------------------------------------------------------------------
# The exactness bound and refusals


def _bound_call(n_in: int, n_out: int = 2, w_value: int = -127, bias1: int = 0, w_zp: int = 0) -> KernelCall:
    w = np.full((n_out, n_in), w_value, np.int8)
    bias = np.zeros(n_out, np.int32)
    bias[1::2] = bias1
    params = FullyConnectedParams(
        batches=1, in_features=n_in, out_features=n_out, input_offset=0, filter_offset=-w_zp, output_offset=0,
        output_multiplier=1 << 30, output_shift=-20, act_min=-128, act_max=127,
    )  # fmt: skip
    consts = (ConstArray("filter", w), ConstArray("bias", bias))
    return KernelCall("fully_connected_s8", params, (0,), consts, (1,), 0)


@pytest.mark.parametrize("n_out", [2, 6])
def test_odd_row_bound_is_tight_and_exact(host_runtime, n_out):
    """|b1| + 128 * sum|r1| < 2^23 per chunk: one chunk up to 516 inputs of -127 with |b1| = 511 (the worst
    input makes the odd rows' total 8,388,607), two from 517 inputs or |b1| = 512; exact at both extremes of
    x either way. Only a bias that alone breaks the bound is refused."""
    for n_in, bias1, chunks in ((516, 511, 1), (517, 0, 2), (516, -512, 2), (2000, 5000, 4)):
        call = _bound_call(n_in, n_out, bias1=bias1)
        for x_value in (-128, 127):
            expected, fast = run_both(host_runtime, call, np.full((1, n_in), x_value, np.int8))
            assert len(range(0, n_in // 4, fast.params.chunk_words)) == chunks
            assert abs(int(expected[0, 1])) >= 4  # >= 2^23 / 2^21: the odd rows at their extreme
    run_both(host_runtime, _bound_call(300, n_out, w_zp=20), np.full((1, 300), -128, np.int8))
    assert specialize_fully_connected(_bound_call(8, n_out, bias1=2**23 - 128 * 4 * 127), None, HOST) is None


def test_unpairable_weight_becomes_a_fixup(host_runtime):
    """c = r1 - (r0 < 0) must fit int8: r1 = -128 over r0 >= 0 is stored as is, over r0 < 0 as -127 plus a
    fixup that subtracts the input. Small weights and a fine output scale make every input unit visible."""
    rng = np.random.default_rng(8)
    call = portable_call(rng, 2, 12, 4, w_zp=3, w_max=3, scale_shift=1)
    w = call.consts[0].data.copy()
    w[1, 5], w[0, 5], w[3, 0], w[2, 0] = -128, 0, -128, -7
    bias = call.consts[1].data.copy()
    bias[3] = 128 * (100 + 3)  # cancels the -128 weight's share, so row 3 does not saturate
    call = KernelCall(call.kernel, call.params, call.inputs, (ConstArray("filter", w), ConstArray("bias", bias)),
                      call.outputs, 0)  # fmt: skip
    x = rng.integers(-128, 128, (2, 12)).astype(np.int8)
    x[:, 0] = 100
    expected, fast = run_both(host_runtime, call, x)
    assert fast.params.n_fixups == 1
    np.testing.assert_array_equal(fast.consts[2].data, [3, 0])
    unfixed = fully_connected_dsp.REFERENCES[KERNEL](
        dataclasses.replace(fast.params, n_fixups=0), x, *[c.data for c in fast.consts])
    assert (unfixed != expected).any(), "the fixup must matter here"


# ---------------------------------------------------------------------------------------------------------
# Real models


FC_MODELS = ["mlperf_ad01_int8", "tflm_hello_world_int8", "tinyengine_mnist_lenet300_100", "mlperf_ic_resnet8_int8",
             "mlperf_vww_96_int8", "tflm_micro_speech_quantized", "tinyengine_mcunet_vww"]  # fmt: skip


@pytest.mark.parametrize("name", FC_MODELS)
def test_every_fc_of_real_models_is_specialized_and_exact(host_runtime, shared_models, name):
    graph = read_tflite(shared_models / f"{name}.tflite")
    rng = np.random.default_rng(1)
    calls = [c for c in lower_graph(graph) if c.kernel.startswith("fully_connected")]
    assert calls
    for call in calls:
        x = rng.integers(-128, 128, (call.params.batches, call.params.in_features)).astype(np.int8)
        run_both(host_runtime, call, x)


def test_host_model_with_fast_fc_matches_golden(shared_models):
    name = "mlperf_ad01_int8"
    data = (shared_models / f"{name}.tflite").read_bytes()
    compiled = compile_graph(read_tflite(shared_models / f"{name}.tflite"), data, HOST)
    assert {c.kernel for c in compiled.calls} == {KERNEL}
    vec = np.load(shared_models / "vectors" / f"{name}.npz")
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([vec["in0"]])
    np.testing.assert_array_equal(got, vec["out0"])


@pytest.mark.parametrize("name", ["tinyengine_mnist_lenet300_100", "tflm_micro_speech_quantized"])
def test_host_model_with_fast_fc_matches_portable(shared_models, name):
    """Models whose FCs need fixups (lenet: a -128 weight) or chunks (micro_speech: 4000 inputs)."""
    path = shared_models / f"{name}.tflite"
    inputs = random_inputs(read_tflite(path), np.random.default_rng(4))
    outs = []
    for target in (HOST, PORTABLE):
        compiled = compile_graph(read_tflite(path), path.read_bytes(), target)
        outs.append(HostModel(compiled.graph, compiled.sources.files).run(inputs)[0])
    fast = [c for c in compile_graph(read_tflite(path), path.read_bytes(), HOST).calls if c.kernel == KERNEL]
    assert fast and any(c.params.n_fixups or c.params.chunk_words < c.params.in_features // 4 for c in fast)
    np.testing.assert_array_equal(outs[0], outs[1])


# ---------------------------------------------------------------------------------------------------------
# Firmware in QEMU: the assembly


def _fc_layer(b: GraphBuilder, rng: np.random.Generator, x: int, n_out: int, *, per_channel=False, w_zp=0,
              activation="NONE", out_zp=-3, multiplier: float | None = None, clash=False) -> int:  # fmt: skip
    """One FULLY_CONNECTED appended to b; `multiplier` (input * weight / output scale) defaults to one that
    spreads the outputs over about +-40 levels; `clash` puts an unpairable -128 (a fixup) in row 1."""
    batches, n_in = b.shape(x)
    xq = b.quant(x)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    if clash:
        w[0, 2], w[1, 2] = -5, -128
    typical = math.sqrt(n_in) * 74.0 * 73.0
    n_scales = n_out if per_channel else 1
    w_scales = tuple(float(np.float32(0.01 * rng.uniform(0.5, 2))) for _ in range(n_scales))
    w_t = b.tensor("w", (n_out, n_in), "int8", Quantization(w_scales, (w_zp,) * n_scales, 0), w)
    bias_scales = tuple(float(np.float32(xq.scale[0] * s)) for s in w_scales)
    bias = rng.integers(-int(typical), int(typical) + 1, n_out)
    b_t = b.tensor("b", (n_out,), "int32", Quantization(bias_scales, (0,) * n_scales, 0), bias)
    out_scale = xq.scale[0] * w_scales[0] / (multiplier or 40.0 / typical)
    y = b.tensor("y", (batches, n_out), "int8", per_tensor(out_scale, out_zp))
    b.op("FULLY_CONNECTED", (x, w_t, b_t), (y,), activation=activation, weights_format=0, keep_num_dims=False)
    return y


def fc_chain_graph(seed: int = 5) -> Graph:
    """FC layers through every path of the kernel: self-finishing blocks, a padding row, single pairs, tail
    inputs, a long row in chunks with a fixup, per-channel, ReLU6, a filter offset, a left shift, a shift
    right by 1 and by more than 23, an input shorter than a word; two batches."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("fc_chain")
    x = b.tensor("x", (2, 64), "int8", per_tensor(0.05, 3))
    y = _fc_layer(b, rng, x, 36)
    y = _fc_layer(b, rng, y, 23, activation="RELU", out_zp=-128)
    y = _fc_layer(b, rng, y, 1300)
    y = _fc_layer(b, rng, y, 12, clash=True)
    y = _fc_layer(b, rng, y, 17, activation="RELU6", out_zp=-100)
    y = _fc_layer(b, rng, y, 40, per_channel=True, activation="RELU", out_zp=-128)
    y = _fc_layer(b, rng, y, 13, w_zp=5)
    y = _fc_layer(b, rng, y, 9, multiplier=6.0, out_zp=0)
    y = _fc_layer(b, rng, y, 8, multiplier=0.3)
    y = _fc_layer(b, rng, y, 3, multiplier=3e-8)
    y = _fc_layer(b, rng, y, 7)
    return b.build((x,), (y,))


def _emulator_boards() -> list[str]:
    m4 = [b.name for b in list_boards() if b.core == "cortex-m4" and b.qemu_machine]
    return ["nucleo-f746"] + m4[:1]


def _run_in_emulator(graph: Graph, board_name: str, out: Path, inputs: list[np.ndarray]) -> np.ndarray:
    board = load_board(board_name)
    result = build_with_fast_kernels(graph, board, out)
    assert any(c.kernel == KERNEL for c in result.compiled.calls), "the fast kernel was not chosen"
    with Emulator(result.out / EMULATED_DIR / "firmware.elf", machine=board.qemu_machine) as emu:
        emu.link.expect_model(result.compiled.hash8, result.compiled.graph.name)
        raw, _ = emu.link.infer(inputs)
    return np.frombuffer(raw[0], dtype=np.int8).reshape(graph.tensor(graph.outputs[0]).shape)


def test_fc_chain_covers_every_path(host_runtime):
    """The chain's layers all specialize and, between them, reach each requantization path."""
    graph = fc_chain_graph()
    calls = lower_graph(graph)
    fast = [specialize_fully_connected(c, graph, HOST) for c in calls]
    assert all(f is not None for f in fast)
    rsh = [int(f.consts[1].data[1]) for f in fast]
    assert takes_block_finish(fast[0])
    assert min(rsh) < -1 and 0 in rsh and max(rsh) > 22
    assert any(f.params.requant_stride for f in fast) and any(f.params.filter_offset for f in fast)
    assert any(f.params.n_fixups for f in fast)
    assert any(f.params.chunk_words < f.params.in_features // 4 for f in fast)
    x = np.random.default_rng(0).integers(-128, 128, (2, 64)).astype(np.int8)
    (expected,) = run_reference(graph, [x])
    assert len(np.unique(expected)) > 1
    compiled = compile_graph(graph, write_tflite(graph), HOST)
    (got,) = HostModel(compiled.graph, compiled.sources.files).run([x])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", _emulator_boards())
def test_firmware_fc_chain_matches_reference(board_name, tmp_path):
    graph = fc_chain_graph()
    rng = np.random.default_rng(12)
    x = rng.integers(-128, 128, (2, 64)).astype(np.int8)
    got = _run_in_emulator(graph, board_name, tmp_path, [x])
    (expected,) = run_reference(graph, [x])
    np.testing.assert_array_equal(got, expected, err_msg=f"fc_chain on {board_name}")


@pytest.mark.emulator
@settings(max_examples=3, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])  # fmt: skip
@given(graph=fully_connected_graphs(), seed=st.integers(0, 2**32 - 1))
def test_firmware_random_fcs_match_reference(tmp_path_factory, graph, seed):
    calls = lower_graph(graph)
    assume(specialize_fully_connected(calls[0], graph, HOST) is not None)
    inputs = random_inputs(graph, np.random.default_rng(seed))
    got = _run_in_emulator(graph, "nucleo-f746", tmp_path_factory.mktemp("fc"), inputs)
    (expected,) = run_reference(graph, inputs)
    np.testing.assert_array_equal(got, expected)
