"""The bundled sample photos: present, small, licensed in SOURCES, shipped as package data, close to the originals."""

from __future__ import annotations

import configparser

import numpy as np
import pytest
from conftest import REPO

from keras_srgan import samples
from keras_srgan.errors import UserError


def test_every_photo_is_bundled_listed_in_sources_and_small():
    sources = (samples.FOLDER / "SOURCES").read_text()
    for name in samples.NAMES:
        assert samples.path(name).is_file()
        entry = next(line for line in sources.splitlines() if line.startswith(f"{name}.jpg"))
        assert entry  # one entry per file; the licence follows on its lines
    assert sources.count("public domain") + sources.count("CC0") >= len(samples.NAMES)
    total = sum(samples.path(n).stat().st_size for n in samples.NAMES)
    assert total < 500_000  # measured 444,479 bytes


def test_photos_are_package_data():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    patterns = cfg["options.package_data"]["keras_srgan.samples"]
    assert "*.jpg" in patterns and "SOURCES" in patterns


def test_load_gives_uint8_rgb_and_unknown_names_one_error():
    img = samples.load("astronaut")
    assert img.dtype == np.uint8 and img.shape == (512, 512, 3)
    with pytest.raises(UserError, match="no bundled sample photo 'lena'"):
        samples.load("lena")


def test_photos_match_scikit_image_originals():
    data = pytest.importorskip("skimage.data")
    for name in samples.NAMES:
        original = getattr(data, name)()[:, :, :3].astype(np.float64)
        ours = samples.load(name).astype(np.float64)
        assert ours.shape == original.shape
        mse = np.mean((ours - original) ** 2)
        # JPEG quality 95 re-encodes measured 40.3-43.1 dB; rocket is the original file (identical)
        assert mse == 0 if name == "rocket" else 10 * np.log10(255.0**2 / mse) > 40.0
