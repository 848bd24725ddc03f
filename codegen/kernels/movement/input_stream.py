"""Read a window of rows of a streamed model input: the first layer's new rows in cached band execution.

A streamed input is never held whole in SRAM (codegen build --stream-input): each band asks the application
for the rows it has not seen yet, row segment by row segment, through model_read_input() (the firmware gets
them from the host over the UART; a camera driver would hand over its lines). The call's one input is the
streamed graph input, which has no arena buffer: the emitter passes no pointer for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codegen.kernels.base import cfield
from codegen.kernels.movement.window_copy import (
    PlanarWindowParams,
    WindowCopyParams,
    copy_window_ref,
    planar_window_ref,
)

HEADER = "input_stream.h"


@dataclass(frozen=True)
class ReadInputParams(WindowCopyParams):
    """A window copy whose source is graph input `input` (offsets in bytes of that input)."""

    C_TYPE = "read_input_params_t"
    input: int = cfield("uint32_t", 0)


def read_input_window_ref(p: ReadInputParams, src: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return copy_window_ref(p, src, out)


@dataclass(frozen=True)
class ReadInputPlanarParams(PlanarWindowParams):
    """A window of a streamed NCHW graph input `input` read into an NHWC buffer: one model_read_input() request
    per channel and row (its `cols` bytes, in pieces of at most READ_INPUT_PIECE), scattered across the pixels."""

    C_TYPE = "read_input_planar_params_t"
    input: int = cfield("uint32_t", 0)


def read_input_planar_ref(p: ReadInputPlanarParams, src: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return planar_window_ref(p, src, out)


LOWERINGS: dict = {}  # only the cached band scheduler creates these calls
REFERENCES = {"read_input_window": read_input_window_ref, "read_input_planar": read_input_planar_ref}
