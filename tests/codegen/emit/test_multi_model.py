"""Several models' generated C in one firmware (codegen/emit/multi_model.py): every global name prefixed per
model, one shared arena, and the objects link together without a clash (host gcc, relocatable link)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from codegen.emit.multi_model import SHARED_ARENA, ModelPart, combine_models, model_prefixes
from codegen.frontend.tflite_writer import write_tflite
from codegen.paths import runtime_include_flags
from codegen.pipeline import compile_graph
from tests.codegen.kernels.sequence.test_svdf_model import _two_svdfs


def _part(name: str, streamed: bool = False) -> tuple[ModelPart, int]:
    graph = _two_svdfs()
    graph.name = name
    c = compile_graph(graph, write_tflite(graph))
    part = ModelPart(name, c.sources, c.plan.arena_bytes, len(c.graph.inputs), len(c.graph.outputs), streamed)
    return part, c.plan.arena_bytes


def test_prefixes_are_identifiers_and_distinct() -> None:
    assert model_prefixes(["kws", "Pre-Proc", "kws"]) == ["model_kws", "model_pre_proc", "model_kws_2"]


def test_two_copies_of_a_model_link_into_one_image(tmp_path: Path) -> None:
    (a, need), (b, _) = _part("svdf"), _part("svdf")  # the same names and weights twice: the worst case
    files = combine_models([a, b])
    assert sorted(files) == sorted(["model.h", "model.c", *[f"model_svdf{s}" for s in (".h", ".c", "_weights.h",
                                   "_weights.c")], *[f"model_svdf_1{s}" for s in (".h", ".c", "_weights.h",
                                   "_weights.c")]])
    header = files["model.h"]
    assert "#define MODEL_COUNT 2" in header and f"#define MODEL_SHARED_ARENA_BYTES {need}" in header
    assert "#define MODEL_LIST(X) X(model_svdf, MODEL_SVDF) X(model_svdf_1, MODEL_SVDF_1)" in header
    for name, text in files.items():
        if name in ("model.h", "model.c"):
            continue
        assert not re.search(r"\bmodel_(invoke|reset|input|output|name|hash|arena)\b", text), name
        assert not re.search(r"\bMODEL_(NUM_INPUTS|ARENA_BYTES|STATE_BYTES)\b", text), name
    assert SHARED_ARENA in files["model_svdf.c"] and "static uint8_t model_state[" in files["model_svdf_1.c"]
    if shutil.which("gcc") is None:
        pytest.skip("no host gcc")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    objects = []
    for name in files:
        if name.endswith(".c"):
            obj = tmp_path / (name[:-2] + ".o")
            subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-c", "-I", str(tmp_path),
                            *runtime_include_flags(), str(tmp_path / name), "-o", str(obj)], check=True)
            objects.append(str(obj))
    # A relocatable link of all the models' objects fails on any symbol defined twice.
    subprocess.run(["gcc", "-r", "-nostdlib", "-o", str(tmp_path / "all.o"), *objects], check=True)


def test_refusals() -> None:
    a, _ = _part("a")
    with pytest.raises(ValueError, match="two models or more"):
        combine_models([a])
    s, _ = _part("s", streamed=True)
    with pytest.raises(ValueError, match="model s streams its input"):
        combine_models([a, s])
