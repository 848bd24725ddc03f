"""Compile generated model sources with the host compiler and run them through ctypes.

A fast check that the emitted C (not just the kernels) is bit-exact with the reference, and that it compiles
warning-free under -Wall -Wextra, before any firmware is built.
"""

from __future__ import annotations

import ctypes
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from codegen.ir import NUMPY_DTYPES, Graph
from codegen.paths import runtime_include_flags
from tools.host_runtime import HOST_CFLAGS, build_host_archive


class HostModel:
    """A generated model compiled into a host shared library."""

    def __init__(self, graph: Graph, sources: dict[str, str], work_dir: Path | None = None):
        self.graph = graph
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="codegen-host-")
            work_dir = Path(self._tmp.name)
        for name, text in {**sources, "host_input_source.c": _HOST_INPUT_SOURCE}.items():
            (work_dir / name).write_text(text)
        lib = work_dir / "libmodel.so"
        c_files = [str(work_dir / n) for n in [*sources, "host_input_source.c"] if n.endswith(".c")]
        cmd = ["gcc", *HOST_CFLAGS, "-I", str(work_dir), *runtime_include_flags(), *c_files,
               str(build_host_archive()), "-o", str(lib), "-lm"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"host compile of generated model failed:\n{result.stderr}")
        self.lib = ctypes.CDLL(str(lib))
        self.lib.model_input.restype = ctypes.c_void_p
        self.lib.model_input.argtypes = [ctypes.c_uint32]
        self.lib.model_output.restype = ctypes.c_void_p
        self.lib.model_output.argtypes = [ctypes.c_uint32]
        self.lib.model_invoke.restype = None
        self.lib.model_reset.restype = None
        self.lib.host_set_input.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
        self.lib.host_bytes_read.restype = ctypes.c_uint32
        self._held: list[np.ndarray] = []  # streamed inputs' bytes, alive while the model reads them

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self._held = []
        for i, (index, array) in enumerate(zip(self.graph.inputs, inputs, strict=True)):
            t = self.graph.tensor(index)
            data = np.ascontiguousarray(np.asarray(array, dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape))
            if index in self.graph.streamed_inputs:
                self._held.append(data)
                self.lib.host_set_input(i, data.ctypes.data)
            else:
                ctypes.memmove(self.lib.model_input(i), data.ctypes.data, data.nbytes)
        self.lib.model_invoke()
        outputs = []
        for i, index in enumerate(self.graph.outputs):
            t = self.graph.tensor(index)
            out = np.empty(t.shape, dtype=NUMPY_DTYPES[t.dtype])
            ctypes.memmove(out.ctypes.data, self.lib.model_output(i), out.nbytes)
            outputs.append(out)
        return outputs

    def reset(self) -> None:
        """model_reset(): variable tensors (SVDF's state) back to zero, as after loading."""
        self.lib.model_reset()

    @property
    def streamed_bytes_read(self) -> int:
        """Bytes model_read_input() has delivered since the library was loaded."""
        return int(self.lib.host_bytes_read())


# The application side of streamed inputs on the host: model_read_input() serves bytes from arrays that
# run() registers, and counts them.
_HOST_INPUT_SOURCE = """#include <stdint.h>
#include <string.h>

static const uint8_t *host_inputs[256];
static uint32_t bytes_read;

void host_set_input(uint32_t index, const uint8_t *data);
uint32_t host_bytes_read(void);
void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst);

void host_set_input(uint32_t index, const uint8_t *data) { host_inputs[index & 255u] = data; }
uint32_t host_bytes_read(void) { return bytes_read; }
void model_read_input(uint32_t index, uint32_t offset, uint32_t n, uint8_t *dst)
{
    memcpy(dst, host_inputs[index & 255u] + offset, n);
    bytes_read += n;
}
"""
