"""Single-operator checks for the 16x8 kernel property tests: lower one op with the whole registry (variants
included), run it through the NumPy reference and the host-built C kernels, and through TFLite Micro and
tflite-runtime (BUILTIN_REF) on the same graph written with codegen.frontend.tflite_writer."""

from __future__ import annotations

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import REFERENCES
from tests.support import single_op
from tests.support.single_op import lower
from tools.host_runtime import HostRuntime


def reference_and_c(host_runtime: HostRuntime, graph: Graph, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The op's output from the NumPy reference and from the C kernel, each from the same KernelCall."""
    (call,) = lower(graph)
    env = dict(zip(graph.inputs, values, strict=True))
    args = [np.asarray(env[i]) for i in call.inputs] + [c.data for c in call.consts]
    out_t = graph.tensor(call.outputs[0])
    dtype = NUMPY_DTYPES[out_t.dtype]
    ref = np.asarray(REFERENCES[call.kernel](call.params, *args)).reshape(out_t.shape)
    c_out = host_runtime.run(call.kernel, call.params, args, out_t.shape, dtype, call.scratch_bytes)
    assert ref.dtype == dtype
    return ref, c_out


def run_tflm(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    """The single op's output from TFLite Micro."""
    return single_op.run_tflm(graph, values)[0]


def run_tflite_ref(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    """The single op's output from tflite-runtime with its reference kernels."""
    return single_op.run_tflite(graph, values)[0]


def check_single_op(host_runtime: HostRuntime, graph: Graph, values: list[np.ndarray],
                    oracles: tuple[str, ...] = ("tflm", "tflite")) -> np.ndarray:
    """C == reference, and reference == each oracle runtime, bit for bit. Returns the output."""
    ref, c_out = reference_and_c(host_runtime, graph, values)
    np.testing.assert_array_equal(c_out, ref, err_msg="C kernel differs from the NumPy reference")
    runners = {"tflm": run_tflm, "tflite": run_tflite_ref}
    for name in oracles:
        truth = np.asarray(runners[name](graph, values)).reshape(ref.shape)
        assert truth.dtype == ref.dtype, name
        np.testing.assert_array_equal(ref, truth, err_msg=f"NumPy reference differs from {name}")
    return ref
