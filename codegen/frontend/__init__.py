"""Frontends: float networks from PyTorch, Keras and float TFLite -> the float IR (float_graph.py), which
codegen/quantize turns into an int8 graph. Each frontend imports its framework only when used."""

from __future__ import annotations

from pathlib import Path

from codegen.errors import ModelError
from codegen.ir import Graph

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
TORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ts", ".torchscript", ".jit")


def model_kind(spec: str | Path) -> str:
    """'tflite', 'keras' or 'torch' (a file, or a "module:function" factory)."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return "tflite"
    if suffix in KERAS_SUFFIXES:
        return "keras"
    if suffix in TORCH_SUFFIXES or (not path.exists() and ":" in str(spec)):
        return "torch"
    raise ModelError(f"{spec}: unsupported model format '{suffix or str(spec)}' (expected .tflite, .keras/.h5, "
                     ".pt2 or TorchScript .pt, or module:function)")


def float_reason(spec: str | Path) -> str | None:
    """Why `spec` is a float model that needs quantizing (--calib), or None for an int8 .tflite (or a TFLM
    audio front end), which goes straight to the compiler."""
    kind = model_kind(spec)
    if kind == "keras":
        return "a Keras model computes in float32"
    if kind == "torch":
        return "a PyTorch model computes in float32"
    from codegen.frontend.tflite_float import first_float_operator
    from codegen.frontend.tflite_reader import read_tflite

    graph = read_tflite(spec)
    if any(o.op_type.startswith("CUSTOM:Signal") for o in graph.operators):
        # TFLM's audio front end (signal-library ops): it runs as it is, its float ops (CAST, MUL) included;
        # quantizing it would change what it computes. The compiler names whatever does not lower.
        return None
    op = first_float_operator(graph)
    return None if op is None else f"{op.describe()} computes in float32"


def needs_quantization(spec: str | Path) -> bool:
    return float_reason(spec) is not None


def load_float_model(spec: str | Path, sample_shape: tuple[int, ...] | None = None) -> Graph:
    """The float IR of a model. `sample_shape` (one input sample in the firmware layout, e.g. H x W x C) is
    needed by formats that do not record their input shape (TorchScript, module:function)."""
    kind = model_kind(spec)
    if kind == "tflite":
        from codegen.frontend.tflite_float import load_float_tflite

        return load_float_tflite(Path(spec))
    if kind == "keras":
        from codegen.frontend.keras_frontend import load_keras

        if not Path(spec).is_file():
            raise ModelError(f"cannot read model {spec}: no such file")
        return load_keras(Path(spec))
    from codegen.frontend.torch_frontend import load_torch_model

    if Path(spec).suffix and not Path(spec).is_file() and ":" not in str(spec):
        raise ModelError(f"cannot read model {spec}: no such file")
    return load_torch_model(spec, sample_shape)
