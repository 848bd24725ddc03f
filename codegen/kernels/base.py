"""What a lowered operator looks like: a call of one mcu_runtime kernel with constant parameters.

Every kernel family module (one per file in this package) provides
  LOWERINGS:  op type -> function(op, graph) -> list[KernelCall]   (raise Unsupported to refuse)
  REFERENCES: kernel name -> NumPy function(params, *inputs, *consts) -> output array
and the C side `mcu_runtime/<group>/<family>.c` implements
  void <kernel>(const <params C type> *p, <inputs...>, <consts...>, <outputs...>[, scratch]);
The same KernelCall drives the NumPy reference executor, the host (ctypes) tests and the C emitter, so the
parameter derivation (TFLite's quantization arithmetic) is written exactly once.
"""

from __future__ import annotations

import ctypes
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from codegen.ir import Graph, Operator, Tensor

_CTYPES = {
    "int8_t": ctypes.c_int8,
    "uint8_t": ctypes.c_uint8,
    "int16_t": ctypes.c_int16,
    "uint16_t": ctypes.c_uint16,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
}


class Unsupported(Exception):
    """Raised by a lowering for a configuration the kernels do not implement; the text says what."""


def cfield(ctype: str, default: Any = dataclasses.MISSING) -> Any:
    """A params field mirrored by a C struct member of type `ctype`, in declaration order."""
    if ctype not in _CTYPES:
        raise ValueError(f"unknown C type {ctype}")
    return field(default=default, metadata={"c": ctype})


@dataclass(frozen=True)
class KernelParams:
    """Base of every params dataclass. Subclasses set C_TYPE and declare fields with cfield()."""

    C_TYPE: ClassVar[str] = ""

    @classmethod
    def c_fields(cls) -> list[tuple[str, str]]:
        return [(f.name, f.metadata["c"]) for f in dataclasses.fields(cls)]

    @classmethod
    def ctypes_struct(cls) -> type[ctypes.Structure]:
        return type(cls.__name__ + "Struct", (ctypes.Structure,),
                    {"_fields_": [(n, _CTYPES[t]) for n, t in cls.c_fields()]})

    def to_ctypes(self) -> ctypes.Structure:
        struct = self.ctypes_struct()
        return struct(**{n: getattr(self, n) for n, _ in self.c_fields()})

    def c_initializer(self) -> str:
        parts = []
        for name, ctype in self.c_fields():
            value = getattr(self, name)
            parts.append(f".{name} = {_c_literal(value, ctype)}")
        return "{" + ", ".join(parts) + "}"


def _c_literal(value: Any, ctype: str) -> str:
    if ctype in ("float", "double"):
        text = repr(float(np.float32(value))) if ctype == "float" else repr(float(value))
        return text + ("f" if ctype == "float" else "")
    value = int(value)
    if ctype == "int32_t" and value == -(2**31):
        return "INT32_MIN"
    return str(value) + ("u" if ctype.startswith("uint") else "")


@dataclass
class ConstArray:
    """A constant operand placed in flash: weights laid out as the kernel reads them, biases, multipliers."""

    role: str  # short name used in the C symbol, e.g. "filter", "bias", "mult", "shift"
    data: np.ndarray


@dataclass
class KernelCall:
    kernel: str  # C function name, e.g. "conv2d_s8"
    params: KernelParams | None
    inputs: tuple[int, ...]  # activation tensors read, in C argument order
    consts: tuple[ConstArray, ...]
    outputs: tuple[int, ...]
    op_index: int  # the IR operator this call came from
    macs: int = 0
    scratch_bytes: int = 0  # when > 0 the kernel takes an int8_t* scratch buffer as its last argument
    in_place: bool = False  # the output may occupy the same bytes as inputs[0] (element-wise kernels)
    # Set when the output is exactly the bytes of inputs[0] from this byte offset on, unchanged (RESHAPE, SQUEEZE,
    # EXPAND_DIMS, a SLICE or SPLIT of contiguous bytes): the memory planner may then make the output a view of the
    # input and drop the call. The kernel must still compute the output when it is not dropped.
    alias_offset: int | None = None


def persistent_state(graph: Graph, op: Operator, role: str, shape: tuple[int, ...], dtype: str) -> int:
    """The index of a variable tensor holding `op`'s internal state (e.g. TFLM's SignalFilterBankSpectralSubtraction
    keeps its noise estimate in a persistent buffer of the op, not in a model tensor): created on the first
    lowering of the op, found again on later ones. From then on it is like SVDF's state tensor: zero at start,
    kept in model_state across invokes, zeroed by model_reset(), carried by the reference executor's `state`.
    The call reads it as an input and writes it as an output (the same tensor)."""
    name = f"op{op.index}_{role}_state"
    for t in graph.tensors:
        if t.name == name and t.is_variable:
            if t.shape != tuple(shape) or t.dtype != dtype:
                raise Unsupported(f"state {name} exists with shape {t.shape} {t.dtype}, not {shape} {dtype}")
            return t.index
    index = len(graph.tensors)
    graph.tensors.append(Tensor(index, name, tuple(shape), dtype, is_variable=True))
    return index
