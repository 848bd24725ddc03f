"""scripts/measure_mixed_precision.py: the measurement on a toy chain (figures that follow from the choices), its
schedule cache and accuracy on labelled data, and the real models' inputs and paths on a few samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codegen.passes.fuse_pad import fuse_pads
from codegen.passes.lowering import lower_graph
from codegen.quantize import mixed_precision as mp
from codegen.reference_executor import run_reference
from scripts.measure_mixed_precision import SHARED_MODELS, Data, cache_key, image_data, main, measure
from tests.support.model_factory import conv_chain

pytest.importorskip("sklearn")
PERSON = SHARED_MODELS / "tflm_person_detect.tflite"
MCUNET = SHARED_MODELS / "tinyengine_mcunet_vww.tflite"


def _samples(seed: int, n: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, (1, 8, 8, 1)).astype(np.int8)] for _ in range(n)]


def test_measure_toy_chain(capsys):
    graph = conv_chain(8, (3, 3, 1), scale=4.0)
    data = Data(graph, _samples(0, 6), _samples(1, 5))
    # lambda 1: entropy alone, every map keeps 8 bits: no saving, and the mixed result is the int8 one
    kept = measure("toy", data, 1 << 20, mp.MixedPrecisionOptions(lam=1.0))
    assert kept["ratio"] == 1.0 and kept["agreement"] == 1.0
    # lambda 0: bit operations alone, 2 bits: fewer bit operations on the low-bit patches
    low = measure("toy", data, 1 << 20, mp.MixedPrecisionOptions(lam=0.0))
    assert set(low["bits"].values()) == {2} and low["ratio"] > 1.0
    # lambda 1 with a target: lowered past the score
    target = measure("toy", data, 1 << 20, mp.MixedPrecisionOptions(lam=1.0, bitops_target=0.01))
    assert 2 in target["bits"].values() and target["ratio"] > 1.0
    assert "top-1 agreement with int8" in capsys.readouterr().out


def test_accuracy_on_labels_and_the_schedule_cache(tmp_path, capsys):
    graph = conv_chain(8, (3, 3, 1), scale=4.0)
    test = _samples(1, 6)
    # labels: the int8 reference's own top-1 for the first four samples, another class for the last two
    top = [int(np.argmax(run_reference(graph, x, lower_graph(graph))[0])) for x in test]
    labels = np.array(top[:4] + [(t + 1) % 64 for t in top[4:]])
    cache = tmp_path / "schedules.json"
    options = mp.MixedPrecisionOptions(lam=0.0)
    first = measure("toy", Data(graph, _samples(0, 6), test, labels), 1 << 20, options, cache)
    assert first["accuracy_int8"] == pytest.approx(4 / 6)
    assert "held-out accuracy: int8 4/6" in capsys.readouterr().out
    # the mixed top-1 is right where it agrees with a right int8 one, and may be right elsewhere by chance
    assert first["accuracy_mixed"] >= first["accuracy_int8"] - (1 - first["agreement"])
    known = json.loads(cache.read_text())
    assert list(known) == [cache_key("toy", lower_graph(fuse_pads(graph)), 1 << 20)]
    again = measure("toy", Data(graph, _samples(0, 6), test, labels), 1 << 20, options, cache)
    assert "(cached)" in capsys.readouterr().out and again["schedule"] == first["schedule"]


def _pinned(tmp_path, name, graph, budget, split, grid):
    """A cache holding the schedule the search picks at `budget` (README), so the test does not search."""
    cache = tmp_path / "schedules.json"
    key = cache_key(name, lower_graph(fuse_pads(graph)), budget)
    cache.write_text(json.dumps({key: {"split": split, "grid": list(grid), "describe": "pinned"}}))
    return cache


@pytest.mark.skipif(not PERSON.exists(), reason="needs ../shared/models/tflm_person_detect.tflite")
def test_person_detect_path_on_a_few_grayscale_images(tmp_path, capsys):
    data = image_data("person_detect", calib_count=3, test_count=2)
    assert [x[0].shape for x in data.calib] == [(1, 96, 96, 1)] * 3 and data.test[0][0].dtype == np.int8
    # the person bmp enters exactly as TFLM's golden vector for it (p - 128)
    golden = np.load(SHARED_MODELS / "vectors" / "tflm_person_detect__tflm_person.npz")["in0"]
    np.testing.assert_array_equal(data.calib[0][0], golden)
    cache = _pinned(tmp_path, "person_detect", data.graph, 32 * 1024, 7, (2, 4))
    figures = measure("person_detect", data, 32 * 1024, mp.MixedPrecisionOptions(), cache)
    assert figures["schedule"] == {"split_call": 7, "grid": [2, 4]} and figures["ratio"] > 1.0
    assert "person_detect: budget 32,768 B, pinned (cached)" in capsys.readouterr().out


@pytest.mark.skipif(not MCUNET.exists(), reason="needs ../shared/models/tinyengine_mcunet_vww.tflite")
def test_mcunet_vww_path_on_a_few_float_images(tmp_path, capsys):
    data = image_data("mcunet_vww", calib_count=2, test_count=1)
    x = data.calib[0][0]
    assert x.shape == (1, 80, 80, 3) and x.dtype == np.float32
    # the float input quantizes (its QUANTIZE: scale s, zero point 0) to p - 128 exactly: pixels of the decoded bmp
    scale = data.graph.tensor(data.graph.operators[0].outputs[0]).scale
    q = x / np.float32(scale)
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    assert q.min() >= -128 and q.max() <= 127 and len(np.unique(np.round(q))) > 100
    cache = _pinned(tmp_path, "mcunet_vww", data.graph, 100 * 1024, 6, (3, 4))
    figures = measure("mcunet_vww", data, 100 * 1024, mp.MixedPrecisionOptions(), cache)
    assert figures["schedule"] == {"split_call": 6, "grid": [3, 4]} and figures["ratio"] > 1.0
    assert "mcunet_vww: budget 102,400 B, pinned (cached)" in capsys.readouterr().out


@pytest.mark.skipif(not PERSON.exists(), reason="needs ../shared/models/tflm_person.bmp")
def test_varied_images_start_with_the_bmps_and_their_mirror_images():
    from scripts.measure_mixed_precision import tflm_bmp, varied_images

    images = varied_images(9, 3, size=32, gray=True)
    assert images.shape == (9, 32, 32) and images.dtype == np.uint8
    person = np.asarray(__import__("PIL.Image").Image.fromarray(tflm_bmp("person")).resize((32, 32), 2))
    np.testing.assert_array_equal(images[0], person)  # bilinear (PIL 2), as varied_images resizes
    assert not np.array_equal(images[0], images[2]) and len({im.tobytes() for im in images}) == 9
    np.testing.assert_array_equal(images, varied_images(9, 3, size=32, gray=True))  # seeded


@pytest.mark.parametrize(("argv", "message"), [
    (["--clip-percentile", "0"], "error: clip percentile 0.0 is not in (0, 100]"),
    (["--mp-bitops-target", "1.5"], "error: bit-operation target 1.5 is not a fraction of int8 in (0, 1]"),
    (["--models", "vww,resnet"], "error: unknown model resnet (known: digits, vww, person_detect, mcunet_vww)"),
])
def test_bad_options_are_refused_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(message)
