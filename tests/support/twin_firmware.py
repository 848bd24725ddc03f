"""One emulated-twin build tree reused for many compilations of a model, so that a sweep of schedules in the
firmware costs a model rebuild each, not a whole firmware: every compilation rewrites only model/ (files that
did not change keep their time stamps) and make recompiles what changed; the kernel library, firmware and board
layer are compiled once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codegen.emit.firmware_tree import make, write_tree
from codegen.ir import NUMPY_DTYPES
from codegen.pipeline import CompiledModel
from codegen.targets.boards import Board
from tools.link.emulator import Emulator


class TwinFirmware:
    def __init__(self, root: Path, board: Board):
        self.root, self.board = root, board

    def run(self, compiled: CompiledModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Build `compiled` for the board's emulated twin, run one inference in QEMU, return the outputs."""
        return self.run_each(compiled, [inputs])[0]

    def run_each(self, compiled: CompiledModel, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """As run(), one inference per sample in one emulator session."""
        model_dir = self.root / "model"
        if not model_dir.exists():
            write_tree(self.root, compiled.sources.files, self.board.emulator_layer)
        else:
            for stale in set(p.name for p in model_dir.iterdir()) - set(compiled.sources.files):
                (model_dir / stale).unlink()
            for name, text in compiled.sources.files.items():
                path = model_dir / name
                if not path.exists() or path.read_text() != text:
                    path.write_text(text)
        make(self.root, self.board.stack_bytes, f"{compiled.graph.name} on {self.board.name}'s emulated twin")
        graph = compiled.graph
        outputs = []
        with Emulator(self.root / "firmware.elf", machine=self.board.qemu_machine) as emu:
            emu.link.expect_model(compiled.hash8, compiled.graph.name)
            for inputs in samples:
                raw, _ = emu.link.infer(inputs)
                outputs.append([np.frombuffer(r, NUMPY_DTYPES[graph.tensor(i).dtype]).reshape(graph.tensor(i).shape)
                                for r, i in zip(raw, graph.outputs, strict=True)])
        return outputs
