"""Presets in Keras' convention: shipped weights, local folders, hf:// and kaggle:// handles (no network)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from conftest import smooth_image

import keras_srgan
from keras_srgan import weights
from keras_srgan.models import CompactSR, SRResNet, build_generator

LR = smooth_image(12, 10, seed=6).astype(np.float32)[None] / 255.0


@pytest.mark.parametrize("name", sorted(weights.shipped_weights()))
def test_every_shipped_preset_loads_with_keras_alone_in_safe_mode(name):
    folder = weights.WEIGHTS_DIR / name
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    import keras_srgan.models  # noqa: F401  (the package's registered classes)

    plain = keras.saving.load_model(folder, safe_mode=True, compile=False)
    ours = keras_srgan.from_preset(name)
    assert isinstance(plain, SRResNet | CompactSR) and type(plain) is type(ours)
    np.testing.assert_array_equal(plain(LR).numpy(), ours(LR).numpy())
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["sha256"] == weights.sha256_of(folder / "model.weights.h5") and meta["keras_version"]


@pytest.fixture
def preset(tmp_path):
    model = build_generator(arch="compact", num_convs=2, filters=8, upsampler="shuffle_blur")
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model, weights.write_preset(model, tmp_path / "org" / "tiny-real", extra={"note": "a test"})


def test_a_local_preset_folder_loads_by_path(preset):
    model, folder = preset
    loaded = keras_srgan.from_preset(folder)
    assert loaded.upsampler == "shuffle_blur" and weights.generator_config(
        loaded
    ) == weights.generator_config(model)
    np.testing.assert_array_equal(loaded(LR).numpy(), model(LR).numpy())
    assert json.loads((folder / "metadata.json").read_text())["note"] == "a test"


def test_hf_handles_go_through_keras_own_loader(preset, monkeypatch):
    """``hf://org/name``: Keras' ``load_model`` downloads with huggingface_hub, then loads the folder; the
    download is replaced by the local folder here (no network)."""
    huggingface_hub = pytest.importorskip("huggingface_hub", reason="the hub extra is not installed")
    model, folder = preset
    asked = []

    def snapshot_download(repo_id, **kwargs):
        asked.append(repo_id)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    loaded = keras_srgan.from_preset("hf://org/tiny-real")
    assert asked == ["org/tiny-real"]
    np.testing.assert_array_equal(loaded(LR).numpy(), model(LR).numpy())


def test_kaggle_handles_download_then_load(preset, monkeypatch):
    kagglehub = pytest.importorskip("kagglehub", reason="the hub extra is not installed")
    model, folder = preset
    monkeypatch.setattr(
        kagglehub, "model_download", lambda handle: str(folder) if handle == "org/tiny/keras/1" else ""
    )
    np.testing.assert_array_equal(
        keras_srgan.from_preset("kaggle://org/tiny/keras/1")(LR).numpy(), model(LR).numpy()
    )


def test_a_tampered_preset_fails_its_hash_and_a_lambda_is_refused(preset, tmp_path):
    _, folder = preset
    data = bytearray((folder / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 1
    (folder / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="SHA-256 mismatch"):
        keras_srgan.from_preset(folder)
    inputs = keras.Input((None, None, 3))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    unsafe.save(tmp_path / "unsafe", zipped=False)
    with pytest.raises(weights.WeightsError, match="cannot load the preset"):
        keras_srgan.from_preset(tmp_path / "unsafe")
