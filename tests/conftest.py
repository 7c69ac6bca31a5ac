"""Shared test fixtures: tiny models, generated images, and the optional ../shared/data folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KERAS_SRGAN_DATA", REPO.parent / "shared" / "data"))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``keras-srgan *argv`` in-process: (exit code, stdout, stderr)."""
    from keras_srgan.cli import main

    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def nearest_model():
    """A stand-in generator whose x4 output is its input repeated 4x4 ([0, 1] in and out): exact expectations."""
    import keras

    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.UpSampling2D(4)])


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the benchmark images beside the repo); not present here")
    return path


@pytest.fixture(scope="session")
def tiny_generator():
    """A 2-block, 8-filter x4 SRResNet: same code path as the real one, milliseconds per call."""
    import keras

    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(0)  # fixed weights: tests that measure the model's output repeat exactly
    return build_generator(scale=4, num_blocks=2, filters=8)


@pytest.fixture
def tiny_weights(tmp_path, tiny_generator):
    """The tiny generator written as a run-style ``generator.weights.h5`` + ``generator.json``."""
    from keras_srgan.weights import write_generator

    weights_path, _ = write_generator(tiny_generator, tmp_path / "generator")
    return weights_path


def smooth_image(height: int, width: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    """A uint8 test image with smooth structure and some texture (not pure noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for c in range(channels):
        fx, fy = rng.uniform(0.02, 0.15, size=2)
        plane = 0.5 + 0.3 * np.sin(fx * x + c) * np.cos(fy * y) + 0.05 * rng.standard_normal((height, width))
        planes.append(plane)
    img = np.clip(np.stack(planes, axis=-1), 0, 1)
    return (img * 255).round().astype(np.uint8)


@pytest.fixture
def image_folder(tmp_path):
    """A folder of five 64x80 PNG images."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(smooth_image(64, 80, seed=i)).save(folder / f"img{i}.png")
    return folder
