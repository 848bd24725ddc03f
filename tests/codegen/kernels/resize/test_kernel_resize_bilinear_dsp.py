"""RESIZE_BILINEAR's fast variant (resize_bilinear_s8_dsp, taken on DSP cores): the specializer's tables and the
separable int32 sum equal the portable kernel's 64-bit sum bit for bit, in the NumPy reference and in the C
kernel built for the host (its scalar path; the four-channel DSP path runs in the firmware test)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from codegen.kernels import REFERENCES
from codegen.kernels.base import KernelCall
from codegen.kernels.resize.resize_bilinear import ResizeBilinearParams
from codegen.kernels.resize.resize_bilinear_dsp import KERNEL, specialize_resize_bilinear
from codegen.targets.core import Target
from tests.codegen.kernels.resize.test_kernel_resize import cases
from tests.support.single_op import lower


def _fast(call: KernelCall) -> KernelCall:
    fast = specialize_resize_bilinear(call, None, Target("cortex-m7"))
    assert fast is not None and fast.kernel == KERNEL
    return fast


@settings(max_examples=80, deadline=None)
@given(cases("RESIZE_BILINEAR"))
def test_fast_variant_equals_the_portable_kernel(host_runtime, case):
    graph, (x,) = case
    (call,) = lower(graph)
    fast = _fast(call)
    out_t = graph.tensor(call.outputs[0])
    want = REFERENCES[call.kernel](call.params, x).reshape(out_t.shape)
    consts = [c.data for c in fast.consts]
    np.testing.assert_array_equal(REFERENCES[KERNEL](fast.params, x, *consts).reshape(out_t.shape), want)
    got = host_runtime.run(KERNEL, fast.params, [x, *consts], out_t.shape, np.int8)
    np.testing.assert_array_equal(got, want)


def test_extreme_weights_stay_in_int32():
    """The largest border weights TFLite gives (half-pixel centres, 1 -> 64 rows and columns: weights down to
    -512 and up to 1536) on the int8 extremes: the int32 sums equal the 64-bit ones."""
    p = ResizeBilinearParams(1, 1, 2, 64, 64, 4, 16, 32, 1)
    call = KernelCall("resize_bilinear_s8", p, (0,), (), (1,), 0)
    fast = _fast(call)
    for value in (-128, 127):
        x = np.full((1, 1, 2, 4), value, np.int8)
        x[0, 0, 1] = -value - 1
        want = REFERENCES["resize_bilinear_s8"](p, x)
        got = REFERENCES[KERNEL](fast.params, x, *[c.data for c in fast.consts])
        np.testing.assert_array_equal(got, want)


def test_constant_image_keeps_the_portable_kernel():
    p = ResizeBilinearParams(1, 2, 2, 4, 4, 1, 512, 512, 0)
    from codegen.kernels.base import ConstArray

    call = KernelCall("resize_bilinear_s8", p, (), (ConstArray("data", np.zeros(4, np.int8)),), (1,), 0)
    assert specialize_resize_bilinear(call, None, Target("cortex-m7")) is None
