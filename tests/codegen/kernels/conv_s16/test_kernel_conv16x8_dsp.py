"""Fast 16x8 CONV_2D and FULLY_CONNECTED (DSP extension: SXTB16 + SMLALD on re-laid-out weights) and
TRANSPOSE_CONV (int8: SXTAB16 + SMLAD; 16x8: SMLALD): the specialized call is bit-exact with the portable one.
Levels: the fast kernel's NumPy reference (which undoes any re-layout) equals the portable reference (TFLM-exact,
test_kernel_conv16x8.py); the C kernel on the host (portable emulation of the intrinsics) equals it. Firmware
with the real instructions: tests/firmware/ops/test_firmware_s16_dsp.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor
from codegen.kernels import REFERENCES, SPECIALIZERS
from codegen.kernels.conv.conv2d import compute_out_size
from codegen.kernels.conv_s16.conv2d_s16_dsp import relay_groups, unrelay_groups
from codegen.pipeline import compile_file
from codegen.targets.core import HOST
from tests.codegen.kernels.conv_s16.test_kernel_conv16x8 import _f32, _filter, _out_scale, transpose_cases
from tests.codegen.test_seanet_models import MODELS as SEANET_MODELS
from tests.codegen.test_seanet_models import SEANET
from tests.codegen.test_seanet_models import _load as seanet_case
from tests.support.single_op import lower
from tools.host_model import HostModel


def _bias(rng, draw, tensors: list[Tensor], n: int, in_scale: float, w_q: Quantization) -> str:
    kind = draw(st.sampled_from(("int64", "int64", "int32", "none")))
    if kind != "none":
        bias = rng.integers(-(2**18), 2**18, size=n).astype(kind)
        scales = tuple(_f32(in_scale * s) for s in w_q.scale)
        tensors.append(Tensor(2, "b", (n,), kind, Quantization(scales, (0,) * len(scales)), bias))
    return kind


@st.composite
def conv_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(("SAME", "VALID")))
    in_h, in_w = draw(st.integers((kh - 1) * dh + 1, 7)), draw(st.integers((kw - 1) * dw + 1, 7))
    in_c, out_c = draw(st.integers(4, 19)), draw(st.integers(1, 5))
    in_scale = _f32(10 ** draw(st.floats(-5, -3)))
    w, w_q = _filter(rng, draw, out_c, kh, kw, in_c)
    tensors = [Tensor(0, "x", (1, in_h, in_w, in_c), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", w_q, w)]
    _bias(rng, draw, tensors, out_c, in_scale, w_q)
    out_shape = (1, compute_out_size(padding, in_h, kh, sh, dh), compute_out_size(padding, in_w, kw, sw, dw), out_c)
    y = len(tensors)
    tensors.append(Tensor(y, "y", out_shape, "int16",
                          Quantization((_out_scale(in_scale, w_q, kh * kw * in_c, 32767, draw),), (0,))))
    options = {"padding": padding, "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw,
               "activation": draw(st.sampled_from(("NONE", "RELU")))}
    graph = Graph(tensors, [Operator(0, "CONV_2D", tuple(range(y)), (y,), options)], (0,), (y,), name="conv16")
    # Extremes included: -32768 times -128 is the largest product.
    x = rng.choice(np.array([-32768, 32767, -1, 0], dtype=np.int16), size=(1, in_h, in_w, in_c))
    x = np.where(rng.random(x.shape) < 0.7, rng.integers(-32768, 32768, size=x.shape), x).astype(np.int16)
    return graph, x


@st.composite
def fc_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batches, in_f, out_f = draw(st.integers(1, 2)), draw(st.integers(4, 70)), draw(st.integers(1, 6))
    in_scale = _f32(10 ** draw(st.floats(-5, -3)))
    w, w_q = _filter(rng, draw, out_f, 1, 1, in_f)
    w = w.reshape(out_f, in_f)
    tensors = [Tensor(0, "x", (batches, in_f), "int16", Quantization((in_scale,), (0,))),
               Tensor(1, "w", w.shape, "int8", w_q, w)]
    _bias(rng, draw, tensors, out_f, in_scale, w_q)
    y = len(tensors)
    tensors.append(Tensor(y, "y", (batches, out_f), "int16",
                          Quantization((_out_scale(in_scale, w_q, in_f, 32767, draw),), (0,))))
    options = {"activation": "NONE", "weights_format": 0, "keep_num_dims": False}
    graph = Graph(tensors, [Operator(0, "FULLY_CONNECTED", tuple(range(y)), (y,), options)], (0,), (y,), name="fc16")
    return graph, rng.integers(-32768, 32768, size=(batches, in_f)).astype(np.int16)


def _check(host_runtime, graph: Graph, x: np.ndarray) -> None:
    (call,) = lower(graph)
    fast = SPECIALIZERS[call.kernel](call, graph, HOST)
    assert fast.kernel == f"{call.kernel}_dsp"
    out_t = graph.tensor(call.outputs[0])
    want = REFERENCES[call.kernel](call.params, x, *[c.data for c in call.consts])
    args = [x] + [c.data for c in fast.consts]
    got = REFERENCES[fast.kernel](fast.params, *args)
    np.testing.assert_array_equal(np.asarray(got).reshape(out_t.shape), np.asarray(want).reshape(out_t.shape))
    c_out = host_runtime.run(fast.kernel, fast.params, args, out_t.shape, NUMPY_DTYPES[out_t.dtype], 0)
    np.testing.assert_array_equal(c_out, np.asarray(want).reshape(out_t.shape))


@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_conv2d_16x8_dsp_is_bit_exact_with_the_portable_kernel(host_runtime, case):
    _check(host_runtime, *case)


@settings(max_examples=40, deadline=None)
@given(case=fc_cases())
def test_fully_connected_16x8_dsp_is_bit_exact_with_the_portable_kernel(host_runtime, case):
    _check(host_runtime, *case)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_transpose_conv_dsp_is_bit_exact_with_the_portable_kernel(host_runtime, dtype, data):
    graph, x = data.draw(transpose_cases(dtype))
    assume(x.shape[3] >= 4)
    _check(host_runtime, graph, x)


def test_relayout_swaps_the_middle_of_each_group_and_keeps_the_tail():
    w = np.arange(10, dtype=np.int8).reshape(1, 10)
    assert relay_groups(w, 10).tolist() == [[0, 2, 1, 3, 4, 6, 5, 7, 8, 9]]
    np.testing.assert_array_equal(unrelay_groups(relay_groups(w, 10), 10), w)


def test_fewer_than_four_channels_keep_the_portable_kernel():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, size=(2, 3, 3, 3)).astype(np.int8)
    q = Quantization((0.01,), (0,))
    tensors = [Tensor(0, "x", (1, 5, 5, 3), "int16", Quantization((1e-4,), (0,))),
               Tensor(1, "w", w.shape, "int8", q, w),
               Tensor(2, "y", (1, 5, 5, 2), "int16", Quantization((1e-3,), (0,)))]
    options = {"padding": "SAME", "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "activation": "NONE"}
    graph = Graph(tensors, [Operator(0, "CONV_2D", (0, 1), (2,), options)], (0,), (2,), name="conv16")
    (call,) = lower(graph)
    assert SPECIALIZERS[call.kernel](call, graph, HOST) is None



SEANET_DSP = [m for m in SEANET_MODELS if m.startswith(("conv/", "transpose_conv/"))]


@pytest.mark.parametrize("name", SEANET_DSP or [pytest.param("none", marks=pytest.mark.skip("no SEANet models"))])
def test_seanet_models_with_the_dsp_kernels_equal_tflm_golden_outputs(name, shared_models):
    """TFLM's SEANet 16x8 CONV_2D and TRANSPOSE_CONV models, compiled for a DSP target (host emulation of the
    intrinsics): every one but conv0 (one input channel) takes a DSP kernel, and all equal TFLM's outputs."""
    compiled = compile_file(SEANET / f"{name}.tflite", HOST)
    fast = [c.kernel for c in compiled.calls if c.kernel.endswith("_dsp")]
    assert fast or name == "conv/conv0"
    inputs, want = seanet_case(name)
    (got,) = HostModel(compiled.graph, compiled.sources.files).run(inputs)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
