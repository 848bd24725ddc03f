"""Single-operator checks for the 16x8 kernel property tests: lower one op with the whole registry (variants
included), run it through the NumPy reference and the host-built C kernels, and through TFLite Micro and
tflite-runtime (BUILTIN_REF) on the same graph written with codegen.frontend.tflite_writer."""

from __future__ import annotations

import numpy as np

from codegen.frontend.tflite_writer import write_tflite
from codegen.ir import NUMPY_DTYPES, Graph
from codegen.kernels import REFERENCES
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
    from tflite_micro.python.tflite_micro import runtime

    arena = 65536 + 16 * sum(t.nbytes for t in graph.tensors)  # room for TFLM's scratch (int64 accumulators)
    interp = runtime.Interpreter.from_bytes(write_tflite(graph), arena_size=arena)
    for i, v in enumerate(values):
        interp.set_input(v, i)
    interp.invoke()
    return interp.get_output(0)


def run_tflite_ref(graph: Graph, values: list[np.ndarray]) -> np.ndarray:
    from tflite_runtime.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=write_tflite(graph), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for detail, v in zip(it.get_input_details(), values, strict=True):
        it.set_tensor(detail["index"], v)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


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
