"""RESIZE_NEAREST_NEIGHBOR (any element type) and RESIZE_BILINEAR (int8): C kernels against the NumPy reference,
the reference against tflite-runtime (BUILTIN_REF) and TFLite Micro, across sizes up and down, batches, depths,
align_corners and half_pixel_centers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.ir import NUMPY_DTYPES, Graph, Operator, Quantization, Tensor
from codegen.kernels.base import Unsupported
from codegen.kernels.resize.resize_bilinear import ResizeBilinearParams, resize_bilinear_s8_ref, scale_10
from codegen.kernels.resize.resize_nearest import nearest_indices
from tests.support.single_op import assert_same, lower, run_c, run_ref, run_tflite, run_tflm

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUANT = {"int8": Quantization((0.05,), (-3,)), "int16": Quantization((0.002,), (0,))}


def resize_graph(op_type: str, in_shape, out_hw, dtype: str = "int8", align: bool = False,
                 half: bool = False) -> Graph:
    n, _, _, c = in_shape
    q = QUANT.get(dtype)
    tensors = [
        Tensor(0, "x", tuple(in_shape), dtype, q),
        Tensor(1, "size", (2,), "int32", None, np.array(out_hw, np.int32)),
        Tensor(2, "y", (n, *out_hw, c), dtype, q),
    ]
    op = Operator(0, op_type, (0, 1), (2,), {"align_corners": align, "half_pixel_centers": half})
    return Graph(tensors, [op], (0,), (2,), name=op_type.lower())


def random_input(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
    if dtype == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    info = np.iinfo(NUMPY_DTYPES[dtype])
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(NUMPY_DTYPES[dtype])


@st.composite
def cases(draw, op_type: str, dtypes=("int8",)):
    dtype = draw(st.sampled_from(dtypes))
    in_shape = (draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 5)))
    # Integer scales (x2, x3), fractional ones, and shrinking.
    out_hw = tuple(draw(st.one_of(st.integers(1, 16), st.sampled_from([2 * d, 3 * d]))) for d in in_shape[1:3])
    mode = draw(st.sampled_from(["plain", "align", "half"] + (["both"] if op_type.endswith("NEIGHBOR") else [])))
    graph = resize_graph(op_type, in_shape, out_hw, dtype, mode in ("align", "both"), mode in ("half", "both"))
    x = random_input(np.random.default_rng(draw(st.integers(0, 2**31))), in_shape, dtype)
    return graph, [x]


NEAREST_DTYPES = ("int8", "int8", "int16", "float32")  # what TFLite resizes; the kernel copies any bytes


@pytest.mark.parametrize(("op_type", "dtypes"), [("RESIZE_NEAREST_NEIGHBOR", NEAREST_DTYPES),
                                                 ("RESIZE_BILINEAR", ("int8",))])
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_c_matches_reference(host_runtime, op_type, dtypes, data):
    graph, inputs = data.draw(cases(op_type, dtypes))
    assert_same(run_c(host_runtime, graph, inputs), run_ref(graph, inputs), "C vs reference")


@pytest.mark.parametrize(("op_type", "dtypes"), [("RESIZE_NEAREST_NEIGHBOR", NEAREST_DTYPES),
                                                 ("RESIZE_BILINEAR", ("int8",))])
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_reference_matches_tflite(op_type, dtypes, data):
    graph, inputs = data.draw(cases(op_type, dtypes))
    assert_same(run_ref(graph, inputs), run_tflite(graph, inputs), "reference vs tflite-runtime BUILTIN_REF")


@pytest.mark.parametrize(("op_type", "dtypes"), [("RESIZE_NEAREST_NEIGHBOR", ("int8", "int16")),
                                                 ("RESIZE_BILINEAR", ("int8",))])
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_reference_matches_tflm(op_type, dtypes, data):
    graph, inputs = data.draw(cases(op_type, dtypes))
    assert_same(run_ref(graph, inputs), run_tflm(graph, inputs), "reference vs TFLite Micro")


def test_nearest_tables_by_hand():
    # x2 upsampling repeats each row; half-pixel centres and align_corners move where the repeats fall.
    assert nearest_indices(3, 6, False, False).tolist() == [0, 0, 1, 1, 2, 2]
    assert nearest_indices(3, 5, True, False).tolist() == [0, 1, 1, 2, 2]  # round(v * 0.5): 0.5 -> 1, 1.5 -> 2
    assert nearest_indices(4, 2, False, True).tolist() == [1, 3]
    assert nearest_indices(1, 4, True, False).tolist() == [0, 0, 0, 0]


def test_bilinear_scale_and_border_weights():
    assert scale_10(3, 6, False) == 512 and scale_10(5, 3, True) == 2048 and scale_10(2, 3, False) == 683
    # Half-pixel centres put the outputs of a x2 upsampling of a column (0, 100) at -0.25, 0.25, 0.75, 1.25 px:
    # beyond the borders both neighbours are the border pixel, inside the weights are 3/4 and 1/4.
    p = ResizeBilinearParams(1, 2, 1, 4, 1, 1, 512, 1024, 1)
    out = resize_bilinear_s8_ref(p, np.array([0, 100], np.int8)).reshape(-1)
    assert out.tolist() == [0, 25, 75, 100]


@pytest.mark.parametrize(
    ("op_type", "kwargs", "message"),
    [
        ("RESIZE_BILINEAR", dict(dtype="int16"), "only int8"),
        ("RESIZE_BILINEAR", dict(align=True, half=True), "both align_corners and half_pixel_centers"),
        ("RESIZE_NEAREST_NEIGHBOR", dict(dtype="int8", rank3=True), "rank-3"),
    ],
)
def test_refusals(op_type, kwargs, message):
    rank3 = kwargs.pop("rank3", False)
    graph = resize_graph(op_type, (1, 2, 2, 1), (4, 4), **kwargs)
    if rank3:
        graph.tensors[0] = Tensor(0, "x", (2, 2, 1), "int8", QUANT["int8"])
    with pytest.raises(Unsupported, match=message):
        lower(graph)


@pytest.mark.parametrize("op_type", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
@pytest.mark.parametrize(("align", "half"), [(False, False), (True, False), (False, True)])
def test_options_survive_write_and_read(op_type, align, half):
    from codegen.frontend.tflite_reader import parse_tflite
    from codegen.frontend.tflite_writer import write_tflite

    graph = resize_graph(op_type, (1, 2, 2, 1), (4, 4), align=align, half=half)
    (op,) = parse_tflite(write_tflite(graph)).operators
    assert op.options == {"align_corners": align, "half_pixel_centers": half}
