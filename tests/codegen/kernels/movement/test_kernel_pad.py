"""PAD kernel: C against the NumPy reference over random shapes and paddings."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.kernels.movement.pad import PadParams, pad_s8_ref


@st.composite
def pad_cases(draw):
    in_shape = tuple(draw(st.integers(1, 5)) for _ in range(4))
    before = tuple(draw(st.integers(0, 3)) for _ in range(4))
    after = tuple(draw(st.integers(0, 3)) for _ in range(4))
    out_shape = tuple(n + b + a for n, b, a in zip(in_shape, before, after, strict=True))
    params = PadParams(*in_shape, *before, *out_shape, pad_value=draw(st.integers(-128, 127)))
    seed = draw(st.integers(0, 2**31))
    x = np.random.default_rng(seed).integers(-128, 128, size=in_shape, dtype=np.int8)
    return params, x


@settings(max_examples=60, deadline=None)
@given(pad_cases())
def test_pad_s8_matches_reference(host_runtime, case):
    params, x = case
    expected = pad_s8_ref(params, x)
    got = host_runtime.run("pad_s8", params, [x], params.out_shape, np.int8)
    np.testing.assert_array_equal(got, expected)
    # The reference itself: the interior is the input, the rest the pad value.
    assert (expected == params.pad_value).sum() >= expected.size - x.size
