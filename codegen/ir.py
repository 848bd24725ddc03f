"""The compiler's intermediate representation: a graph of tensors and operators.

It is a faithful, typed copy of one TFLite subgraph: nothing is lowered here, so every later stage
(validation, reference execution, planning, C emission) reads the same facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A custom op's options key for a blob that is not a flexbuffer map (kept byte for byte so it writes back).
CUSTOM_RAW = "custom_options_raw"

# Dtype names as the project spells them; the reader maps TFLite's enum onto these.
NUMPY_DTYPES: dict[str, type] = {
    "float32": np.float32,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,  # TFLM's signal ops (SignalFilterBank's output)
    "bool": np.bool_,
}
ITEMSIZE: dict[str, int] = {name: np.dtype(t).itemsize for name, t in NUMPY_DTYPES.items()}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis` channel."""

    scale: tuple[float, ...]  # each value is exactly a float32, widened to Python float
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = None  # set for constant tensors (weights, biases, shape operands)
    # A variable tensor (TFLite's is_variable, e.g. SVDF's state): zero at start, kept from one invoke to the
    # next, so it never shares memory with anything else.
    is_variable: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # planning asks this hundreds of thousands of times: no NumPy call

    @property
    def nbytes(self) -> int:
        return self.size * ITEMSIZE[self.dtype]

    @property
    def scale(self) -> float:
        """Per-tensor scale; raises for per-channel or unquantized tensors."""
        if self.quant is None or self.quant.per_channel:
            raise ValueError(f"tensor {self.index} ({self.name}) has no per-tensor scale")
        return self.quant.scale[0]

    @property
    def zero_point(self) -> int:
        if self.quant is None:
            raise ValueError(f"tensor {self.index} ({self.name}) is not quantized")
        return self.quant.zero_point[0]


@dataclass
class Operator:
    index: int  # position in the model's execution order, as TFLite numbers it
    op_type: str  # builtin name, e.g. "CONV_2D"; "CUSTOM:<code>" for custom ops
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"operator {self.index} ({self.op_type})"


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "model"
    # view tensor -> (base tensor, byte offset): a view names bytes inside its base's buffer (the line buffers of
    # cached patch execution). Views are never planned on their own.
    views: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Graph inputs read piecewise while the model runs (model_read_input() in the generated C): never held
    # whole in SRAM, so the planner gives them no buffer. Only read_input_window calls read them.
    streamed_inputs: tuple[int, ...] = ()

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def operator(self, index: int) -> Operator:
        """The operator TFLite numbered `index` (graph passes may remove operators, so not a list position)."""
        for op in self.operators:
            if op.index == index:
                return op
        raise KeyError(f"no operator {index} in {self.name}")

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]
