"""The Keras frontend (Keras 3 on its PyTorch backend, no TensorFlow): every supported layer type converts to a
float graph that computes what Keras computes, the quantized model (here with int8 I/O) builds and runs in the
emulator bit-exact with tflite-runtime on its quantized .tflite, Sequential and legacy .h5 files load, and an
unsupported layer is named with its class and position."""

from __future__ import annotations

import os

import numpy as np
import pytest

from codegen.errors import ModelError
from codegen.quantize.float_executor import run_float
from tests.codegen.quantize.test_quantizer import build_float_model, emulate_and_compare, quantize_for_test
from tools.cli import main

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
layers = keras.layers

from codegen.frontend import load_float_model  # noqa: E402


def _randomize_batchnorm(model: object, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape)])


def all_layers_model() -> object:
    """Every layer type the frontend supports, in one functional model."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3), name="image")
    r = layers.Rescaling(0.5, offset=-0.25)(inp)
    a = layers.Conv2D(8, 3, padding="same", use_bias=False)(r)
    a = layers.BatchNormalization()(a)
    a = layers.ReLU(max_value=6.0)(a)
    b = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=1, activation="relu")(a)
    s = layers.SeparableConv2D(8, 3, padding="same")(a)
    c = layers.Add()([b, s])
    c = layers.Activation("relu")(c)
    c = layers.ZeroPadding2D(((1, 0), (1, 0)))(c)
    c = layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu6")(c)
    m = layers.MaxPooling2D(2)(c)
    av = layers.AveragePooling2D(2, padding="same")(c)
    cat = layers.Concatenate()([m, av])
    mul = layers.Multiply()([cat, layers.Activation("sigmoid")(cat)])
    g1 = layers.GlobalAveragePooling2D()(mul)
    g2 = layers.GlobalMaxPooling2D()(cat)
    f = layers.Dropout(0.3)(layers.Flatten()(cat))
    d = layers.Dense(16, activation="relu")(f)
    d = layers.BatchNormalization()(d)
    d = layers.Concatenate()([d, g1, g2])
    rs = layers.Flatten()(layers.Reshape((4, 12))(d))
    o = layers.Dense(5)(rs)
    o = layers.Softmax()(o)
    model = keras.Model(inp, o)
    _randomize_batchnorm(model)
    return model


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory) -> tuple[object, object]:
    model = all_layers_model()
    path = tmp_path_factory.mktemp("keras") / "all_layers.keras"
    model.save(path)
    return model, path


def test_every_layer_converts_and_matches_keras(keras_file):
    model, path = keras_file
    graph = load_float_model(path)
    ops = {op.op_type for op in graph.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "MAX_POOL_2D", "AVERAGE_POOL_2D",
            "MEAN", "PAD", "RESHAPE", "CONCATENATION", "SOFTMAX", "LOGISTIC"} <= ops
    conv = next(op for op in graph.operators if op.op_type == "CONV_2D")
    assert conv.options["activation"] == "RELU6"  # BatchNormalization folded, ReLU(6) fused
    x = np.random.default_rng(0).standard_normal((4, 12, 12, 3)).astype(np.float32)
    want = np.asarray(model(x).detach().cpu())
    np.testing.assert_allclose(run_float(graph, [x])[graph.outputs[0]], want, rtol=1e-4, atol=1e-5)
    qgraph, _ = quantize_for_test(graph, np.random.default_rng(1).standard_normal((32, 12, 12, 3)).astype(np.float32))
    from codegen.reference_executor import run_reference

    got = np.concatenate([run_reference(qgraph, [x[i:i + 1]])[0] for i in range(len(x))])
    assert np.abs(got - want).max() < 0.03


@pytest.mark.emulator
def test_keras_builds_and_runs_bit_exact_with_int8_io(keras_file, tmp_path):
    _, path = keras_file
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((32, 12, 12, 3)).astype(np.float32))
    build_float_model(path, tmp_path / "calib.npz", tmp_path / "build", "--int8-io", "--calib-method", "percentile")
    from codegen.frontend.tflite_reader import read_tflite

    int8 = read_tflite(tmp_path / "build" / "model.tflite")
    assert int8.tensor(int8.inputs[0]).dtype == "int8" and int8.tensor(int8.outputs[0]).dtype == "int8"
    emulate_and_compare(tmp_path / "build", rng.standard_normal((3, 12, 12, 3)).astype(np.float32))


def test_sequential_and_legacy_h5(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(3)])
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 2)).astype(np.float32)
    want = np.asarray(model(x).detach().cpu())
    model.save(tmp_path / "seq.keras")
    model.save(tmp_path / "seq.h5")  # the legacy HDF5 format
    for name in ("seq.keras", "seq.h5"):
        graph = load_float_model(tmp_path / name)
        assert [op.op_type for op in graph.operators] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
        np.testing.assert_allclose(run_float(graph, [x])[graph.outputs[0]], want, rtol=1e-4, atol=1e-5)


def test_unsupported_layer_is_named(tmp_path, capsys):
    inp = keras.Input((8, 8, 3))
    y = layers.Conv2D(4, 3)(inp)
    y = layers.LeakyReLU(name="leaky")(y)
    y = layers.Conv2DTranspose(2, 3, name="up")(y)
    path = tmp_path / "bad.keras"
    keras.Model(inp, y).save(path)
    with pytest.raises(ModelError) as info:
        load_float_model(path)
    text = "\n".join(info.value.lines())
    assert "layer 2 'leaky' (LeakyReLU)" in text and "layer 3 'up' (Conv2DTranspose)" in text
    np.savez(tmp_path / "c.npz", x=np.zeros((2, 8, 8, 3), np.float32))
    status = main(["build", "--board", "nucleo-f746", "--model", str(path), "--calib", str(tmp_path / "c.npz"),
                   "--out", str(tmp_path / "o")])
    assert status == 2 and "'leaky' (LeakyReLU)" in capsys.readouterr().err
