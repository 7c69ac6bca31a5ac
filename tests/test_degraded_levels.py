"""The named degraded benchmark levels (mild, strong, bilinear2jpeg): same seed -> same bytes, LR exactly
HR / 4, the levels differ, and their blur, noise and JPEG are really applied (measured on small synthetic HR)."""

from __future__ import annotations

import dataclasses
import json
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from PIL import Image

from keras_srgan.data.degradation import LEVELS, bicubic_downsample, degradation_level, make_degraded_set
from keras_srgan.metrics import blockiness

HR_SIZES = [(130, 258), (256, 256), (258, 131)]  # cropped to multiples of 4 first


def photo_like(height: int, width: int, seed: int) -> np.ndarray:
    """uint8 HR with smooth shading and flat-coloured rectangles (edges), no pixel noise: what blur, noise and
    JPEG do to it shows, unlike on a noise texture that any blur removes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.full((height, width, 3), 0.5, np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.02, 0.12, 2)
        img[..., c] += 0.2 * np.sin(fx * x + c) * np.cos(fy * y)
    for _ in range(12):
        y0, x0 = rng.integers(0, height - 20), rng.integers(0, width - 20)
        h, w = rng.integers(8, 60, 2)
        img[y0 : y0 + h, x0 : x0 + w] += rng.uniform(-0.25, 0.25, 3)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("HR")
    for i, (h, w) in enumerate(HR_SIZES):
        Image.fromarray(photo_like(h, w, seed=10 + i)).save(folder / f"im{i}.png")
    return folder


@pytest.fixture(scope="module")
def made(hr_dir, tmp_path_factory):
    """Every level made once with seed 5: {level: folder}."""
    root = tmp_path_factory.mktemp("degraded")
    return {level: make_degraded_set(hr_dir, root / level, seed=5, degradation=level) for level in LEVELS}


def _lr(folder, name: str) -> np.ndarray:
    with Image.open(folder / name) as img:
        return np.asarray(img)


def _hr01(i: int) -> tf.Tensor:
    h, w = HR_SIZES[i]
    return tf.constant(photo_like(h, w, seed=10 + i)[None, : h - h % 4, : w - w % 4] / 255.0, tf.float32)


def test_same_seed_same_bytes_and_the_manifest_says_how(hr_dir, made, tmp_path):
    for level, folder in made.items():
        again = make_degraded_set(hr_dir, tmp_path / level, seed=5, degradation=level)
        for i in range(len(HR_SIZES)):
            assert (folder / f"im{i}.png").read_bytes() == (again / f"im{i}.png").read_bytes(), level
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest == json.loads((again / "manifest.json").read_text())
        assert manifest["level"] == level and manifest["seed"] == 5
        assert manifest["degradation"] == json.loads(json.dumps(degradation_level(level).get_config()))
    other = make_degraded_set(hr_dir, tmp_path / "seed6", seed=6, degradation="mild")
    assert (other / "im0.png").read_bytes() != (made["mild"] / "im0.png").read_bytes()


def test_lr_is_exactly_hr_over_4(made):
    for folder in made.values():
        for i, (h, w) in enumerate(HR_SIZES):
            assert _lr(folder, f"im{i}.png").shape == (h // 4, w // 4, 3)


def test_levels_differ_and_strong_is_harsher_than_mild(made):
    hashes = {
        level: json.loads((folder / "manifest.json").read_text())["files"] for level, folder in made.items()
    }
    for name in hashes["mild"]:
        assert len({hashes[level][name]["sha256"] for level in LEVELS}) == len(LEVELS)
    distance = {level: 0.0 for level in LEVELS}
    for i in range(len(HR_SIZES)):
        clean = bicubic_downsample(_hr01(i), 4).numpy()[0]
        for level, folder in made.items():
            distance[level] += np.abs(_lr(folder, f"im{i}.png") / 255.0 - clean).mean()
    assert distance["strong"] > 1.2 * distance["mild"], distance  # measured 0.111 vs 0.085


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown degradation level 'medium'; one of mild, strong"):
        degradation_level("medium")


def _nearest_x4(lr: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)


def _highpass_var(lr: np.ndarray) -> float:
    """Variance of the image minus its 3x3 box mean (Y-ish: mean of channels): noise and ringing raise it."""
    y = lr.astype(np.float64).mean(axis=-1)
    box = sum(np.roll(np.roll(y, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return float((y - box)[1:-1, 1:-1].var())


def test_mild_and_strong_add_noise_and_jpeg_blocks_beyond_blur():
    """The same draw with noise and JPEG off (blur -> bicubic x1/4 only) against the level: the noise and the
    JPEG add high-pass energy, and the 8x8 LR blocks show as a 32-px lattice once the LR is x4-nearest-upsampled.
    """
    for level in ("mild", "strong"):
        knobs = degradation_level(level)
        quiet = dataclasses.replace(knobs, noise_sigma=(0.0, 0.0), jpeg_prob=0.0)
        for i in range(len(HR_SIZES)):
            # the blur is drawn first, so one seed gives both the same kernel
            lr, blurred = (
                np.round(np.clip(d(_hr01(i), keras.random.SeedGenerator(i)).numpy()[0], 0, 1) * 255).astype(
                    np.uint8
                )
                for d in (knobs, quiet)
            )
            assert _highpass_var(lr) > 1.2 * _highpass_var(blurred), (level, i)
            if min(lr.shape[:2]) >= 64:  # two 32-px lattice lines per axis after x4
                assert blockiness(_nearest_x4(lr)) > blockiness(_nearest_x4(blurred)) + 0.05, (level, i)


def test_bilinear2jpeg_is_bilinear_without_antialiasing_then_two_jpegs(made):
    knobs = degradation_level("bilinear2jpeg")
    no_jpeg = dataclasses.replace(knobs, jpeg_prob=0.0, jpeg_prob2=0.0)
    one_jpeg = dataclasses.replace(knobs, jpeg_prob2=0.0)
    for i in range(len(HR_SIZES)):
        hr = _hr01(i)
        size = (hr.shape[1] // 4, hr.shape[2] // 4)
        plain = no_jpeg(hr, keras.random.SeedGenerator(0)).numpy()
        # OpenCV's INTER_LINEAR / PyTorch's bilinear (align_corners=False, no antialias) = TensorFlow's
        expected = tf.image.resize(hr, size, "bilinear", antialias=False).numpy()
        np.testing.assert_allclose(plain, expected, rtol=0, atol=2e-6)
        lr = _lr(made["bilinear2jpeg"], f"im{i}.png")
        plain8 = np.round(plain[0] * 255).astype(np.uint8)
        assert np.abs(lr.astype(int) - plain8).mean() > 0.5  # the JPEGs changed it
        if min(lr.shape[:2]) >= 64:
            assert blockiness(_nearest_x4(lr)) > blockiness(_nearest_x4(plain8)) + 0.05, i
    # the second JPEG is a real second pass: one JPEG alone gives other bytes for the same draw
    hr = _hr01(1)
    twice = knobs(hr, keras.random.SeedGenerator(0)).numpy()
    once = one_jpeg(hr, keras.random.SeedGenerator(0)).numpy()
    assert np.abs(twice - once).max() > 0


def test_degraded_sets_script_makes_keeps_and_refuses(hr_dir, tmp_path, capsys):
    sys.path.insert(0, str(REPO / "training"))
    import degraded_sets

    data = hr_dir.parent
    argv = [
        "--data",
        str(data),
        "--sets",
        hr_dir.name,
        "--levels",
        "mild",
        "--root",
        str(tmp_path),
        "--seed",
        "5",
    ]
    assert degraded_sets.main(argv) == 0
    out = tmp_path / f"{hr_dir.name}_mild"
    assert "made (3 files)" in capsys.readouterr().out
    assert degraded_sets.main(argv) == 0
    assert "kept (all 3 files match the manifest)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="other knobs or another seed; not overwritten"):
        degraded_sets.main([*argv[:-1], "6"])
    (out / "im0.png").write_bytes(b"changed")
    with pytest.raises(SystemExit, match="1 file\\(s\\) differ from its manifest, e.g. im0.png"):
        degraded_sets.main(argv)
