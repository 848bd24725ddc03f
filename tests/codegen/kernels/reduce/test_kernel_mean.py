"""MEAN: lowering (axes, keep_dims, TFLM's requantization), C against the NumPy reference, and the
reference against TFLite's reference kernels on the MCUNet model's two MEAN layers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.frontend.tflite_reader import read_tflite
from codegen.ir import Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.fixedpoint import quantize_multiplier
from codegen.kernels.reduce import mean
from codegen.kernels.reduce.mean import MeanParams, canonical_view, fold_count, mean_s8_ref, resolve_axes


def mean_graph(in_shape, axes, keep_dims: bool, in_q=(0.05, 0), out_q=None, out_shape=None,
               axis_dtype: str = "int32", const_axes: bool = True) -> Graph:
    out_q = in_q if out_q is None else out_q
    rank = len(in_shape)
    resolved = {a % rank for a in axes} if rank else set()
    if out_shape is None:
        out_shape = [1 if i in resolved else d for i, d in enumerate(in_shape)] if keep_dims else [
            d for i, d in enumerate(in_shape) if i not in resolved]
    axis_data = np.array(axes, dtype=np.int32 if axis_dtype == "int32" else np.int64) if const_axes else None
    tensors = [
        Tensor(0, "x", tuple(in_shape), "int8", Quantization((in_q[0],), (in_q[1],))),
        Tensor(1, "axis", (len(axes),), axis_dtype, None, axis_data),
        Tensor(2, "y", tuple(out_shape), "int8", Quantization((out_q[0],), (out_q[1],))),
    ]
    op = Operator(0, "MEAN", (0, 1), (2,), {"keep_dims": keep_dims})
    return Graph(tensors, [op], (0,), (2,))


def lower_one(graph: Graph):
    (call,) = mean.LOWERINGS["MEAN"](graph.operators[0], graph)
    return call


def scale_st():
    return st.floats(0.001, 0.2).map(lambda v: float(np.float32(v)))


@st.composite
def mean_cases(draw):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    chosen = draw(st.lists(st.integers(0, rank - 1), max_size=rank + 1))
    # Each axis written as positive or negative at random; duplicates stay in.
    axes = [a - rank if draw(st.booleans()) else a for a in chosen]
    keep_dims = draw(st.booleans())
    in_q = (draw(scale_st()), draw(st.integers(-128, 127)))
    out_q = in_q if draw(st.booleans()) else (draw(scale_st()), draw(st.integers(-128, 127)))
    seed = draw(st.integers(0, 2**31))
    x = np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)
    return mean_graph(shape, axes, keep_dims, in_q, out_q), x


@settings(max_examples=200, deadline=None)
@given(mean_cases())
def test_mean_c_matches_reference(host_runtime, case):
    graph, x = case
    call = lower_one(graph)
    y = graph.tensor(2)
    expected = mean_s8_ref(call.params, x)
    got = host_runtime.run("mean_s8", call.params, [x], y.shape, np.int8)
    np.testing.assert_array_equal(got.reshape(-1), expected)


@settings(max_examples=100, deadline=None)
@given(mean_cases())
def test_reference_tracks_the_real_mean(case):
    """Against float arithmetic on the original (unmerged) shape: within one step of the exact mean."""
    graph, x = case
    call = lower_one(graph)
    xt, yt = graph.tensor(0), graph.tensor(2)
    axes = resolve_axes(graph.tensor(1).data, x.ndim)
    real = ((x.astype(np.float64) - xt.zero_point) * xt.scale).mean(axis=axes) if axes else (
        (x.astype(np.float64) - xt.zero_point) * xt.scale)
    ideal = np.clip(real.reshape(-1) / yt.scale + yt.zero_point, -128, 127)
    got = mean_s8_ref(call.params, x).astype(np.float64)
    assert np.abs(got - ideal).max() <= 1.0 + 1e-6
    assert got.size == yt.size


def test_resolve_axes_and_canonical_view():
    assert resolve_axes(np.array([1, -1, 3, 1]), 4) == (1, 3)
    assert resolve_axes(np.array([5]), 0) == ()
    with pytest.raises(Unsupported, match="out of range"):
        resolve_axes(np.array([4]), 4)
    # [1,160,3,3] over axis 3 -> kept 160*3, reduced 3.
    assert canonical_view((1, 160, 3, 3), (3,)) == ((1, 1, 1, 1, 480, 3), 0b100000)
    # Size-1 dims vanish; neighbours of one kind merge: [2,(3),(4),5,(6)] -> 2, 12, 5, 6.
    assert canonical_view((2, 3, 1, 4, 5, 6), (1, 3, 5)) == ((1, 1, 2, 12, 5, 6), 0b101000)
    assert canonical_view((1, 1), (0,)) == ((1,) * 6, 0)


def test_fold_count_matches_tflm_formula():
    mult, shift = quantize_multiplier(1.0)  # 2^30, shift 1
    assert fold_count(mult, shift, 1) == (mult, shift)
    assert fold_count(mult, shift, 3) == ((mult << 1) // 3, 0)
    # 31 + shift caps the extra shift: with shift -30 only one more bit is allowed.
    assert fold_count(1 << 30, -30, 1000) == ((1 << 31) // 1000, -31)
    # 32 caps it for huge counts.
    assert fold_count(1 << 30, 1, 2**33)[1] == 1 - 32


def test_mcunet_like_means_hand_values(host_runtime):
    # Equal quantization, zp 6, scale s: mean of (7, 8, 10) = 8.33 -> 8; of (-1, -2, -2) -> -1.67 -> -2.
    s = 0.04854252561926842
    g = mean_graph((1, 2, 3), [2], False, (s, 6))
    call = lower_one(g)
    x = np.array([[[7, 8, 10], [-1, -2, -2]]], dtype=np.int8)
    np.testing.assert_array_equal(mean_s8_ref(call.params, x), [8, -2])
    got = host_runtime.run("mean_s8", call.params, [x], (1, 2), np.int8)
    np.testing.assert_array_equal(got.reshape(-1), [8, -2])


def test_empty_axis_list_requantizes_only(host_runtime):
    g = mean_graph((2, 3), [], True, (0.1, 0), (0.2, 5))
    g.tensors[1] = Tensor(1, "axis", (0,), "int32")  # the reader gives an empty axis list no data
    call = lower_one(g)
    assert call.params.count == 1
    x = np.array([[-128, -3, -1], [0, 2, 127]], dtype=np.int8)
    # x / 2 + 5, ties rounded up as SaturatingRoundingDoublingHighMul rounds them (-1.5 -> -1, 63.5 -> 64).
    expected = np.array([-59, 4, 5, 5, 6, 69], dtype=np.int8)
    np.testing.assert_array_equal(mean_s8_ref(call.params, x), expected)
    got = host_runtime.run("mean_s8", call.params, [x], (2, 3), np.int8)
    np.testing.assert_array_equal(got.reshape(-1), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"const_axes": False}, "non-constant"),
        ({"axis_dtype": "int64"}, "int64"),
        ({"in_shape": (1, 2, 1, 2, 1, 2)}, "rank-6"),
        ({"out_shape": (1, 3)}, "output shape"),
        ({"axes": [7]}, "out of range"),
    ],
)
def test_lowering_refuses(kwargs, message):
    args = {"in_shape": (1, 4, 4, 2), "axes": [1, 2], "keep_dims": False}
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(Unsupported, match=message):
        lower_one(mean_graph(args["in_shape"], args["axes"], args["keep_dims"], **kwargs))


def test_params_struct_layout():
    assert [name for name, _ in MeanParams.c_fields()] == [
        "d0", "d1", "d2", "d3", "d4", "d5", "reduce_mask", "count",
        "input_zp", "output_zp", "multiplier", "shift",
    ]


# --- Real model: MCUNet's TRANSPOSE -> MEAN(axis 3) -> MEAN(axis 2), tensors from the runtime itself ---

def test_mcunet_means_match_tflite(shared_models, host_runtime):
    name = "tinyengine_mcunet_vww"
    model = shared_models / f"{name}.tflite"
    if not model.exists():
        pytest.skip(f"{model} is absent")
    interpreter_mod = pytest.importorskip("tflite_runtime.interpreter")
    it = interpreter_mod.Interpreter(
        model_path=str(model),
        experimental_op_resolver_type=interpreter_mod.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    golden = np.load(shared_models / "vectors" / f"{name}.npz")
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], golden["in0"].reshape(inp["shape"]).astype(inp["dtype"]))
    it.invoke()
    # The run reproduces the TFLM golden output, so its intermediates are TFLM's too.
    out = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_array_equal(out.reshape(golden["out0"].shape), golden["out0"])

    graph = read_tflite(model)
    means = [op for op in graph.operators if op.op_type == "MEAN"]
    assert len(means) == 2
    for op in means:
        (call,) = mean.LOWERINGS["MEAN"](op, graph)
        x = it.get_tensor(op.inputs[0])
        want = it.get_tensor(op.outputs[0])
        np.testing.assert_array_equal(mean_s8_ref(call.params, x).reshape(want.shape), want)
        got = host_runtime.run("mean_s8", call.params, [x], want.shape, np.int8)
        np.testing.assert_array_equal(got, want)


@st.composite
def spatial_mean_cases(draw):
    """MEAN over H and W of a 1 x H x W x C int8 map (a squeeze-and-excite's squeeze), keep_dims either way."""
    shape = (1, draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(2, 12)))
    in_q = (draw(scale_st()), draw(st.integers(-128, 127)))
    out_q = (draw(scale_st()), draw(st.integers(-128, 127)))
    x = np.random.default_rng(draw(st.integers(0, 2**31))).integers(-128, 128, size=shape, dtype=np.int8)
    return mean_graph(shape, [1, 2], draw(st.booleans()), in_q, out_q), x


@settings(max_examples=40, deadline=None)
@given(spatial_mean_cases())
def test_mean_summed_by_patches_equals_the_whole_mean(host_runtime, case):
    """mean_sum_s8 over a 4-D input's row bands (C, stale output buffer on the first band), then mean_finish_s8,
    equal mean_s8 on the whole tensor whenever the MEAN is over H and W (a two-pass squeeze-and-excite)."""
    from codegen.kernels.reduce.mean_patch import MeanSumParams, finish_params, is_spatial_mean, mean_finish_s8_ref

    graph, x = case
    call = lower_one(graph)
    _, h, w, c = x.shape
    if h * w == 1:
        assert not is_spatial_mean(call.params, x.shape)  # nothing to sum: the schedule leaves it alone
        return
    assert is_spatial_mean(call.params, x.shape)
    sums = np.full(c, 12345, np.int32)  # what an arena buffer might hold before the first band
    for n, y0 in enumerate(range(0, h, 2)):
        band = np.ascontiguousarray(x[:, y0 : y0 + 2])
        params = MeanSumParams(band.shape[1] * w, c, int(n == 0))
        sums = host_runtime.run("mean_sum_s8", params, [band], (c,), np.int32, out=sums.copy())
    finish = finish_params(call.params, c)
    got = host_runtime.run("mean_finish_s8", finish, [sums], (c,), np.int8)
    np.testing.assert_array_equal(got, mean_s8_ref(call.params, x))
    np.testing.assert_array_equal(mean_finish_s8_ref(finish, sums), got)
