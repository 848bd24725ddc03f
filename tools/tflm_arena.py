"""Measure the arena TensorFlow Lite Micro plans for a model, with the tflite-micro Python package.

TFLM prints its allocation record from C++, so the output is captured at the file-descriptor level.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path


def tflm_arena_bytes(model: Path) -> int:
    """Total arena bytes ('Arena allocation total') TFLM's RecordingMicroAllocator reports for `model`."""
    from tflite_micro.python.tflite_micro import runtime

    # TFLM sizes its default arena from the file size, too small for activation-heavy models.
    interpreter = runtime.Interpreter.from_file(str(model), arena_size=16 * 1024 * 1024)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}  # TFLM's MicroPrintf may write to either
    with tempfile.TemporaryFile(mode="w+") as capture:
        for fd in saved:
            os.dup2(capture.fileno(), fd)
        try:
            interpreter.print_allocations()
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
        capture.seek(0)
        text = capture.read()
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    if not match:
        raise RuntimeError(f"no arena total in TFLM's allocation report for {model}")
    return int(match.group(1))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{Path(arg).name}: {tflm_arena_bytes(Path(arg))}")
