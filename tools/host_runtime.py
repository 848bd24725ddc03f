"""Build mcu_runtime for the host as a shared library and call its kernels through ctypes.

Used by the tests to check each C kernel against the NumPy reference with the very KernelCall the
compiler emits; the build is keyed by a hash of the sources, so edits rebuild automatically.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np

from codegen.kernels.base import KernelParams
from codegen.paths import HOST_BUILD_DIR, RUNTIME_DIR, runtime_headers, runtime_include_flags, runtime_sources

HOST_CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-ffp-contract=off"]


def _sources_digest(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sources + runtime_headers():
        # the path inside the runtime, so moving a file between groups rebuilds too
        name = path.relative_to(RUNTIME_DIR) if path.is_relative_to(RUNTIME_DIR) else path.name
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_host_library(extra_sources: list[Path] | None = None, out_dir: Path = HOST_BUILD_DIR) -> Path:
    sources = runtime_sources() + list(extra_sources or [])
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / f"libmcu_runtime-{_sources_digest(sources)}.so"
    if not lib.exists():
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        cmd = ["gcc", *HOST_CFLAGS, *runtime_include_flags(), *map(str, sources), "-o", str(tmp), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        tmp.replace(lib)  # atomic: concurrent test workers never load a half-written library
    return lib


def build_host_archive(out_dir: Path = HOST_BUILD_DIR) -> Path:
    """mcu_runtime as a static archive of position-independent objects, for linking generated models."""
    sources = runtime_sources()
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"libmcu_runtime-{_sources_digest(sources)}.a"
    if not archive.exists():
        obj_dir = out_dir / f"obj-{os.getpid()}"
        obj_dir.mkdir(exist_ok=True)
        objects = []
        for src in sources:
            obj = obj_dir / (src.stem + ".o")
            flags = [f for f in HOST_CFLAGS if f != "-shared"]
            cmd = ["gcc", *flags, *runtime_include_flags(), "-c", str(src), "-o", str(obj)]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            objects.append(str(obj))
        tmp = archive.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(["ar", "rcs", str(tmp), *objects], check=True, capture_output=True, text=True)
        tmp.replace(archive)
        for obj in objects:
            Path(obj).unlink()
        obj_dir.rmdir()
    return archive


class HostRuntime:
    """The host build of mcu_runtime, loaded once per process."""

    def __init__(self, lib_path: Path | None = None):
        self.lib = ctypes.CDLL(str(lib_path or build_host_library()))

    def run(
        self,
        kernel: str,
        params: KernelParams | None,
        arrays: list[np.ndarray],
        out_shape: tuple[int, ...],
        out_dtype: type,
        scratch_bytes: int = 0,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Call `kernel(params, *arrays, out[, scratch])` and return `out`.

        `arrays` are the inputs then the constants, in C argument order. Pass `out` to test in-place use.
        """
        fn = getattr(self.lib, kernel)
        fn.restype = None
        arrays = [np.ascontiguousarray(a) for a in arrays]
        if out is None:
            out = np.zeros(out_shape, dtype=out_dtype)
        args: list = []
        struct = None
        if params is not None:
            struct = params.to_ctypes()
            args.append(ctypes.byref(struct))
        args += [ctypes.c_void_p(a.ctypes.data) for a in arrays]
        args.append(ctypes.c_void_p(out.ctypes.data))
        scratch = None
        if scratch_bytes:
            scratch = np.zeros(scratch_bytes, dtype=np.int8)
            args.append(ctypes.c_void_p(scratch.ctypes.data))
        fn(*args)
        return out
